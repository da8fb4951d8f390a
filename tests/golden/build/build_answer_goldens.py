"""Generate adversarial VQA v2 / TextVQA cases and record the OFFICIAL per-case scores.

    python tests/golden/build/build_answer_goldens.py \
        --vqa-head <GT-Vision-Lab/VQA checkout at a013f00> \
        --vqa-pre  <GT-Vision-Lab/VQA checkout at a4f1afd (the parent of a013f00)> \
        --mmf      <facebookresearch/mmf checkout> \
        --python2  <a Python 2.7 interpreter> [--out tests/golden]

The official code is run unmodified, through its own entry points:
- vqaEval.py: the `VQA` helper loads generated question/annotation files, `VQA.loadRes` a
  generated result file, `VQAEval(vqa, res, n=10).evaluate()` scores them; per-case scores
  are read from `VQAEval.evalQA` (percent, rounded to 10 places). It is Python 2 code, so it
  runs under a Python 2.7 interpreter (a small driver written here, below, imports it).
- MMF's mmf/utils/m4c_evaluators.py is loaded as a single module file (it imports only `re`)
  and `TextVQAAccuracyEvaluator().eval_pred_list([{"pred_answer", "gt_answers"}])` scores
  one case at a time (it needs exactly ten answers).
Nothing of the official code is copied; this file only writes inputs and reads outputs.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

SEED = 20240611
NUM_CASES = 3000

# Building blocks chosen to hit every step of the official processors.
WORDS = [
    "yes", "no", "dog", "a dog", "the dog", "an apple", "apple", "two", "2", "ten", "10",
    "none", "zero", "0", "one", "1", "eleven", "t-shirt", "t shirt", "tshirt", "don't", "dont",
    "isn't", "isnt", "cant", "can't", "it's", "its", "it is", "man's", "mans", "man 's",
    "mcdonald's", "o'clock", "oclock", "'ow'sat", "'ows'at", "ow's'at", "somebody'd",
    "somebodyd", "yall", "y'all", "Im", "I'm", "Ive", "Id've", "3.5", "3. 5", "3 .5", ".5",
    "5.", "2.0", "1,000", "1000", "1, 000", "10,000 dollars", "10:30", "mr. smith", "mr smith",
    "u.s.a.", "usa", "e.g.", "e. coli", "no.1", "no. 1", "#1", "$5", "5$", "50%", "(a)", "a",
    "an", "the", "(b)", "b", "red/white", "red white", "red, white", "red,white", "a;b",
    "[1]", "{x}", "\"quoted\"", "quoted", "back\\slash", "`tick`", "what?", "what", "ok!",
    "ok", "@home", "home", "<b>", "x_y", "x y", "a-b-c", "a = b", "a+b", "1 , 2", "1,2",
    "12", "3.14.15", "...", "....", "?", "!", "-", "rock 'n' roll", "café", "cafe", "naïve",
    "ÉCOLE", "école", "straße", "STRASSE", "日本", "東京タワー", "١٢", "３", "٣.٥", "İstanbul",
    "ǅemal", "Ωmega", "ΟΔΟΣ", "Ꭰ", "x\u180ey", "\u180e", "ﬁsh", "fish", "white and red", "left", "right", "Left ", "2 dogs",
    "two dogs", "three", "3", "four.", "4", "stop sign", "stop", "STOP", "Stop.",
]
PUNCT = list(";/[]\"{}()=+\\_-><@`,?!.") + [". ", " .", ",", "'", "'s", "...", ":"]
SPACES = [" ", "  ", "\n", "\t", " \n", "\t ", "\u00a0", "\u3000", "\r", "\x0b"]
ARTICLES = ["a ", "an ", "the ", "A ", "The ", "THE "]


def _many_periods(rng: random.Random) -> str:
    """Text with 20..45 periods, so that the 32-replacement cap shows."""
    unit = rng.choice(["a.", ".", "b. ", "1.", ".x", "..", "c.d"])
    return unit * rng.randint(20, 45) + rng.choice(["", "end", "2", ".5"])


def mutate(text: str, rng: random.Random) -> str:
    kind = rng.randrange(12)
    if kind == 0:
        return text.upper()
    if kind == 1:
        return text.capitalize() if rng.random() < 0.5 else text.title()
    if kind == 2:
        return rng.choice(SPACES) + text + rng.choice(SPACES)
    if kind == 3:
        return text + rng.choice(PUNCT)
    if kind == 4:
        return rng.choice(PUNCT) + text
    if kind == 5:
        return rng.choice(ARTICLES) + text
    if kind == 6:
        position = rng.randint(0, len(text))
        return text[:position] + rng.choice(PUNCT + SPACES) + text[position:]
    if kind == 7:
        return text.replace("'", "")
    if kind == 8:
        return text.replace(" ", rng.choice(SPACES))
    if kind == 9:
        return text + " " + rng.choice(WORDS)
    if kind == 10:
        return rng.choice(["", " ", "\n", "\t", ".", "a", "the"])
    return text


def draw_answer(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.03:
        return _many_periods(rng)
    text = rng.choice(WORDS)
    for _ in range(rng.choice([0, 0, 1, 1, 2])):
        text = mutate(text, rng)
    return text


def make_case(rng: random.Random) -> tuple[str, list[str]]:
    """A prediction and ten reference answers."""
    shape = rng.randrange(6)
    base = draw_answer(rng)
    if shape == 0:       # ten identical answers
        answers = [base] * 10
    elif shape == 1:     # identical up to surrounding whitespace / newlines
        answers = [rng.choice(["", " ", "\n", "\t"]) + base + rng.choice(["", " ", "\n"])
                   for _ in range(10)]
    elif shape == 2:     # k copies of one answer, the rest variants of it
        k = rng.randint(0, 10)
        answers = [base] * k + [mutate(base, rng) for _ in range(10 - k)]
    elif shape == 3:     # variants of one answer only
        answers = [mutate(base, rng) for _ in range(10)]
    elif shape == 4:     # unrelated answers
        answers = [draw_answer(rng) for _ in range(10)]
    else:                # two clusters
        other = draw_answer(rng)
        k = rng.randint(1, 9)
        answers = [base] * k + [rng.choice([other, mutate(other, rng)]) for _ in range(10 - k)]
    rng.shuffle(answers)
    pick = rng.random()
    if pick < 0.35:
        prediction = rng.choice(answers)
    elif pick < 0.75:
        prediction = mutate(rng.choice(answers), rng)
    elif pick < 0.9:
        prediction = draw_answer(rng)
    else:
        prediction = rng.choice(["", " ", "\n", "\t", "a", "the", "(a)", ".", "none"])
    return prediction, answers


def make_cases(count: int, seed: int) -> list[tuple[str, list[str]]]:
    rng = random.Random(seed)
    return [make_case(rng) for _ in range(count)]


# Python 2 driver: imports the official VQA helper and evaluator and writes evalQA.
PY2_DRIVER = r"""
import json, sys
root, questions, annotations, results, out = sys.argv[1:6]
sys.path.insert(0, root + '/PythonHelperTools/vqaTools')
sys.path.insert(0, root + '/PythonEvaluationTools')
from vqa import VQA
from vqaEvaluation.vqaEval import VQAEval
vqa = VQA(annotations, questions)
res = vqa.loadRes(results, questions)
evaluator = VQAEval(vqa, res, n=10)
evaluator.evaluate()
json.dump(evaluator.evalQA, open(out, 'w'))
"""


def record_vqa(cases, checkout: Path, python2: str, work: Path) -> list[float]:
    meta = {"info": {}, "task_type": "Open-Ended", "data_type": "mscoco",
            "data_subtype": "val2014", "license": {}}
    questions = dict(meta, questions=[
        {"question_id": i + 1, "image_id": i + 1, "question": "q?"} for i in range(len(cases))])
    annotations = {"annotations": [
        {"question_id": i + 1, "image_id": i + 1, "question_type": "what",
         "answer_type": "other", "multiple_choice_answer": answers[0],
         "answers": [{"answer": a, "answer_confidence": "yes", "answer_id": j + 1}
                     for j, a in enumerate(answers)]}
        for i, (_, answers) in enumerate(cases)]}
    results = [{"question_id": i + 1, "answer": p} for i, (p, _) in enumerate(cases)]
    paths = {name: work / f"{name}.json" for name in ("questions", "annotations", "results")}
    for name, data in (("questions", questions), ("annotations", annotations),
                       ("results", results)):
        paths[name].write_text(json.dumps(data), encoding="utf-8")
    driver = work / "driver_py2.py"
    driver.write_text(PY2_DRIVER)
    out = work / "evalQA.json"
    subprocess.run([python2, str(driver), str(checkout), str(paths["questions"]),
                    str(paths["annotations"]), str(paths["results"]), str(out)],
                   check=True, stdout=subprocess.DEVNULL)
    scores = json.loads(out.read_text())
    return [scores[str(i + 1)] / 100.0 for i in range(len(cases))]


def record_textvqa(cases, mmf: Path) -> list[float]:
    spec = importlib.util.spec_from_file_location(
        "m4c_evaluators", mmf / "mmf" / "utils" / "m4c_evaluators.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    evaluator = module.TextVQAAccuracyEvaluator()
    return [evaluator.eval_pred_list([{"pred_answer": p, "gt_answers": a}]) for p, a in cases]


def git_commit(path: Path) -> str | None:
    try:
        return subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], check=True,
                              capture_output=True, text=True).stdout.strip()
    except (subprocess.CalledProcessError, FileNotFoundError):
        return None


def write(path: Path, source: dict, cases, scores) -> None:
    data = {"source": source,
            "cases": [[p, a, s] for (p, a), s in zip(cases, scores)]}
    path.write_text(json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n",
                    encoding="utf-8")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--vqa-head", type=Path, required=True)
    parser.add_argument("--vqa-pre", type=Path, required=True)
    parser.add_argument("--mmf", type=Path, required=True)
    parser.add_argument("--python2", default="python2")
    parser.add_argument("--vqa-head-commit", default="a013f0043c1e2cdc995922dfe257f7149aa9af06")
    parser.add_argument("--vqa-pre-commit", default="a4f1afd59cfda2f1a7f7f720f40bfea2e338c6ad")
    parser.add_argument("--mmf-commit", default=None)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent)
    args = parser.parse_args(argv)
    python2_version = subprocess.run([args.python2, "--version"], capture_output=True,
                                     text=True).stderr.strip()
    vqa_cases = make_cases(NUM_CASES, SEED)
    textvqa_cases = make_cases(NUM_CASES, SEED + 1)
    with tempfile.TemporaryDirectory() as tmp:
        for variant, checkout, commit in (("current", args.vqa_head, args.vqa_head_commit),
                                          ("pre2021", args.vqa_pre, args.vqa_pre_commit)):
            work = Path(tmp) / variant
            work.mkdir()
            scores = record_vqa(vqa_cases, checkout, args.python2, work)
            write(args.out / f"vqav2_{variant}.json",
                  {"repo": "GT-Vision-Lab/VQA", "commit": commit,
                   "file": "PythonEvaluationTools/vqaEvaluation/vqaEval.py",
                   "entry": "VQA(ann, ques).loadRes(res, ques); VQAEval(vqa, res, n=10).evaluate(); evalQA / 100",
                   "interpreter": python2_version, "seed": SEED},
                  vqa_cases, scores)
            print(f"vqav2 {variant}: {len(scores)} cases, mean {sum(scores) / len(scores):.4f}")
    scores = record_textvqa(textvqa_cases, args.mmf)
    write(args.out / "textvqa_mmf.json",
          {"repo": "facebookresearch/mmf", "commit": args.mmf_commit or git_commit(args.mmf),
           "file": "mmf/utils/m4c_evaluators.py",
           "entry": "TextVQAAccuracyEvaluator().eval_pred_list([{pred_answer, gt_answers}])",
           "interpreter": f"Python {sys.version.split()[0]}", "seed": SEED + 1},
          textvqa_cases, scores)
    print(f"textvqa: {len(scores)} cases, mean {sum(scores) / len(scores):.4f}")


if __name__ == "__main__":
    main()
