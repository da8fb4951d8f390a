"""Record the question text Video-Bench's OFFICIAL evaluation loop builds, for 2..6 options.

    python tests/golden/build/record_videobench_prompts.py <PKU-YuanGroup/Video-Bench checkout> \
        [--out tests/golden/videobench_prompts.json]

The loop is published as the Python block under "Step1: Chat with your own model" in the
repository's README.md. This script runs that block unmodified (exec) on a generated
`Eval_QA/MSVD_QA_new.json`; the names the block leaves to the user (`ask`, `model`,
`tokenizer`, `image_processor`, and `traceback`, which it uses without importing) are
supplied as globals, `ask` returning a fixed string. The `question` field of the
`<Subset>_eval.json` it writes is the prompt text the model receives.
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path

QUESTIONS = ["What is the man doing?", "How many people appear in the video", "Which one is true? ",
             "Why did the car stop?\n", "描述视频中的动作。"]
OPTIONS = ["the baby is crawling", "A dog runs.", "two", "He is 3.5 m tall", "None of the above",
           "café au lait", "B", "the one on the left (red)", "yes", "no", "42"]


def make_items() -> dict:
    items, number = {}, 0
    for count in range(2, 7):
        for variant in range(3):
            number += 1
            letters = "ABCDEF"[:count]
            start = (number * 3 + variant) % len(OPTIONS)
            choices = {letter: OPTIONS[(start + i) % len(OPTIONS)] for i, letter in enumerate(letters)}
            items[f"q{number}"] = {"vid_path": f"videos/v{number}.mp4", "video_id": f"v{number}",
                                   "question": QUESTIONS[(number + variant) % len(QUESTIONS)],
                                   "choices": choices}
    return items


def loop_source(readme: str) -> str:
    after = readme.split("Step1", 1)[1]
    return re.search(r"```python\n(.*?)```", after, re.S).group(1)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkout", type=Path)
    parser.add_argument("--commit", default=None, help="the checkout's commit, if not a git tree")
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).resolve().parent.parent / "videobench_prompts.json")
    args = parser.parse_args(argv)
    source = loop_source((args.checkout / "README.md").read_text(encoding="utf-8"))
    items = make_items()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "Eval_QA").mkdir()
        (root / "Eval_QA" / "MSVD_QA_new.json").write_text(json.dumps(items), encoding="utf-8")
        out = root / "Chat_results"
        argv_before = sys.argv
        sys.argv = ["step1", "--dataset_name", "MSVD", "--Eval_QA_root", str(root),
                    "--Eval_Video_root", str(root), "--chat_conversation_output_folder", str(out)]
        try:
            exec(compile(source, "Video-Bench README.md Step1", "exec"),
                 {"__name__": "__main__", "traceback": traceback, "model": None,
                  "tokenizer": None, "image_processor": None,
                  "ask": lambda *a, **k: ("ANSWER", None)})
        finally:
            sys.argv = argv_before
        produced = json.loads((out / "MSVD_eval.json").read_text(encoding="utf-8"))
    commit = args.commit
    try:
        commit = commit or subprocess.run(["git", "-C", str(args.checkout), "rev-parse", "HEAD"],
                                capture_output=True, text=True, check=True).stdout.strip()
    except (subprocess.CalledProcessError, FileNotFoundError):
        commit = None
    cases = [{"question_id": qid, "question": item["question"], "choices": item["choices"],
              "prompt": produced[qid]["question"]} for qid, item in items.items()]
    assert len(cases) == len(produced) == 15
    args.out.write_text(json.dumps({"source": {"repo": "PKU-YuanGroup/Video-Bench",
                                               "commit": commit,
                                               "file": "README.md (Step1 evaluation loop)"},
                                    "cases": cases}, ensure_ascii=False, indent=0) + "\n",
                        encoding="utf-8")
    print(f"{len(cases)} prompts written to {args.out}")


if __name__ == "__main__":
    main()
