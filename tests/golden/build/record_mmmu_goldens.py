"""Generate adversarial MMMU responses and record what MMMU's OWN evaluation code makes of them.

    python tests/golden/build/record_mmmu_goldens.py <MMMU-Benchmark/MMMU checkout> \
        --python <interpreter with numpy, e.g. CPython 3.10 + numpy 1.26> [--out tests/golden]

The official code is run unmodified, from the checkout's `mmmu/` folder:
1. `main_parse_and_eval.py --path <folder> --subject ALL` (its documented entry point), once per
   split, over generated `<Subject>/output.json` files in the layout its README gives; the
   per-sample `parsed_pred` and `judge` are read back from the `parsed_output.json` it writes, and
   its `result.json` per subject. Its random guesses for unreadable answers come from the
   `random.seed(42)` that `utils/eval_utils.py` runs on import, drawn in its own visiting order.
2. `main_eval_only.py --output_path --answer_path` over the same split (multiple-choice answers
   given as the letters step 1 parsed, open answers raw), whose printed table is the report.
3. A small driver, written below, imports `utils.eval_utils` and calls
   `parse_multi_choice_response` once per multiple-choice case to see whether the official code
   had to guess: the module-level generator's state changes only when `random.choice` is drawn.
Nothing of the official code is copied; this file only writes inputs and reads outputs.
"""
from __future__ import annotations

import argparse
import ast
import json
import random
import subprocess
import tempfile
from pathlib import Path

SEED = 20240621
MC_CASES = 1400
OPEN_CASES = 1000
SPLITS = ("validation", "dev")
SUBJECTS = (  # CAT_SHORT2LONG values, so every subject folder exists
    "Accounting", "Agriculture", "Architecture_and_Engineering", "Art", "Art_Theory",
    "Basic_Medical_Science", "Biology", "Chemistry", "Clinical_Medicine", "Computer_Science",
    "Design", "Diagnostics_and_Laboratory_Medicine", "Economics", "Electronics",
    "Energy_and_Power", "Finance", "Geography", "History", "Literature", "Manage", "Marketing",
    "Materials", "Math", "Mechanical_Engineering", "Music", "Pharmacy", "Physics", "Psychology",
    "Public_Health", "Sociology",
)

OPTION_TEXTS = [
    "75 + 13.3 cos(250t - 57.7°)V", "75 + 23.3 cos(250t - 57.7°)V", "$2,000", "$20,000",
    "2000", "12%", "1.2e-3 m", "A", "B", "a", "None of the above", "All of the above",
    "Both (A) and (B)", "option C", "red", "dark red", "the red car", "red car", "cat", "Cat",
    "a cat", "dog", "0.5", "1/2", "50%", "0", "-3", "3", "30", "3.0", "yes", "no", "Yes", "No",
    "mitochondria", "The mitochondria", "巴洛克", "文艺复兴", "光合作用", "<image 1>", "<image 2>",
    "Increase", "Decrease", "No change", "It increases, then decreases.", "is", "so",
    "The answer is A", "(A)", "I", "II", "III", "I and II", "Renaissance", "Baroque",
    "Impressionism", "Cubism", "photosynthesis", "osmosis", "diffusion", "", " ", "x = 3",
    "Monet's Water Lilies", "don't know", "Ω", "μm", "10 μm", "α-helix", "β-sheet",
]
LETTER_FORMS = [
    "{L}", "({L})", "{L}.", "{L})", "{L}:", "{l}", "({l})", "[{L}]", "**{L}**", "{{{L}}}",
    "Answer: {L}", "The answer is {L}.", "The answer is ({L}).", "answer is {L}", "Option {L}",
    "I think it is {L}", "{L} is correct", "({L}) {T}", "{L}. {T}", "{L}: {T}", "'{L}'",
    "\"{L}\"", "{L}\n", "\n{L}", " {L} ", "\t{L}", "{L},", ",{L}", ".{L}.", "!{L}?", ";{L};",
    "'.{L}", "{L}'.", "The correct choice is ({L}) because {T} fits.", "选{L}", "答案是{L}",
    "答案：({L})", "{L}{L}", "{L}/{M}", "{L} or {M}", "({L}) or ({M})", "({L}) and then ({M})",
    "{L} and {M}", "{L}, {M}", "not {L} but {M}", "({M}) is wrong; ({L}) is right",
    "{L} {M} {L}", "A man walks a dog", "I am not sure", "The image shows {T}",
    "After careful analysis of the diagram, the best match is {T} for this question",
    "I believe the correct option here must be {T}, not {U}, given the context",
    "Considering {T} and {U} and the figure, I would pick {U} in the end",
    "{T}", "{T}.", "The answer is {T}", "the answer is clearly {T} in this specific case",
]
FILLERS = [
    "", " ", "\n", "Let's think step by step.", "Looking at the image,",
    "First, compute the total. Then compare.", "Based on the figure", "Hmm.",
    "This is a long answer that rambles on about many unrelated things, for a while,",
]

OPEN_GOLDS = [
    "1.06", "1/64", "12.97", "6.5", "24.32", "4", "5", "8", "60", "253.75", "251", "0.5",
    "-3", "1,000", "1000", "3e5", "3.0e5", "50%", "50", ".5", "0", "100000", "2,500,000",
    "Transformation", "C", "a", "MgS", "$MgS$", "trans-1-Chloro-4-methylcyclohexane", "Tampa",
    "Florida", "24/7", "3.429", "yes", "no", "NaN", "inf", "1_000", "١٢", "12", "Ω", "π",
    "south", "mitochondria", "x", "the Renaissance", "  7  ", "0.125", "2.345", "2.355",
    "1e-3", "-0.25", "13.3",
]
OPEN_LIST_GOLDS = [["$MgS$", "MgS"], ["Tampa", "Florida"], ["24/7", "3.429"], ["5", "five"],
                   ["0.5", "1/2"], ["C", "c"], []]
OPEN_FORMS = [
    "{G}", "{G}.", " {G} ", "{G}\n", "The answer is {G}.", "The answer is {G}", "answer: {G}",
    "So the result is {G}", "Therefore, {G}", "Thus {G} is the final answer",
    "x = {G}", "x={G}", "= {G}", "The value could be {G} or {H}", "It is {G} units",
    "{G} m/s", "{G}%", "approximately {G} dollars", "${G}", "{G} and {H}",
    "Step 1: compute.\nStep 2: so {H}\nFinal answer: {G}", "First {H}. Then {G}.",
    "The Answer Is {G}. It Is Correct.", "is {G} is {H}", "the result is .", "so :",
    "answer is ?", "Final answer is {G}!", "FINAL ANSWER {G}", "{G}{G}", "-{G}", "{G}0",
    "{G},000", "{G} x 10^3", "{G}e2", "{G}E-2", "value = {G} = {H}", "", " ", "\n\n", ".",
    "I don't know", "nan", "inf", "Infinity", "1_000", "١٢", "{G} {G}", "abc{G}def",
    "The answer is {G}\nThe answer is {H}", "so\n{G}", "is {G}\nresult {H}", "{G}.{H}",
    "The speed is 3.5 m/s. So the answer is {G}.", "12,34 or 1,234,56 or {G}",
    "-.5 and .5 and 5.", "2.0e+3 vs 2e3", "around 1,000.5 or {G}",
]
EXTRA_NUMBERS = ["1.06", "3.5", "2,000", "-4", "0.125", "1e3", "7", "12.970", "50", "1.064",
                 "1.055", "24.325", "13.30", "0.50"]


def _options(rng: random.Random) -> list[str]:
    count = rng.choice([2, 3, 4, 4, 4, 4, 5, 5, 6, 7, 9])
    return [rng.choice(OPTION_TEXTS) for _ in range(count)]


def make_mc_case(rng: random.Random) -> dict:
    options = _options(rng)
    letters = [chr(ord("A") + i) for i in range(len(options))]
    index2ans = dict(zip(letters, options))
    answer = rng.choice(letters)
    # several correct letters are rare in MMMU but the official comparison accepts a list
    gold = [answer, rng.choice(letters)] if rng.random() < 0.04 else answer
    pick = rng.choice(letters + ["E", "F", "Z", "a", "b"])
    other = rng.choice(letters)
    shape = rng.random()
    if shape < 0.08:
        response = rng.choice(["", " ", "\n", ".", "?", "'", "N/A", "none", "I cannot tell.",
                               "(Z)", "The image is unclear, so I can't answer this one."])
    else:
        form = rng.choice(LETTER_FORMS)
        response = form.format(L=pick, l=pick.lower(), M=other,
                               T=index2ans.get(pick, rng.choice(options)),
                               U=index2ans[other])
        if rng.random() < 0.3:
            response = rng.choice(FILLERS) + " " + response
        if rng.random() < 0.2:
            response = response + " " + rng.choice(FILLERS)
        if rng.random() < 0.1:
            response = response.upper() if rng.random() < 0.5 else response.lower()
    return {"question_type": "multiple-choice", "answer": gold, "response": response,
            "all_choices": letters, "index2ans": index2ans}


def make_open_case(rng: random.Random) -> dict:
    roll = rng.random()
    gold = rng.choice(OPEN_LIST_GOLDS) if roll < 0.08 else rng.choice(OPEN_GOLDS)
    golds = gold if isinstance(gold, list) else [gold]
    g = rng.choice(golds) if golds and rng.random() < 0.7 else rng.choice(OPEN_GOLDS)
    h = rng.choice(EXTRA_NUMBERS + OPEN_GOLDS)
    if rng.random() < 0.3:  # a near miss: rounding, case, separators
        g = rng.choice([g.upper(), g.lower(), g + "0", g.replace(".", ","), g.strip("$"),
                        g.replace(",", ""), g + "1", " " + g])
    response = rng.choice(OPEN_FORMS).format(G=g, H=h)
    if rng.random() < 0.15:
        response = rng.choice(FILLERS) + " " + response
    return {"question_type": rng.choice(["short-answer", "open"]), "answer": gold,
            "response": response}


def make_cases(seed: int) -> list[dict]:
    rng = random.Random(seed)
    cases = [make_mc_case(rng) for _ in range(MC_CASES)]
    cases += [make_open_case(rng) for _ in range(OPEN_CASES)]
    rng.shuffle(cases)
    # ids as the official files name them, "<split>_<Subject>_<n>", n counting from 1 per subject
    counters: dict[tuple[str, str], int] = {}
    for case in cases:
        split = SPLITS[0] if rng.random() < 0.75 else SPLITS[1]
        subject = rng.choice(SUBJECTS)
        counters[split, subject] = counters.get((split, subject), 0) + 1
        case["id"] = f"{split}_{subject}_{counters[split, subject]}"
    return cases


GUESS_DRIVER = r"""
import json, random, sys
sys.path.insert(0, sys.argv[1])
from utils.eval_utils import parse_multi_choice_response
cases = json.load(open(sys.argv[2]))
guessed = {}
for case in cases:
    if case['question_type'] != 'multiple-choice':
        continue
    before = random.getstate()
    parse_multi_choice_response(case['response'], case['all_choices'], case['index2ans'])
    guessed[case['id']] = random.getstate() != before
json.dump(guessed, open(sys.argv[3], 'w'))
"""


def _output_entry(case: dict) -> dict:
    entry = {key: case[key] for key in ("id", "question_type", "answer")}
    if case["question_type"] == "multiple-choice":
        entry["all_choices"] = case["all_choices"]
        entry["index2ans"] = case["index2ans"]
    entry["response"] = case["response"]
    return entry


def _number(case: dict) -> int:
    return int(case["id"].rsplit("_", 1)[1])


def run_split(mmmu: Path, python: str, cases: list[dict], work: Path) -> dict:
    """Run main_parse_and_eval.py and main_eval_only.py on one split's cases."""
    folder = work / "outputs"
    by_subject: dict[str, list[dict]] = {}
    for case in sorted(cases, key=_number):  # dataset order within a subject
        by_subject.setdefault("_".join(case["id"].split("_")[1:-1]), []).append(case)
    for subject, subject_cases in by_subject.items():
        (folder / subject).mkdir(parents=True)
        (folder / subject / "output.json").write_text(
            json.dumps([_output_entry(c) for c in subject_cases], ensure_ascii=False),
            encoding="utf-8")
    subprocess.run([python, "main_parse_and_eval.py", "--path", str(folder), "--subject", "ALL"],
                   cwd=mmmu, check=True, stdout=subprocess.DEVNULL)
    parsed, results = {}, {}
    for subject in by_subject:
        for row in json.loads((folder / subject / "parsed_output.json").read_text("utf-8")):
            parsed[row["id"]] = row
        results[subject] = json.loads((folder / subject / "result.json").read_text("utf-8"))
    # main_eval_only.py: the letters step 1 parsed, open answers raw; its printed dict
    outputs = {c["id"]: (parsed[c["id"]]["parsed_pred"] if c["question_type"] == "multiple-choice"
                         else c["response"]) for c in cases}
    answers = {c["id"]: {"question_type": c["question_type"], "ground_truth": c["answer"]}
               for c in cases}
    (work / "outputs.json").write_text(json.dumps(outputs, ensure_ascii=False), encoding="utf-8")
    (work / "answers.json").write_text(json.dumps(answers, ensure_ascii=False), encoding="utf-8")
    printed = subprocess.run(
        [python, "main_eval_only.py", "--output_path", str(work / "outputs.json"),
         "--answer_path", str(work / "answers.json")],
        cwd=mmmu, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
    return {"parsed": parsed, "results": results, "report": ast.literal_eval(printed)}


def _canonical(parsed_pred):
    """The open parse is a list made from a set: record it as sorted reprs."""
    if isinstance(parsed_pred, list):
        return sorted(repr(value) for value in parsed_pred)
    return parsed_pred


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkout", type=Path, help="MMMU-Benchmark/MMMU checkout")
    parser.add_argument("--python", required=True, help="interpreter with numpy installed")
    parser.add_argument("--commit", default="bb0b95a945998d91dfef37e969e07d49d1139438")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent)
    args = parser.parse_args(argv)
    mmmu = args.checkout / "mmmu"
    version = subprocess.run([args.python, "-c", "import sys, numpy; print('CPython',"
                              " sys.version.split()[0], '+ numpy', numpy.__version__)"],
                             check=True, capture_output=True, text=True).stdout.strip()
    cases = make_cases(SEED)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "cases.json").write_text(json.dumps(cases, ensure_ascii=False), encoding="utf-8")
        (tmp / "guess.py").write_text(GUESS_DRIVER)
        subprocess.run([args.python, str(tmp / "guess.py"), str(mmmu), str(tmp / "cases.json"),
                        str(tmp / "guessed.json")], check=True)
        guessed = json.loads((tmp / "guessed.json").read_text())
        runs = {}
        for split in SPLITS:
            work = tmp / split
            work.mkdir()
            runs[split] = run_split(mmmu, args.python,
                                    [c for c in cases if c["id"].startswith(split + "_")], work)
    for case in cases:
        row = runs[case["id"].split("_", 1)[0]]["parsed"][case["id"]]
        case["official"] = {"parsed_pred": _canonical(row["parsed_pred"]), "judge": row["judge"]}
        if case["question_type"] == "multiple-choice":
            case["official"]["guessed"] = guessed[case["id"]]
    data = {
        "source": {
            "repo": "MMMU-Benchmark/MMMU", "commit": args.commit,
            "files": ["mmmu/utils/eval_utils.py", "mmmu/main_parse_and_eval.py",
                      "mmmu/main_eval_only.py"],
            "entry": "python main_parse_and_eval.py --path <split folder> --subject ALL "
                     "(per split); python main_eval_only.py (report)",
            "interpreter": version, "seed": SEED,
            "notes": "official.parsed_pred/judge come from the entry point, random guesses "
                     "included (random.seed(42) on import); official.guessed says whether "
                     "parse_multi_choice_response drew random.choice for that response; open "
                     "parses are sorted reprs of the official list",
        },
        "cases": cases,
        "results": {split: runs[split]["results"] for split in SPLITS},
        "reports": {split: runs[split]["report"] for split in SPLITS},
    }
    path = args.out / "mmmu_eval_utils.json"
    path.write_text(json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n",
                    encoding="utf-8")
    mc = [c for c in cases if c["question_type"] == "multiple-choice"]
    print(f"mmmu: {len(mc)} multiple-choice ({sum(c['official']['guessed'] for c in mc)} guessed), "
          f"{len(cases) - len(mc)} open; wrote {path}")


if __name__ == "__main__":
    main()
