"""Generate adversarial DocVQA/InfoVQA ANLS cases and record the OFFICIAL scores.

    python tests/golden/build/record_anls_goldens.py <QwenLM/Qwen-VL checkout> \
        --python <interpreter> [--out tests/golden/anls_docvqa.json]

The official code is docvqa.org's standalone evaluation script (`infographicsVQA_eval.py`,
"This file can be downloaded from: https://www.docvqa.org/datasets/infographicvqa"), used as
vendored unmodified in Qwen-VL at `eval_mm/infographicsvqa_eval.py`. It runs as its own CLI,
`python infographicsvqa_eval.py -g <gt.json> -s <submission.json> -o <dir>`, on generated
official-format files (gt: `{"dataset_name", "dataset_version", "data": [{"questionId",
"question", "answers"}]}`; submission: `[{"questionId", "answer"}]`); per-question scores are
read from `<dir>/results.json` (`per_sample_result[qid].score`), set scores from
`result.score`. Nothing of the official code is copied here.
"""
from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

SEED = 20250321
NUM_CASES = 1500
SET_SIZES = (1, 7, 40, 113, 250, 400)
SCRIPT = Path("eval_mm") / "infographicsvqa_eval.py"

ANSWERS = [
    "yes", "no", "Paris", "New York", "1997", "$1,234.56", "12%", "3.5 million", "10:30 a.m.",
    "Dr. John Smith", "R. J. Reynolds Tobacco Company", "ITC", "0.5", "-12", "n/a", "Table 2",
    "01/02/1998", "March 3, 1987", "CONFIDENTIAL", "e-mail", "A", "ab", "abc", "abcd",
    "straße", "STRASSE", "ﬁnance", "İstanbul", "ΟΔΟΣ", "北京大学", "東京タワー", "١٢", "３",
    "naïve café", "x\u00a0y", "  padded answer  ", "tab\tinside", "two  spaces", "", " ",
    "a very long answer that goes on for quite a while", "Q4 2016 revenue", "mg/dl", "90/60",
]
WHITESPACE = [" ", "  ", "\t", "\n", "\u3000", "\u00a0", " \n ", "\r\n"]
ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,-$%ßﬁİΣ北京"


def edit(text: str, count: int, rng: random.Random) -> str:
    """Apply `count` random single-character edits (insert, delete, substitute)."""
    chars = list(text)
    for _ in range(count):
        kind = rng.randrange(3)
        if kind == 0 or not chars:
            chars.insert(rng.randint(0, len(chars)), rng.choice(ALPHABET))
        elif kind == 1:
            del chars[rng.randrange(len(chars))]
        else:
            chars[rng.randrange(len(chars))] = rng.choice(ALPHABET)
    return "".join(chars)


def near_threshold(answer: str, rng: random.Random) -> str:
    """Edits around half the answer's length, so the score lands next to 0.5."""
    length = max(1, len(answer))
    count = max(0, length // 2 + rng.choice([-2, -1, 0, 0, 1, 2]))
    return edit(answer, count, rng)


def mutate(answer: str, rng: random.Random) -> str:
    kind = rng.randrange(14)
    if kind == 0:
        return answer
    if kind == 1:
        return answer.upper()
    if kind == 2:
        return answer.lower()
    if kind == 3:
        return rng.choice(WHITESPACE) + answer + rng.choice(WHITESPACE)
    if kind == 4:
        return answer.replace(" ", rng.choice(WHITESPACE))
    if kind == 5:
        return edit(answer, rng.randint(1, 3), rng)
    if kind in (6, 7, 8):
        return near_threshold(answer, rng)
    if kind == 9:
        return answer + rng.choice([".", "!", " .", ",", "?"])
    if kind == 10:
        return "The answer is " + answer
    if kind == 11:
        return answer[: max(0, len(answer) // 2)]
    if kind == 12:
        return rng.choice(["", " ", "\n", "\t", "none", "N/A", "I cannot tell."])
    return rng.choice(ANSWERS)


def make_case(rng: random.Random) -> tuple[str, list[str]]:
    base = rng.choice(ANSWERS)
    shape = rng.randrange(5)
    if shape <= 1:
        answers = [base]
    elif shape == 2:
        answers = [base, mutate(base, rng)]
    elif shape == 3:
        answers = [base] + [mutate(base, rng) for _ in range(rng.randint(2, 4))]
    else:
        answers = [base, rng.choice(ANSWERS), rng.choice(ANSWERS)]
    rng.shuffle(answers)
    prediction = mutate(rng.choice(answers), rng)
    if rng.random() < 0.2:      # pad the raw length: the denominator counts raw characters
        prediction = rng.choice(WHITESPACE) * rng.randint(1, 6) + prediction
    return prediction, answers


def make_cases(count: int, seed: int) -> list[tuple[str, list[str]]]:
    rng = random.Random(seed)
    return [make_case(rng) for _ in range(count)]


def run_official(cases, checkout: Path, python: str, work: Path) -> dict:
    gt = {"dataset_name": "docvqa", "dataset_version": "1.0",
          "data": [{"questionId": i + 1, "question": "q?", "answers": answers}
                   for i, (_, answers) in enumerate(cases)]}
    submission = [{"questionId": i + 1, "answer": prediction}
                  for i, (prediction, _) in enumerate(cases)]
    work.mkdir(parents=True)
    (work / "gt.json").write_text(json.dumps(gt), encoding="utf-8")
    (work / "submission.json").write_text(json.dumps(submission), encoding="utf-8")
    subprocess.run([python, str(checkout / SCRIPT), "-g", str(work / "gt.json"),
                    "-s", str(work / "submission.json"), "-o", str(work / "out")],
                   check=True, stdout=subprocess.DEVNULL)
    return json.loads((work / "out" / "results.json").read_text(encoding="utf-8"))


def git_commit(path: Path) -> str | None:
    try:
        return subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], check=True,
                              capture_output=True, text=True).stdout.strip()
    except (subprocess.CalledProcessError, FileNotFoundError):
        return None


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkout", type=Path, help="a QwenLM/Qwen-VL checkout")
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--commit", default=None, help="the checkout's commit, if not a git tree")
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).resolve().parent.parent / "anls_docvqa.json")
    args = parser.parse_args(argv)
    interpreter = subprocess.run([args.python, "--version"], capture_output=True,
                                 text=True).stdout.strip()
    cases = make_cases(NUM_CASES, SEED)
    with tempfile.TemporaryDirectory() as tmp:
        results = run_official(cases, args.checkout, args.python, Path(tmp) / "all")
        per_sample = results["per_sample_result"]
        scores = [per_sample[str(i + 1)]["score"] for i in range(len(cases))]
        sets, start = [], 0
        for number, size in enumerate(SET_SIZES):
            chunk = cases[start:start + size]
            overall = run_official(chunk, args.checkout, args.python,
                                   Path(tmp) / f"set{number}")["result"]["score"]
            sets.append({"cases": [start, start + size], "anls": overall})
            start += size
    source = {"repo": "QwenLM/Qwen-VL", "commit": args.commit or git_commit(args.checkout),
              "file": str(SCRIPT), "origin": "docvqa.org / RRC infographicsVQA_eval.py",
              "entry": "python infographicsvqa_eval.py -g gt.json -s submission.json -o out; "
                       "results.json per_sample_result[qid].score and result.score",
              "interpreter": interpreter, "seed": SEED}
    data = {"source": source, "cases": [[p, a, s] for (p, a), s in zip(cases, scores)],
            "sets": sets}
    args.out.write_text(json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n",
                        encoding="utf-8")
    print(f"anls: {len(cases)} cases, mean {sum(scores) / len(scores):.4f}, "
          f"{len(sets)} sets -> {args.out}")


if __name__ == "__main__":
    main()
