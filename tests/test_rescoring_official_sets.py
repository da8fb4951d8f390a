"""runner=score on predictions in the official formats' place (`{"question_id", "prediction"}`
lines keyed by the TSV's index) reproduces the aggregates the OFFICIAL code printed for the
same answers (tests/golden/: the RRC ANLS script, pix2struct's and UniChart's relaxed
accuracy, OCRBench's example.py, MME's calculation.py, POPE's evaluate.py; HOW.md says how
they were run). Each golden set becomes a VLMEvalKit-layout TSV (one tiny image shared by
index, as the released TSVs share images) and a predictions file; the real CLI rescores it and
summary.json / samples.jsonl are compared with the recording, set by set and case by case."""
import base64
import json
import struct
import zlib
from pathlib import Path

import pandas as pd
import pytest

from runners.cli import main

GOLDEN = Path(__file__).parent / "golden"


def _golden(name: str) -> dict:
    return json.loads((GOLDEN / f"{name}.json").read_text(encoding="utf-8"))


def _tiny_png() -> str:
    raw = b"\x00\x80"

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    return base64.b64encode(png).decode("ascii")


def _write_set(folder: Path, rows: list[dict], predictions: list[str]) -> tuple[Path, Path]:
    """A VLMEvalKit TSV of `rows` (index 0..n-1; every image is row 0's) and the predictions
    as {"question_id", "prediction"} lines."""
    folder.mkdir(parents=True, exist_ok=True)
    table = [{"index": i, "image": _tiny_png() if i == 0 else "0", **row}
             for i, row in enumerate(rows)]
    tsv = folder / "data.tsv"
    pd.DataFrame(table).to_csv(tsv, sep="\t", index=False)
    lines = folder / "predictions.jsonl"
    with open(lines, "w", encoding="utf-8") as handle:
        for i, prediction in enumerate(predictions):
            handle.write(json.dumps({"question_id": i, "prediction": prediction},
                                    ensure_ascii=False) + "\n")
    return tsv, lines


def _rescore(tmp: Path, task: str, rows: list[dict], predictions: list[str], *overrides):
    tsv, lines = _write_set(tmp / "data", rows, predictions)
    out = tmp / "out"
    assert main(["runner=score", f"task={task}", f"task.local_dataset_path={tsv}",
                 f"runner.predictions={lines}", f"output_dir={out}", *overrides]) == 0
    summary = json.loads((out / "results" / "summary.json").read_text())
    records = [json.loads(line) for line in (out / "debug" / "samples.jsonl").open()]
    return summary, records


def test_pope_sets_reproduce_evaluate_py(tmp_path):
    for number, case in enumerate(_golden("pope")["sets"]):
        rows = [{"question": "Is there a dog in the image?", "answer": label.capitalize(),
                 "category": case["split"]} for label in case["labels"]]
        summary, _ = _rescore(tmp_path / str(number), "pope", rows, case["answers"])
        table = summary["metrics"][case["split"]]
        official = case["official"]
        for name in ("TP", "FP", "TN", "FN"):
            assert table[name] == official[name], (number, name)
        for name in ("accuracy", "precision", "recall", "f1", "yes_ratio"):
            if name in official:
                assert table[name] == pytest.approx(100 * official[name], abs=1e-9), (number, name)
        if "error" in official:     # the script stopped dividing by zero: no value here
            assert table["precision"] is None and table["f1"] is None


def test_mme_sets_reproduce_calculation_py(tmp_path):
    for number, case in enumerate(_golden("mme")["sets"]):
        rows = [{"question": r["question"], "answer": r["answer"], "category": r["subtask"],
                 "image_path": r["image"]} for r in case["records"]]
        summary, _ = _rescore(tmp_path / str(number), "mme", rows,
                              [r["prediction"] for r in case["records"]])
        metrics, official = summary["metrics"], case["official"]
        assert list(metrics)[1:] == list(official["subtasks"])      # the tool's order
        for name, score in official["subtasks"].items():
            assert metrics[name]["score"] == pytest.approx(score, abs=1e-9), (number, name)
        assert metrics["overall"]["perception"] == pytest.approx(
            official["totals"]["Perception"], abs=1e-9)
        assert metrics["overall"]["cognition"] == pytest.approx(
            official["totals"]["Cognition"], abs=1e-9)


def test_ocrbench_sets_reproduce_example_py(tmp_path):
    golden = _golden("ocrbench")
    for number, case in enumerate(golden["sets"]):
        cases = golden["cases"][case["cases"][0]:case["cases"][1]]
        rows = [{"question": "what is written in the image?",
                 "answer": repr(answers if isinstance(answers, list) else [answers]),
                 "category": category, "dataset_name": dataset}
                for _, answers, dataset, category, _ in cases]
        summary, records = _rescore(tmp_path / str(number), "ocrbench", rows,
                                    [c[0] for c in cases])
        assert [r["score"] for r in records] == [float(c[4]) for c in cases]
        metrics, official = summary["metrics"], case["official"]
        assert metrics["overall"]["final_score"] == official["Final Score"]
        assert metrics["overall"]["text_recognition"] == official["Text Recognition"]
        for category, points in official.items():
            if category in metrics:
                assert metrics[category]["score"] == points, (number, category)
        assert [name for name in metrics if name != "overall"] == [
            name for name in official if name not in ("Text Recognition", "Final Score")]


def test_anls_cases_and_sets_reproduce_the_rrc_script(tmp_path):
    golden = _golden("anls_docvqa")
    label = ["-"] * len(golden["cases"])
    for number, case in enumerate(golden["sets"]):
        for index in range(*case["cases"]):
            label[index] = f"set{number}"
    rows = [{"question": "What is the date?", "answer": repr(answers), "set": label[i]}
            for i, (_, answers, _) in enumerate(golden["cases"])]
    summary, records = _rescore(tmp_path, "docvqa", rows, [c[0] for c in golden["cases"]],
                                "task.subject_field=set")
    assert [r["score"] for r in records] == pytest.approx([c[2] for c in golden["cases"]],
                                                          abs=1e-12)
    for number, case in enumerate(golden["sets"]):
        assert summary["metrics"][f"set{number}"]["anls"] == pytest.approx(
            100 * case["anls"], abs=1e-9)


@pytest.mark.parametrize("variant", ["pix2struct", "unichart"])
def test_relaxed_accuracy_cases_and_sets_reproduce_the_official_code(tmp_path, variant):
    golden = _golden(f"chartqa_{variant}")
    label = ["-"] * len(golden["cases"])
    for number, case in enumerate(golden.get("sets", [])):
        for index in range(*case["cases"]):
            label[index] = f"set{number}"
    rows = [{"question": "What is the value?", "answer": repr(answers), "split": label[i]}
            for i, (_, answers, _) in enumerate(golden["cases"])]
    summary, records = _rescore(tmp_path, "chartqa", rows, [c[0] for c in golden["cases"]],
                                f"task.relaxed_accuracy={variant}")
    assert [r["score"] for r in records] == [float(c[2]) for c in golden["cases"]]
    assert summary["scorer"]["variant"] == variant
    for number, case in enumerate(golden.get("sets", [])):
        assert summary["metrics"][f"set{number}"]["relaxed_accuracy"] == pytest.approx(
            case["relaxed_accuracy"], abs=1e-9)
