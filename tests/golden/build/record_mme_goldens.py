"""Generate adversarial MME answers and record what MME's OFFICIAL calculation tool makes of them.

    python tests/golden/build/record_mme_goldens.py <eval_tool folder> \
        --python <interpreter with scikit-learn> [--out tests/golden/mme.json]

`<eval_tool folder>` is `eval_tool/` unpacked from `tools/eval_tool.zip` of
BradyFU/Awesome-Multimodal-Large-Language-Models, branch Evaluation (it holds
`calculation.py`). A small driver, written here, imports `calculation.py` as a module and
calls its own entry, `calculate_metrics().process_result(results_dir)`, on generated results
folders in the tool's format (one `<subtask>.txt` per subtask, lines
`image\\tquestion\\tYes|No\\tresponse\\n`, an image's two questions on consecutive lines),
capturing what it prints: each perception/cognition "total score" and every subtask's score
(= acc * 100 + acc+ * 100).

Per answer: the tool prints scores only, so each answer is run in two subtasks whose one
image has that answer twice, once against "Yes" and once against "No": a subtask score of
200 means the tool read the answer as that label (both questions right), 0 means it did
not; 0 in both means "other". Seven answers fill the fourteen subtasks of one call.
Per set: whole generated result folders (every subtask, 1..25 images each) and the printed
scores. Nothing of the official code is copied here.
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

SEED = 20250324
NUM_ANSWERS = 840
NUM_SETS = 6
SUBTASKS = ["existence", "count", "position", "color", "posters", "celebrity", "scene",
            "landmark", "artwork", "OCR", "commonsense_reasoning", "numerical_calculation",
            "text_translation", "code_reasoning"]
ANSWERS = [
    "yes", "no", "Yes", "No", "YES", "NO", "Yes.", "No.", "yes,", "no,", "yes!", "Yes, it is.",
    "No, it is not.", "Yes, but no", "No, but yes", "not sure", "Not", "none", "None of them",
    "nope", "nah", "know", "I know", "yesterday", "Yesterday it was", "noodle", "nothing",
    " yes", "  yes", "   no", " no", "\u00a0yes", "\u3000no", "y", "n", "ye", "yeah", "yep", "",
    " ", "yes yes", "no no", "I think yes", "The answer is no", "There is a dog.", "Ｙes",
    "YES, definitely", "maybe", "unknown", "Unknown", "anno", "snow", "yes\u2019", "nO",
    "No\u3002", "是", "否", "是的，有。", "不是", "Yes。", "noyes", "yesno", "(yes)", "'no'",
    "\"yes\"", "*no*", "**Yes**", "-no", "Answer: yes", "yes/no", "no/yes", "NoNe",
    "İyes", "yes\u0307", "ﬁne", "no-one", "Non", "nó", "NÓ",
]


def make_answer(rng: random.Random) -> str:
    answer = rng.choice(ANSWERS)
    roll = rng.random()
    if roll < 0.15:
        answer = answer + rng.choice([" there is", ", because", " at all", "."])
    elif roll < 0.25:
        answer = rng.choice(["", " ", "the ", "So "]) + answer
    elif roll < 0.3:
        answer = answer.upper() if rng.random() < 0.5 else answer.capitalize()
    return answer


def write_folder(folder: Path, lines_by_subtask: dict[str, list[str]]) -> None:
    folder.mkdir(parents=True)
    for subtask in SUBTASKS:
        (folder / f"{subtask}.txt").write_text("".join(lines_by_subtask[subtask]),
                                               encoding="utf-8")


def line(image: str, question: str, truth: str, response: str) -> str:
    return f"{image}\t{question}\t{truth}\t{response}\n"


DRIVER = r"""
import contextlib, importlib.util, io, json, sys, warnings
warnings.simplefilter("ignore")
tool, folders_file, out_file = sys.argv[1:4]
spec = importlib.util.spec_from_file_location("mme_calculation", tool)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
outputs = []
for folder in json.load(open(folders_file)):
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        module.calculate_metrics().process_result(folder)
    outputs.append(printed.getvalue())
json.dump(outputs, open(out_file, "w"))
"""
TOTAL = re.compile(r"=+ (Perception|Cognition) =+\s*total score: (\S+)")
SUBTASK = re.compile(r"^\t (\S+)  score: (\S+)$", re.M)


def parse(printed: str) -> dict:
    totals = {name: float(value) for name, value in TOTAL.findall(printed)}
    subtasks = {name: float(value) for name, value in SUBTASK.findall(printed)}
    if set(totals) != {"Perception", "Cognition"} or set(subtasks) != set(SUBTASKS):
        raise RuntimeError(f"unexpected output of calculation.py:\n{printed}")
    return {"totals": totals, "subtasks": subtasks}


def run_official(folders: list[Path], tool: Path, python: str, work: Path) -> list[dict]:
    (work / "folders.json").write_text(json.dumps([str(f) for f in folders]))
    (work / "driver.py").write_text(DRIVER, encoding="utf-8")
    subprocess.run([python, str(work / "driver.py"), str(tool / "calculation.py"),
                    str(work / "folders.json"), str(work / "printed.json")], check=True)
    return [parse(printed) for printed in json.loads((work / "printed.json").read_text())]


def answer_folders(answers: list[str], work: Path) -> list[Path]:
    folders = []
    for start in range(0, len(answers), 7):
        chunk = answers[start:start + 7]
        lines = {}
        for number, subtask in enumerate(SUBTASKS):
            answer, truth = chunk[number // 2 % len(chunk)], ("Yes", "No")[number % 2]
            lines[subtask] = [line("0001.jpg", "Is it? Please answer yes or no.", truth, answer)] * 2
        folder = work / f"answers{start // 7}"
        write_folder(folder, lines)
        folders.append(folder)
    return folders


def make_set(rng: random.Random) -> list[dict]:
    records = []
    for subtask in SUBTASKS:
        for image in range(rng.randint(1, 25)):
            truths = rng.choice([("Yes", "No"), ("No", "Yes"), ("Yes", "Yes"), ("No", "No")]
                                if rng.random() < 0.2 else [("Yes", "No"), ("No", "Yes")])
            for truth in truths:
                records.append({"subtask": subtask, "image": f"{subtask}/{image:04d}.jpg",
                                "question": "Is there a cat? Please answer yes or no.",
                                "answer": truth, "prediction": make_answer(rng)})
    return records


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("tool", type=Path, help="the unpacked eval_tool folder")
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--commit", default="1c1d69e138b57cf8b0400427927bfb8ed4285458",
                        help="the commit that added tools/eval_tool.zip")
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).resolve().parent.parent / "mme.json")
    args = parser.parse_args(argv)
    rng = random.Random(SEED)
    answers = [make_answer(rng) for _ in range(NUM_ANSWERS)]
    sets = [make_set(rng) for _ in range(NUM_SETS)]
    for text in answers + [r["prediction"] for s in sets for r in s]:
        assert "\t" not in text and "\n" not in text and "\r" not in text, repr(text)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        folders = answer_folders(answers, work)
        for number, records in enumerate(sets):
            lines = {subtask: [] for subtask in SUBTASKS}
            for record in records:
                lines[record["subtask"]].append(line(record["image"], record["question"],
                                                     record["answer"], record["prediction"]))
            write_folder(work / f"set{number}", lines)
            folders.append(work / f"set{number}")
        outputs = run_official(folders, args.tool, args.python, work)
    labels = []
    for number, answer in enumerate(answers):
        printed = outputs[number // 7]["subtasks"]
        position = number % 7
        as_yes, as_no = printed[SUBTASKS[2 * position]], printed[SUBTASKS[2 * position + 1]]
        assert {as_yes, as_no} <= {0.0, 200.0} and not (as_yes and as_no), (answer, as_yes, as_no)
        labels.append("yes" if as_yes else "no" if as_no else "other")
    interpreter = subprocess.run([args.python, "--version"], capture_output=True,
                                 text=True).stdout.strip()
    source = {"repo": "BradyFU/Awesome-Multimodal-Large-Language-Models",
              "commit": args.commit, "file": "tools/eval_tool.zip: eval_tool/calculation.py",
              "entry": "calculate_metrics().process_result(results_dir), printed scores",
              "interpreter": interpreter, "seed": SEED}
    data = {"source": source, "cases": [[a, label] for a, label in zip(answers, labels)],
            "sets": [{"records": records, "official": output}
                     for records, output in zip(sets, outputs[len(outputs) - NUM_SETS:])]}
    args.out.write_text(json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n",
                        encoding="utf-8")
    print(f"mme: {len(answers)} answers ({', '.join(f'{k} {labels.count(k)}' for k in ('yes', 'no', 'other'))}), "
          f"{NUM_SETS} sets")


if __name__ == "__main__":
    main()
