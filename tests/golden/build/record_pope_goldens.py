"""Generate adversarial POPE answers and record what RUCAIBox/POPE's OFFICIAL evaluate.py does.

    python tests/golden/build/record_pope_goldens.py <RUCAIBox/POPE checkout> \
        --python <interpreter> [--out tests/golden/pope.json]

evaluate.py is a flat script whose two paths are empty strings the user fills in
(`ans_file = ''`, `label_file = ''`, as POPE's README says: "specify the ans_file ... and
label_file ... in evaluate.py"). A small driver, written here, does exactly that and nothing
else: it replaces those two assignment lines by the generated files' paths and `exec`s the
script's text, capturing what it prints. Answer files are JSON lines `{"question", "answer"}`,
label files POPE's own `{"question_id", "image", "text", "label"}` lines.

Per answer: the script prints only set metrics, so each answer is run in a set of three,
[the answer, "Yes", "No"] against labels [yes, yes, no]: TP is 2 when the script read the
answer as yes and 1 when it read no (the two anchors keep every division defined).
Per set: generated sets of 20..500 answers with labels; every printed number is recorded,
or the exception the script stops with (a set with no "yes" predicted divides by zero).
Nothing of the official code is copied here.
"""
from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

SEED = 20250325
NUM_ANSWERS = 900
SET_SIZES = (20, 37, 100, 150, 250, 333, 500, 64, 12)
ANSWERS = [
    "Yes", "No", "yes", "no", "YES", "NO", "Yes.", "No.", "Yes, there is a dog in the image.",
    "No, there is no dog in the image.", "There is no dog.", "There is not a dog.",
    "There isn't a dog.", "Not really", "not", "Not", "NOT", "no.", "no,", "no!", "no?", "no;",
    "(no)", "No\nthere is", "no\tdog", "Yes, but no", "Yes but no", "Yes. No", "No. Yes",
    "Yes, there is. No wait", "I don't know.", "I cannot tell", "None", "none", "nothing",
    "Nope", "nope", "", " ", ".", "No,", ",no", "no,no", "no, no", "3.5 no", "Mr. No",
    "It is not clear.", "It is not.", "yes. not", "Absolutely.", "Sure, there is one.",
    "没有", "有", "不是", "No。", "Yes\u3002No", "no\u00a0dog", "There is no\u00a0dog",
    "a no b", "a No b", "a not b", "cannot", "notable", "noted", "No-one", "YES NO",
    "no\ndog. yes", "  no  ", " No ", "Yes,no", "Yes ,no", "e.g. no", "...no", "no...",
]


def make_answer(rng: random.Random) -> str:
    answer = rng.choice(ANSWERS)
    roll = rng.random()
    if roll < 0.2:
        answer = answer + rng.choice([" there is a cat.", ", indeed", " not", " no", "."])
    elif roll < 0.3:
        answer = rng.choice(["", " ", "I think ", "So, ", "Well. "]) + answer
    return answer


def write_lines(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows),
                    encoding="utf-8")


DRIVER = r"""
import contextlib, io, json, sys
script, jobs_file, out_file = sys.argv[1:4]
source = open(script, encoding="utf-8").read()
assert source.count("ans_file = ''") == 1 and source.count("label_file = ''") == 1
outputs = []
for answers, labels in json.load(open(jobs_file)):
    filled = source.replace("ans_file = ''", "ans_file = " + repr(answers)).replace(
        "label_file = ''", "label_file = " + repr(labels))
    printed = io.StringIO()
    error = None
    with contextlib.redirect_stdout(printed):
        try:
            exec(compile(filled, script, "exec"), {"__name__": "__main__"})
        except Exception as exc:
            error = type(exc).__name__
    outputs.append({"printed": printed.getvalue(), "error": error})
json.dump(outputs, open(out_file, "w"))
"""


def parse(output: dict) -> dict:
    lines = output["printed"].splitlines()
    result = {}
    if len(lines) >= 2:
        tp, fp, tn, fn = (int(x) for x in lines[1].split("\t"))
        result.update(TP=tp, FP=fp, TN=tn, FN=fn)
    names = {"Accuracy": "accuracy", "Precision": "precision", "Recall": "recall",
             "F1 score": "f1", "Yes ratio": "yes_ratio"}
    for line in lines[2:]:
        name, value = line.split(": ")
        result[names[name]] = float(value)
    if output["error"]:
        result["error"] = output["error"]
    return result


def run_official(jobs, checkout: Path, python: str, work: Path) -> list[dict]:
    paths = []
    for number, (answers, labels) in enumerate(jobs):
        answer_file, label_file = work / f"answers{number}.jsonl", work / f"labels{number}.jsonl"
        write_lines(answer_file, [{"question": "Is there a dog in the image?", "answer": a}
                                  for a in answers])
        write_lines(label_file, [{"question_id": i + 1, "image": "COCO_val2014_000000000001.jpg",
                                  "text": "Is there a dog in the image?", "label": label}
                                 for i, label in enumerate(labels)])
        paths.append([str(answer_file), str(label_file)])
    (work / "jobs.json").write_text(json.dumps(paths))
    (work / "driver.py").write_text(DRIVER, encoding="utf-8")
    subprocess.run([python, str(work / "driver.py"), str(checkout / "evaluate.py"),
                    str(work / "jobs.json"), str(work / "out.json")], check=True)
    return [parse(output) for output in json.loads((work / "out.json").read_text())]


def make_set(size: int, rng: random.Random) -> dict:
    split = rng.choice(["adversarial", "popular", "random"])
    labels = [rng.choice(["yes", "no"]) for _ in range(size)]
    if size == 12:                      # every answer read as no: the script divides by zero
        answers = [rng.choice(["No", "no", "not sure", "There is no dog."]) for _ in labels]
    else:
        answers = [make_answer(rng) for _ in labels]
    return {"split": split, "answers": answers, "labels": labels}


def git_commit(path: Path) -> str | None:
    try:
        return subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], check=True,
                              capture_output=True, text=True).stdout.strip()
    except (subprocess.CalledProcessError, FileNotFoundError):
        return None


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkout", type=Path, help="a RUCAIBox/POPE checkout")
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--commit", default=None, help="the checkout's commit, if not a git tree")
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).resolve().parent.parent / "pope.json")
    args = parser.parse_args(argv)
    rng = random.Random(SEED)
    answers = [make_answer(rng) for _ in range(NUM_ANSWERS)]
    sets = [make_set(size, rng) for size in SET_SIZES]
    jobs = [([answer, "Yes", "No"], ["yes", "yes", "no"]) for answer in answers]
    jobs += [(s["answers"], s["labels"]) for s in sets]
    with tempfile.TemporaryDirectory() as tmp:
        outputs = run_official(jobs, args.checkout, args.python, Path(tmp))
    labels = []
    for answer, output in zip(answers, outputs):
        assert output["TP"] in (1, 2) and output["TP"] + output["FN"] == 2, (answer, output)
        labels.append("yes" if output["TP"] == 2 else "no")
    interpreter = subprocess.run([args.python, "--version"], capture_output=True,
                                 text=True).stdout.strip()
    source = {"repo": "RUCAIBox/POPE", "commit": args.commit or git_commit(args.checkout),
              "file": "evaluate.py", "entry": "the script exec'd with ans_file and label_file "
              "filled in; printed counts and metrics", "interpreter": interpreter, "seed": SEED}
    data = {"source": source, "cases": [[a, label] for a, label in zip(answers, labels)],
            "sets": [dict(s, official=o) for s, o in zip(sets, outputs[len(answers):])]}
    args.out.write_text(json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n",
                        encoding="utf-8")
    print(f"pope: {len(answers)} answers ({labels.count('yes')} yes, {labels.count('no')} no), "
          f"{len(sets)} sets, errors: {[o.get('error') for o in outputs[len(answers):]]}")


if __name__ == "__main__":
    main()
