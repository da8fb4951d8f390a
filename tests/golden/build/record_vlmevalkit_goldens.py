"""Generate adversarial multiple-choice answers and record what VLMEvalKit makes of them.

    python tests/golden/build/record_vlmevalkit_goldens.py \
        --head <open-compass/VLMEvalKit checkout at e8e78f0> --python <its interpreter> \
        --pre2026-06 <checkout at 0bccf45> --pre2025-08 <checkout at c026693> \
        --python-2025 <an interpreter where the 2025 package imports> [--out tests/golden]

The official code is run unmodified (a driver, written below, imports it from the checkout):
1. `vlmeval.utils.can_infer(prediction, choices)`, the rule-based option extraction, once per
   case, at three commits: HEAD (e8e78f0, with the "answer is X" regex of a67ace5, 2026-06-17),
   the parent of a67ace5 (0bccf45: the last-five-words rule and the length cap of c337155,
   2025-08-04) and the parent of c337155 (c026693: the extraction of 2024-02 .. 2025-08).
2. The whole evaluation of HEAD, as `python run.py` does it without a working judge model:
   generated TSV files in the real column layout are put under `$LMUData`, the dataset is built
   with `build_dataset(name)` (its entry in the class's DATASET_MD5 table is removed in memory, so
   the loader takes the generated file instead of downloading the real one), the prediction file
   is written the way `vlmeval/inference.py` writes it (the dataset's rows without `image`, plus
   `prediction`, dumped with `vlmeval.smp.dump` to the default .xlsx), and
   `dataset.evaluate(file, model='exact_matching', nproc=1)` scores it. The per-row (or, for the
   circular MMBench, per-question) `hit` and `log` are read back from the
   `*_exact_matching_result.xlsx` it writes, and the accuracy table from `*_acc.csv`.
Nothing of the official code is copied; this file only writes inputs and reads outputs.
"""
from __future__ import annotations

import argparse
import json
import math
import random
import subprocess
import tempfile
from pathlib import Path

SEED = 20240622
EXTRACTION_CASES = 2400
VARIANTS = {  # name -> commit
    "current": "e8e78f05f3080fe28154f2130321f17951c3be94",
    "pre2026_06": "0bccf4527f5eb4c2d5837a6492e379f4ca1be63f",
    "pre2025_08": "c026693a1cdac9292447eb480579dc2e11fb6f1c",
}
# a 1x1 PNG: every row needs an image, none is looked at
PIXEL = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElF"
         "TkSuQmCC")

EN_OPTIONS = [
    "cat", "dog", "a cat", "the dog", "red", "dark red", "red car", "blue", "Blue", "green",
    "5 cm", "15 cm", "10 cm", "5", "3", "3.0", "0.5", "50%", "1,000", "-2", "yes", "no", "Yes",
    "None of the above", "All of the above", "A", "B", "C", "D", "a", "b", "Z", "nan", "E",
    "increase", "decrease", "no change", "It increases.", "The sun", "the moon", "Earth",
    "photosynthesis", "respiration", "The boy is running", "the girl is reading a book",
    "left", "right", "top left", "bottom right", "Answer", "the answer is A", "(A) cat",
    "north", "south", "Mars", "Jupiter", "solid", "liquid", "gas", "I", "It", "An apple",
    "a long option text that goes on and on describing many things in the picture",
    "mammal", "bird", "insect", "fish", "winter", "summer", "spring", "autumn",
    "A man walking a dog", "weight", "height", "x", "y", "#1", "**bold**", "{x}",
]
CN_OPTIONS = [
    "猫", "狗", "红色", "深红色", "蓝色", "绿色", "是", "否", "以上都不是", "以上都是", "太阳",
    "月亮", "地球", "光合作用", "呼吸作用", "男孩在跑步", "女孩在看书", "左边", "右边", "北方",
    "南方", "固体", "液体", "气体", "哺乳动物", "鸟类", "昆虫", "冬天", "夏天", "春天", "秋天",
    "一个苹果", "A", "B", "5厘米", "15厘米", "3", "增加", "减少", "不变", "快乐", "悲伤",
]
REJECTIONS = [
    "Sorry, I can't help with images of people yet.", "I can't process this file.",
    "I'm sorry, but without the image provided, I cannot answer.",
    "Cannot determine the answer", "Failed to obtain answer via API.",
]
LETTER_FORMS = [
    "{L}", "({L})", "{L}.", "{L})", "{L}:", "{l}", "({l})", "[{L}]", "**{L}**", "{{{L}}}", "#{L}",
    "{L}!", "{L};", "<{L}>", "'{L}'", "\"{L}\"", "{L}、", "{L}。", "（{L}）", "选项{L}", "答案是{L}",
    "答案：{L}", "答案: {L}", "The answer is {L}.", "The answer is ({L}).", "The answer is {l}",
    "The correct answer is **{L}**. Here's why: {T} fits the picture best.",
    "After looking at all the details in the image carefully, the correct answer is {L}",
    "Answer: {L}", "answer is {L}", "ANSWER IS {L}", "{L}. {T}", "({L}) {T}", "{L}: {T}",
    "{L} {T}", "{L}\n{T}", "{L} is correct because {T} is what the image shows clearly here",
    "I think the answer is {L}, though {M} is also possible", "{L} and {M}", "{L}, {M}",
    "{L}/{M}", "{L} or {M}", "({L}) ({M})", "Options {L} {M} and {N} are wrong", "{L}{M}",
    "A cat is sitting on the {T}", "The answer is {L}. Not {M}.", "Not {M}. The answer is {L}",
    "The answer is {M}, no wait, {L}", "Option {L} is the best choice here",
    "Z", "E", "The answer is E", "the answer is: {L}", "correct answer is **{L}**",
    "{L}\n\nExplanation: {T} matches because {U} does not appear anywhere in the scene",
    "Based on the image, {T}", "It is {T}.", "{T}", "{T}.", "{t}", "{T_upper}", "{T} and {U}",
    "Neither {T} nor {U}", "I am not sure.", "", " ", "\n", "nan", "None", "*", "A.B.",
    "The image shows a {T} next to a {U}, and in the background there is a {N_text}; "
    "the question asks about the main object, so the answer should be the {T}",
    "1. {L}\n2. {M}", "Step 1: look. Step 2: think. Final: {L}",
]


def _options(rng: random.Random, count: int, chinese: bool) -> list[str]:
    pool = CN_OPTIONS if chinese else EN_OPTIONS
    if rng.random() < 0.2:  # mixed languages
        pool = CN_OPTIONS + EN_OPTIONS
    options = rng.sample(pool, count)
    return options


def make_prediction(rng: random.Random, choices: dict[str, str], right: str | None) -> str:
    """One answer; `right` (when given) is the letter the answer should mostly point at."""
    letters = list(choices)
    pick = right if right is not None and rng.random() < 0.6 else rng.choice(letters + ["E", "Z"])
    others = [x for x in letters if x != pick] or letters
    other, third = rng.choice(others), rng.choice(letters)
    roll = rng.random()
    if roll < 0.05:
        return rng.choice(REJECTIONS)
    text = choices.get(pick, rng.choice(list(choices.values())))
    form = rng.choice(LETTER_FORMS)
    prediction = form.format(L=pick, l=pick.lower(), M=other, N=third, T=text, t=text.lower(),
                             T_upper=text.upper(), U=choices[other], N_text=choices[third])
    if rng.random() < 0.1:
        prediction = rng.choice(["", " ", "\n", "Let me think. ", "Looking at the image, "]) \
            + prediction
    return prediction


def make_extraction_cases(seed: int) -> list[list]:
    rng = random.Random(seed)
    cases = []
    for _ in range(EXTRACTION_CASES):
        count = rng.choice([2, 3, 4, 4, 4, 5])
        options = _options(rng, count, chinese=rng.random() < 0.3)
        choices = {chr(ord("A") + i): text for i, text in enumerate(options)}
        cases.append([make_prediction(rng, choices, rng.choice(list(choices))), choices])
    return cases


# ----------------------------------------------------------------- the benchmark files
QUESTIONS_EN = ["What is shown in the image?", "Which one is correct?",
                "What does the arrow point to?", "Which season is it?",
                "Which of these is an insect?", "What color is the car?"]
QUESTIONS_CN = ["图中是什么？", "哪个选项是正确的？", "箭头指向什么？", "现在是什么季节？"]
HINTS = ["The picture shows a farm.", "Use the map.", "图中有一只动物。", "Read the label."]
MMB_CATEGORIES = [  # (l2-category, category) as MMBench names them
    ("coarse_perception", "image_scene"), ("coarse_perception", "image_style"),
    ("finegrained_perception (instance-level)", "object_localization"),
    ("finegrained_perception (cross-instance)", "spatial_relationship"),
    ("attribute_reasoning", "physical_property_reasoning"),
    ("relation_reasoning", "social_relation"), ("logic_reasoning", "structuralized_imagetext_understanding"),
]
MMMU_SUBJECTS = [("Accounting", "Business"), ("Art_Theory", "Art and Design"),
                 ("Clinical_Medicine", "Health and Medicine"), ("Math", "Science"),
                 ("Electronics", "Tech and Engineering"), ("History", "Humanities and Social Science")]


def _vanilla_rows(rng, name, count, option_counts, hint, chinese=False):
    rows, predictions = [], {}
    for number in range(count):
        options = _options(rng, rng.choice(option_counts), chinese)
        choices = {chr(ord("A") + i): text for i, text in enumerate(options)}
        answer = rng.choice(list(choices))
        row = {"index": number, "image": PIXEL, "question": rng.choice(QUESTIONS_EN)}
        if hint:
            row["hint"] = rng.choice(HINTS) if rng.random() < 0.5 else None
        row.update(choices)
        row["answer"] = answer
        if name == "ScienceQA_TEST":
            row["category"] = rng.choice(["natural science", "social science", "language science"])
            row["split"] = "test"
        rows.append(row)
        predictions[number] = make_prediction(rng, choices, answer)
    return rows, predictions


def _mmmu_rows(rng, count):
    rows, predictions = [], {}
    for number in range(count):
        subject, discipline = rng.choice(MMMU_SUBJECTS)
        split = rng.choice(["dev", "validation", "validation"])
        images = rng.choice([1, 1, 1, 2, 3])
        question = rng.choice(QUESTIONS_EN)
        question = " ".join([f"<image {k}>" for k in range(1, images + 1)][:rng.randint(0, images)]
                            + [question])
        row = {"index": number, "question": question}
        if rng.random() < 0.2:  # an open question: no options, the answer is the text
            answer = rng.choice(["1.06", "12.97", "Transformation", "4", "MgS"])
            row["answer"] = answer
            choices = {}
            prediction = rng.choice([answer, f"The answer is {answer}", "A", "B", "(A)",
                                     "Other Answers", "I don't know", answer + " units"])
        else:
            options = _options(rng, rng.choice([2, 3, 4, 4, 5, 7, 9]), False)
            if rng.random() < 0.2:
                options[rng.randrange(len(options))] = f"<image {images}>"
            choices = {chr(ord("A") + i): text for i, text in enumerate(options)}
            row.update(choices)
            answer = rng.choice(list(choices))
            row["answer"] = answer
            prediction = make_prediction(rng, choices, answer)
        row["category"] = subject
        row["l2-category"] = discipline
        row["split"] = split
        row["id"] = f"{split}_{subject}_{number + 1}"
        if images == 1:
            row["image"] = PIXEL
            row["image_path"] = f"{split}_{subject}_{number + 1}_1.png"
        else:
            row["image"] = repr([PIXEL] * images)
            row["image_path"] = repr([f"{split}_{subject}_{number + 1}_{k}.png"
                                      for k in range(1, images + 1)])
        rows.append(row)
        predictions[number] = prediction
    return rows, predictions


def _mmbench_rows(rng, groups, chinese):
    """Main questions (index < 1e6) and their circular copies (index + k * 1e6), the options
    rotated by k and the answer letter moved with them, images given as the main index."""
    rows, predictions = [], {}
    for number in range(groups):
        l2, category = rng.choice(MMB_CATEGORIES)
        options = _options(rng, rng.choice([2, 3, 4, 4, 4]), chinese)
        right_text = rng.choice(options)
        question = rng.choice(QUESTIONS_CN if chinese else QUESTIONS_EN)
        hint = rng.choice(HINTS) if rng.random() < 0.4 else None
        behaviour = rng.choice(["right", "right", "one_wrong", "one_unread", "mixed",
                                "unread_and_wrong", "missing_copy", "missing_main"])
        bad = rng.randrange(len(options))
        for k in range(len(options)):
            rotated = options[k:] + options[:k]
            choices = {chr(ord("A") + i): text for i, text in enumerate(rotated)}
            answer = chr(ord("A") + rotated.index(right_text))
            index = number + k * 1_000_000
            rows.append({"index": index, "question": question, "hint": hint, **choices,
                         "answer": answer, "category": category,
                         "image": PIXEL if k == 0 else str(number), "source": "generated",
                         "l2-category": l2, "comment": None, "split": "dev"})
            if behaviour == "missing_copy" and k == bad and k > 0:
                continue
            if behaviour == "missing_main" and k == 0:
                continue
            readable = rng.choice(["{L}", "({L})", "{L}. {T}", "The answer is {L}.", "答案是{L}",
                                   "{T}"])
            if behaviour in ("right", "missing_copy", "missing_main") or \
                    (behaviour in ("one_wrong", "one_unread", "unread_and_wrong") and k != bad):
                letter = answer
                if behaviour == "unread_and_wrong" and k == (bad + 1) % len(options):
                    letter = rng.choice([x for x in choices if x != answer] or [answer])
                predictions[index] = readable.format(L=letter, T=choices[letter])
            elif behaviour == "one_wrong":
                letter = rng.choice([x for x in choices if x != answer] or [answer])
                predictions[index] = readable.format(L=letter, T=choices[letter])
            elif behaviour in ("one_unread", "unread_and_wrong"):
                predictions[index] = rng.choice(["I cannot tell.", "", "The image is blurry",
                                                 "A and B", "E", "not sure"])
            else:
                predictions[index] = make_prediction(rng, choices, answer)
    return rows, predictions


def make_benchmarks(seed: int) -> dict:
    rng = random.Random(seed)
    benchmarks = {}
    rows, predictions = _vanilla_rows(rng, "AI2D_TEST", 500, [2, 3, 4, 4, 4], hint=False)
    benchmarks["AI2D_TEST"] = {"rows": rows, "predictions": predictions}
    rows, predictions = _vanilla_rows(rng, "ScienceQA_TEST", 500, [2, 2, 3, 4, 5], hint=True)
    benchmarks["ScienceQA_TEST"] = {"rows": rows, "predictions": predictions}
    rows, predictions = _vanilla_rows(rng, "RealWorldQA", 500, [2, 3, 3, 4], hint=False)
    benchmarks["RealWorldQA"] = {"rows": rows, "predictions": predictions}
    rows, predictions = _mmmu_rows(rng, 400)
    benchmarks["MMMU_DEV_VAL"] = {"rows": rows, "predictions": predictions}
    for name, chinese in (("MMBench_DEV_EN", False), ("MMBench_DEV_CN", True)):
        rows, predictions = _mmbench_rows(rng, 260, chinese)
        benchmarks[name] = {"rows": rows, "predictions": predictions}
    return benchmarks


CAN_INFER_DRIVER = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
from vlmeval.utils import can_infer
cases = json.load(open(sys.argv[2]))
# can_infer lower-cases the option texts in place: each call gets its own copy
json.dump([can_infer(prediction, dict(choices)) for prediction, choices in cases],
          open(sys.argv[3], 'w'), ensure_ascii=False)
"""

PIPELINE_DRIVER = r"""
import json, os, sys
checkout, spec_path, work, out_path = sys.argv[1:5]
os.environ['LMUData'] = os.path.join(work, 'LMUData')
os.makedirs(os.environ['LMUData'], exist_ok=True)
sys.path.insert(0, checkout)
import pandas as pd
from vlmeval.smp import dump, load
from vlmeval.utils import can_infer
from vlmeval.dataset import build_dataset, DATASET_CLASSES

spec = json.load(open(spec_path))
out = {}
for name, bench in spec.items():
    dump(pd.DataFrame(bench['rows']), os.path.join(os.environ['LMUData'], name + '.tsv'))
    for cls in DATASET_CLASSES:  # the generated file stands in for the published one
        if name in getattr(cls, 'DATASET_MD5', {}):
            del cls.DATASET_MD5[name]
    dataset = build_dataset(name)
    prompts = {}
    for i in range(len(dataset.data)):
        line = dataset.data.iloc[i]
        msgs = dataset.build_prompt(line)
        prompts[str(line['index'])] = [
            dict(type=m['type'], value=os.path.relpath(m['value'], dataset.img_root)
                 if m['type'] == 'image' else m['value']) for m in msgs]
    # the prediction file, as vlmeval/inference.py writes it
    data = dataset.data.copy()
    data = data[[str(x) in bench['predictions'] for x in data['index']]]
    data['prediction'] = [str(bench['predictions'][str(x)]) for x in data['index']]
    if 'image' in data:
        data.pop('image')
    eval_file = os.path.join(work, f'Model_{name}.xlsx')
    dump(data, eval_file)
    acc = dataset.evaluate(eval_file, model='exact_matching', nproc=1)
    result = load(eval_file.replace('.xlsx', '_exact_matching_result.xlsx'))
    seen = load(eval_file)
    extracted, choices_seen = {}, {}
    for i in range(len(seen)):
        row = seen.iloc[i]
        choices = {c: str(row[c]) for c in 'ABCDEFGHIJ' if c in row and not pd.isna(row[c])}
        choices_seen[str(int(row['index']))] = dict(choices)
        extracted[str(int(row['index']))] = can_infer(str(row['prediction']), choices)
    out[name] = {
        'prompts': prompts,
        'seen_predictions': {str(int(i)): str(p) for i, p in zip(seen['index'], seen['prediction'])},
        'extracted': extracted,
        'choices_seen': choices_seen,
        'hit': {str(int(i)): int(h) for i, h in zip(result['index'], result['hit'])},
        'log': {str(int(i)): str(l) for i, l in zip(result['index'], result['log'])},
        'acc': json.loads(acc.to_json(orient='records')),
    }
json.dump(out, open(out_path, 'w'), ensure_ascii=False)
"""


def run_can_infer(checkout: Path, python: str, cases: list, tmp: Path) -> list:
    (tmp / "cases.json").write_text(json.dumps(cases, ensure_ascii=False), encoding="utf-8")
    (tmp / "can_infer.py").write_text(CAN_INFER_DRIVER)
    subprocess.run([python, str(tmp / "can_infer.py"), str(checkout), str(tmp / "cases.json"),
                    str(tmp / "out.json")], check=True, cwd=tmp, stdout=subprocess.DEVNULL)
    return json.loads((tmp / "out.json").read_text(encoding="utf-8"))


def run_pipeline(checkout: Path, python: str, benchmarks: dict, tmp: Path) -> dict:
    spec = {name: {"rows": [{k: v for k, v in row.items()} for row in bench["rows"]],
                   "predictions": {str(k): v for k, v in bench["predictions"].items()}}
            for name, bench in benchmarks.items()}
    (tmp / "spec.json").write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
    (tmp / "pipeline.py").write_text(PIPELINE_DRIVER)
    subprocess.run([python, str(tmp / "pipeline.py"), str(checkout), str(tmp / "spec.json"),
                    str(tmp), str(tmp / "out.json")], check=True, cwd=tmp,
                   stdout=subprocess.DEVNULL)
    return json.loads((tmp / "out.json").read_text(encoding="utf-8"))


def interpreter(python: str) -> str:
    return subprocess.run(
        [python, "-c", "import sys, pandas, numpy; print('CPython', sys.version.split()[0], "
                       "'+ pandas', pandas.__version__, '+ numpy', numpy.__version__)"],
        check=True, capture_output=True, text=True).stdout.strip()


def _write(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n",
                    encoding="utf-8")


def _clean_row(row: dict) -> dict:
    """Rows as committed: the base64 pixel replaced by a marker (it is the same everywhere)."""
    def clean(value):
        if isinstance(value, str) and PIXEL in value:
            return value.replace(PIXEL, "<png>")
        return value
    return {k: clean(v) for k, v in row.items()
            if not (isinstance(v, float) and math.isnan(v))}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--head", type=Path, required=True)
    parser.add_argument("--pre2026-06", dest="pre2026", type=Path, required=True)
    parser.add_argument("--pre2025-08", dest="pre2025", type=Path, required=True)
    parser.add_argument("--python", required=True)
    parser.add_argument("--python-2025", dest="python_2025", required=True)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent)
    parser.add_argument("--prompts-out", type=Path, default=None,
                        help="also write the prompts VLMEvalKit built (JSON) to this file")
    args = parser.parse_args(argv)

    cases = make_extraction_cases(SEED)
    checkouts = {"current": (args.head, args.python), "pre2026_06": (args.pre2026, args.python),
                 "pre2025_08": (args.pre2025, args.python_2025)}
    for variant, (checkout, python) in checkouts.items():
        with tempfile.TemporaryDirectory() as tmp:
            results = run_can_infer(checkout, python, cases, Path(tmp))
        _write(args.out / f"mcq_extraction_{variant}.json", {
            "source": {"repo": "open-compass/VLMEvalKit", "commit": VARIANTS[variant],
                       "file": "vlmeval/utils/matching_util.py",
                       "entry": "vlmeval.utils.can_infer(prediction, choices)",
                       "interpreter": interpreter(python), "seed": SEED},
            "cases": [[p, c, r] for (p, c), r in zip(cases, results)]})
        print(f"can_infer {variant}: {len(cases)} cases, "
              f"{sum(r is False for r in results)} unread")

    benchmarks = make_benchmarks(SEED + 1)
    with tempfile.TemporaryDirectory() as tmp:
        official = run_pipeline(args.head, args.python, benchmarks, Path(tmp))
    source = {"repo": "open-compass/VLMEvalKit", "commit": VARIANTS["current"],
              "files": ["vlmeval/dataset/image_mcq.py", "vlmeval/dataset/utils/multiple_choice.py",
                        "vlmeval/utils/matching_util.py"],
              "entry": "build_dataset(name).evaluate(<prediction .xlsx>, model='exact_matching')",
              "interpreter": interpreter(args.python), "seed": SEED + 1}
    for name, bench in benchmarks.items():
        result = official[name]
        rows = []
        for row in bench["rows"]:
            key = str(row["index"])
            entry = {"row": _clean_row(row)}
            if key in result["seen_predictions"]:
                entry["prediction"] = bench["predictions"][row["index"]]
                entry["prediction_seen"] = result["seen_predictions"][key]
                entry["choices_seen"] = result["choices_seen"][key]
                entry["extracted"] = result["extracted"][key]
            if key in result["hit"]:
                entry["hit"] = result["hit"][key]
                entry["log"] = result["log"][key]
            rows.append(entry)
        _write(args.out / f"vlmevalkit_{name.lower()}.json",
               {"source": dict(source, dataset=name), "rows": rows, "acc": result["acc"]})
        print(f"{name}: {len(rows)} rows, {len(result['hit'])} scored, "
              f"{sum(result['hit'].values())} hits")
    if args.prompts_out:
        _write(args.prompts_out, {name: {"rows": [_clean_row(r) for r in bench["rows"]],
                                         "prompts": official[name]["prompts"]}
                                  for name, bench in benchmarks.items()})


if __name__ == "__main__":
    main()
