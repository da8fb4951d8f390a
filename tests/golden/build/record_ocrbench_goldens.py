"""Generate adversarial OCRBench cases and record the OFFICIAL per-question results and scores.

    python tests/golden/build/record_ocrbench_goldens.py <Yuliang-Liu/MultimodalOCR checkout> \
        --python <interpreter with torch, tqdm, pillow> [--out tests/golden/ocrbench.json]

The official scoring is the block at the end of `OCRBench/example.py`'s `__main__` (from
`for i in range(len(data)):` / `data_type = data[i]["type"]` to the end of the file): it
sets each question's `result`, saves the list with `save_json`, and, when there are exactly
1000 questions, prints the category sums, "Text Recognition" and "Final Score(Total 1000)".
The block cannot be reached by running the script (its first part loads a model and
generates, and the template leaves `response` undefined), so a small driver, written here:
imports `example.py` as a module (its own globals: the score tables, `save_json`, ...; the
`__main__` guard keeps the generation part from running), takes the block's text VERBATIM
from the file, removes its common indentation and `exec`s it in that module's globals with
`data` (generated questions carrying `predict`) and `args` (`output_folder`, `save_name`).
Per-question results are read from the saved JSON, the set scores from what it prints. Each
set has exactly 1000 questions (the other branch divides by the question count of every
dataset of the full test and fails on any OCRBench subset). One process per set, because
the score tables are module globals. Nothing of the official code is copied here.
"""
from __future__ import annotations

import argparse
import json
import random
import re
import subprocess
import sys
import tempfile
from pathlib import Path

SEED = 20250323
NUM_SETS = 3
EXAMPLE = Path("OCRBench") / "example.py"
# (type, dataset_name, questions) as in OCRBench/OCRBench/OCRBench.json: 1000 in all.
LAYOUT = [
    ("Regular Text Recognition", "IIIT5K", 15), ("Regular Text Recognition", "svt", 17),
    ("Regular Text Recognition", "IC13_857", 18),
    ("Irregular Text Recognition", "IC15_1811", 8), ("Irregular Text Recognition", "cocotext", 8),
    ("Irregular Text Recognition", "ct80", 9), ("Irregular Text Recognition", "ctw", 8),
    ("Irregular Text Recognition", "svtp", 9), ("Irregular Text Recognition", "totaltext", 8),
    ("Artistic Text Recognition", "WordArt", 50), ("Handwriting Recognition", "IAM", 50),
    ("Digit String Recognition", "ORAND", 50),
    ("Non-Semantic Text Recognition", "NonSemanticText", 50),
    ("Scene Text-centric VQA", "STVQA", 50), ("Scene Text-centric VQA", "textVQA", 50),
    ("Scene Text-centric VQA", "ocrVQA", 50), ("Scene Text-centric VQA", "ESTVQA", 50),
    ("Doc-oriented VQA", "docVQA", 50), ("Doc-oriented VQA", "infographicVQA", 50),
    ("Doc-oriented VQA", "ChartQA", 50), ("Doc-oriented VQA", "ChartQA_Human", 50),
    ("Key Information Extraction", "FUNSD", 66), ("Key Information Extraction", "SROIE", 67),
    ("Key Information Extraction", "POIE", 67),
    ("Handwritten Mathematical Expression Recognition", "HME100k", 100),
]
TEXTS = ["CENTRE", "hello", "Café", "STRASSE", "straße", "İstanbul", "0123456789", "3.14",
         "$506 million", "12/05/2019", "TOTAL: 45.60", "Mr. Smith", "北京大学", "东方明珠",
         "abc def", "a\nb", "line one\nline two", "tab\there", "x", "", " ", "  AnSwEr  ",
         "ΟΔΟΣ", "ﬁsh", "nOn SeMaNtIc", "q7zk", "2016", "No. 5", "e-mail"]
LATEX = ["x ^ { 2 } + 1 = 0\n", "x^2+1=0\n", "\\frac { a } { b }\n", "\\frac{a}{b}",
         "y _ { 2 } = - 1\n", "y_2 = - 1\n", "\\sqrt { 2 }", "a\tb", "A + B", "a + b", ""]
FILLER = ["The text in the image is ", "Answer: ", "", "", "I think it says: ", "\n", "  "]


def mutate(text: str, rng: random.Random) -> str:
    kind = rng.randrange(12)
    if kind == 0:
        return text
    if kind == 1:
        return text.upper()
    if kind == 2:
        return text.lower()
    if kind == 3:
        return rng.choice(FILLER) + text + rng.choice(["", ".", " ", "\n", " and more"])
    if kind == 4:
        return text.replace(" ", "")
    if kind == 5:
        return text.replace(" ", "\n")
    if kind == 6:
        return text.replace("\n", " ")
    if kind == 7:
        return " ".join(text)
    if kind == 8:
        return text[: len(text) // 2]
    if kind == 9:
        return text.replace(" ", "\t")
    if kind == 10:
        return rng.choice(["", " ", "\n", "none", "I cannot read it."])
    return rng.choice(TEXTS + LATEX)


def make_item(rng: random.Random, category: str, dataset: str) -> dict:
    pool = LATEX if dataset == "HME100k" else TEXTS
    base = rng.choice(pool)
    shape = rng.randrange(4)
    if dataset == "HME100k" and shape < 3:
        answers = [base, rng.choice(pool)]          # OCRBench's HME answers are 2-item lists
    elif shape == 0:
        answers = base
    elif shape == 1:
        answers = [base]
    elif shape == 2:
        answers = [base, mutate(base, rng)]
    else:
        answers = []                                # the loop then never runs: result 0
    source = answers if isinstance(answers, str) else (rng.choice(answers) if answers else base)
    return {"dataset_name": dataset, "type": category, "question": "q?",
            "answers": answers, "predict": mutate(source, rng)}


def make_set(rng: random.Random) -> list[dict]:
    items = [make_item(rng, category, dataset)
             for category, dataset, count in LAYOUT for _ in range(count)]
    rng.shuffle(items)
    for number, item in enumerate(items):
        item["id"] = number
    return items


DRIVER = r"""
import argparse, contextlib, importlib.util, io, json, sys, textwrap
example, data_file, out_dir = sys.argv[1:4]
spec = importlib.util.spec_from_file_location("ocrbench_example", example)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
source = open(example, encoding="utf-8").read()
main_part = source.split('if __name__=="__main__":\n', 1)[1]
start = main_part.index('    for i in range(len(data)):\n        data_type = data[i]["type"]')
block = textwrap.dedent(main_part[start:])
namespace = vars(module)
namespace["data"] = json.load(open(data_file, encoding="utf-8"))
namespace["args"] = argparse.Namespace(output_folder=out_dir, save_name="scored")
printed = io.StringIO()
with contextlib.redirect_stdout(printed):
    exec(compile(block, example + " (scoring block)", "exec"), namespace)
open(out_dir + "/printed.txt", "w", encoding="utf-8").write(printed.getvalue())
"""

SCORE_LINE = re.compile(r"^(.+?)\(Total \d+\):\s*(\d+)$")


def run_official(items, checkout: Path, python: str, work: Path) -> tuple[list[int], dict]:
    work.mkdir(parents=True)
    (work / "data.json").write_text(json.dumps(items, ensure_ascii=False), encoding="utf-8")
    (work / "driver.py").write_text(DRIVER, encoding="utf-8")
    subprocess.run([python, str(work / "driver.py"), str(checkout / EXAMPLE),
                    str(work / "data.json"), str(work)], check=True)
    scored = json.loads((work / "scored.json").read_text(encoding="utf-8"))
    printed = {}
    for line in (work / "printed.txt").read_text(encoding="utf-8").splitlines():
        match = SCORE_LINE.match(line.strip())
        if match:
            printed[match.group(1).strip()] = int(match.group(2))
    return [item["result"] for item in scored], printed


def git_commit(path: Path) -> str | None:
    try:
        return subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], check=True,
                              capture_output=True, text=True).stdout.strip()
    except (subprocess.CalledProcessError, FileNotFoundError):
        return None


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkout", type=Path, help="a Yuliang-Liu/MultimodalOCR checkout")
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--commit", default=None, help="the checkout's commit, if not a git tree")
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).resolve().parent.parent / "ocrbench.json")
    args = parser.parse_args(argv)
    assert sum(count for _, _, count in LAYOUT) == 1000
    rng = random.Random(SEED)
    cases, sets = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for number in range(NUM_SETS):
            items = make_set(rng)
            results, printed = run_official(items, args.checkout, args.python,
                                            Path(tmp) / f"set{number}")
            sets.append({"cases": [len(cases), len(cases) + len(items)], "official": printed})
            cases += [[item["predict"], item["answers"], item["dataset_name"], item["type"], result]
                      for item, result in zip(items, results)]
    interpreter = subprocess.run([args.python, "--version"], capture_output=True,
                                 text=True).stdout.strip()
    source = {"repo": "Yuliang-Liu/MultimodalOCR", "commit": args.commit or git_commit(args.checkout),
              "file": str(EXAMPLE), "entry": "the __main__ scoring block, exec'd verbatim on "
              "generated data; per-question `result` from the saved JSON, scores as printed",
              "interpreter": interpreter, "seed": SEED}
    args.out.write_text(json.dumps({"source": source, "cases": cases, "sets": sets},
                                   ensure_ascii=False, separators=(",", ":")) + "\n",
                        encoding="utf-8")
    print(f"ocrbench: {len(cases)} cases, {sum(c[-1] for c in cases)} hits; final scores "
          f"{[s['official'].get('Final Score') for s in sets]}")


if __name__ == "__main__":
    main()
