"""The tasks docvqa, infovqa, chartqa, ocrbench, mme and pope as data: their default prompts
are VLMEvalKit's (the recorded rows through the real loader and the yaml's template give the
prompts VLMEvalKit's build_prompt gave), the VLMEvalKit TSV and the lmms-lab `datasets` copy
give the same samples, splits are chosen by their official names, a test split without
answers writes the official submission file and no score, a gate works on a set-level
metric, and a model's own prompt still replaces the task's."""
import base64
import hashlib
import io
import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from PIL import Image

from modeltest.samples import DataError
from modeltest.tasks import load_samples
from runners.cli import main
from runners.config import compose, to_container
from runners.demo import ensure_asset

GOLDEN = Path(__file__).parent / "golden"
TASKS = ["docvqa", "infovqa", "chartqa", "ocrbench", "mme", "pope"]


def task_config(name: str, *overrides) -> dict:
    return to_container(compose([f"task={name}", *overrides]))["task"]


def samples_of(name: str, *overrides):
    ensure_asset("data", name)
    cfg = task_config(name, *overrides)
    return load_samples(cfg, cfg["prompt_template"])[0]


def sha(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.mark.parametrize("name", TASKS)
def test_the_yaml_template_gives_vlmevalkits_default_prompt(name, tmp_path):
    """The recorded TSV rows, written as a TSV and read by the task's own format and template,
    give the text VLMEvalKit's build_prompt gave, and the image it gave (same bytes)."""
    golden = json.loads((GOLDEN / f"{name}_prompts.json").read_text(encoding="utf-8"))
    tsv = tmp_path / f"{name}.tsv"
    pd.DataFrame([case["row"] for case in golden["cases"]],
                 columns=golden["columns"]).to_csv(tsv, sep="\t", index=False)
    samples = samples_of(name, f"task.local_dataset_path={tsv}")
    rows = {case["row"]["index"]: case["row"] for case in golden["cases"]}
    assert len(samples) == len(golden["cases"])
    for sample, case in zip(samples, golden["cases"]):
        image, text = case["messages"]
        assert sample.prompt == text["value"], case["row"]["index"]
        own = case["row"]["image"]
        shared = own if len(own) > 64 else rows[int(own)]["image"]   # a row's index
        assert len(sample.images) == 1
        assert Path(sample.images[0]).read_bytes() == base64.b64decode(shared)


def test_the_yaml_names_its_prompt_source():
    for name in TASKS:
        text = (Path(__file__).parent.parent / "conf" / "task" / f"{name}.yaml").read_text()
        assert "VLMEvalKit's default" in text and "e8e78f0" in text, name


def _comparable(sample) -> tuple:
    return (sample.prompt, tuple(r.lower() for r in sample.references), sample.subject,
            tuple(sha(p) for p in sample.images))


@pytest.mark.parametrize("name", ["docvqa", "infovqa", "chartqa", "ocrbench", "mme"])
def test_tsv_and_lmms_lab_copies_give_the_same_samples(name):
    folder = ensure_asset("data", name)
    tsv = samples_of(name)
    parquet = samples_of(name, f"task.local_dataset_path={folder / 'lmms-lab'}")
    assert [_comparable(s) for s in tsv] == [_comparable(s) for s in parquet]
    assert [s.question_id for s in tsv] == [s.question_id for s in parquet]
    assert all(isinstance(s.question_id, int) for s in parquet)   # "49153" -> 49153
    if name == "mme":
        assert [s.fields["image_path"] for s in tsv] == [s.fields["image_path"] for s in parquet]
    if name == "ocrbench":
        assert [s.fields["category"] for s in tsv] == [s.fields["category"] for s in parquet]
        assert parquet[1].fields["dataset_name"] == "HME100k"


def test_pope_copies_hold_the_same_questions_per_split():
    """VLMEvalKit's POPE.tsv writes a question once with all its splits; lmms-lab/POPE has a
    row per split."""
    folder = ensure_asset("data", "pope")
    tsv = {(s.prompt, s.references[0].lower(), split, sha(s.images[0]))
           for s in samples_of("pope") for split in s.fields["category"].split(",")}
    rows = samples_of("pope", f"task.local_dataset_path={folder / 'lmms-lab'}")
    parquet = [(s.prompt, s.references[0], s.fields["category"], sha(s.images[0])) for s in rows]
    assert len(parquet) == len(set(parquet)) == len(tsv) and set(parquet) == tsv


def test_splits_are_chosen_by_their_official_names():
    folder = ensure_asset("data", "chartqa")
    for path in (folder / "ChartQA_TEST.tsv", folder / "lmms-lab"):
        human = samples_of("chartqa", f"task.local_dataset_path={path}",
                           "task.subjects=[test_human]")
        assert human and {s.subject for s in human} == {"test_human"}
    adversarial = samples_of("pope", "task.subjects=[adversarial]")
    assert all("adversarial" in s.fields["category"].split(",") for s in adversarial)
    assert any(s.fields["category"] != "adversarial" for s in adversarial)   # shared rows kept
    with pytest.raises(DataError, match=r"task.subjects: human_test not in .*test_augmented"):
        samples_of("chartqa", "task.subjects=[human_test]")


def test_the_lmms_lab_repository_folder_reads_the_tasks_config():
    folder = ensure_asset("data", "infovqa")
    from_repository = samples_of("infovqa", f"task.local_dataset_path={folder / 'lmms-lab'}")
    from_config = samples_of("infovqa",
                             f"task.local_dataset_path={folder / 'lmms-lab' / 'InfographicVQA'}")
    assert [s.question_id for s in from_repository] == [s.question_id for s in from_config]
    assert from_repository[0].question_id == 65718


def _summary(out: Path) -> dict:
    return json.loads((out / "results" / "summary.json").read_text())


def test_a_test_split_writes_the_submission_file_and_no_score(tmp_path):
    folder = ensure_asset("data", "docvqa")
    out = tmp_path / "tsv"
    assert main(["task=docvqa", "model=demo_qwen2_vl", f"output_dir={out}",
                 f"task.local_dataset_path={folder / 'DocVQA_TEST.tsv'}"]) == 0
    summary = _summary(out)
    assert summary["metrics"]["overall"]["anls"] is None and summary["num_errors"] == 0
    assert any("have no reference answers" in note and "docvqa_submission.json" in note
               for note in summary["notes"])
    records = [json.loads(line) for line in (out / "debug" / "samples.jsonl").open()]
    assert [r["score"] for r in records] == [None] * 4
    submission = json.loads((out / "results" / "docvqa_submission.json").read_text())
    assert [entry["questionId"] for entry in submission] == [50153, 50154, 50155, 50156]
    assert all(set(entry) == {"questionId", "answer"} and isinstance(entry["answer"], str)
               for entry in submission)
    # the lmms-lab copy's test split, rescored from that official file: the same file back
    rescored = tmp_path / "hf"
    assert main(["runner=score", "task=docvqa", "task.data_split=test", f"output_dir={rescored}",
                 f"task.local_dataset_path={folder / 'lmms-lab'}",
                 f"runner.predictions={out / 'results' / 'docvqa_submission.json'}"]) == 0
    assert json.loads((rescored / "results" / "docvqa_submission.json").read_text()) == submission
    assert _summary(rescored)["metrics"]["overall"]["anls"] is None


def _all_yes(tmp_path: Path, name: str) -> Path:
    lines = tmp_path / "answers.jsonl"
    lines.write_text("".join(json.dumps({"question_id": s.question_id, "prediction": "Yes"})
                             + "\n" for s in samples_of(name)))
    return lines


def test_gates_and_baselines_work_on_set_level_metrics(tmp_path):
    predictions = _all_yes(tmp_path, "pope")
    out = tmp_path / "run"
    written = tmp_path / "baseline.yaml"
    args = ["runner=score", "task=pope", f"runner.predictions={predictions}",
            f"output_dir={out}"]
    assert main([*args, f"gate.write_baseline={written}"]) == 0
    summary = _summary(out)
    random = summary["metrics"]["random"]
    assert random["recall"] == 100.0 and random["yes_ratio"] == 100.0
    assert random["precision"] == pytest.approx(100.0 * random["TP"] / random["total"])
    entry = yaml.safe_load(written.read_text())["demo_qwen2_vl"]["pope"]
    adversarial = summary["metrics"]["adversarial"]
    assert entry["adversarial/f1"]["value"] == pytest.approx(adversarial["f1"])
    assert {"f1", "yes_ratio", "random/accuracy"} <= set(entry)
    csv = (out / "results" / "pope_demo_qwen2_vl_result.csv").read_text()
    assert "pope,adversarial," in csv and ",f1," in csv and ",yes_ratio," in csv
    baseline = tmp_path / "gate.yaml"
    for rule, code in (({"min": 0.0}, 0), ({"min": 100.5}, 3)):
        baseline.write_text(yaml.safe_dump({"demo_qwen2_vl": {"pope": {"adversarial/f1": rule}}}))
        assert main([*args, f"gate.baseline={baseline}"]) == code


def test_a_models_own_prompt_replaces_the_tasks(tmp_path):
    predictions = _all_yes(tmp_path, "mme")
    out = tmp_path / "run"
    assert main(["runner=score", "task=mme", f"runner.predictions={predictions}",
                 f"output_dir={out}", "+model.prompts.mme='{question} Answer:'"]) == 0
    records = [json.loads(line) for line in (out / "debug" / "samples.jsonl").open()]
    assert records[0]["prompt"].endswith("Please answer yes or no. Answer:")
    summary = _summary(out)
    assert summary["metrics"]["existence"]["acc"] == 50.0           # Yes is right once per pair
    assert summary["metrics"]["existence"]["acc_plus"] == 0.0
    assert summary["metrics"]["overall"]["perception"] == 150.0     # 3 subtasks x (50 + 0)


def test_lmms_lab_split_files_with_a_hash_are_read_by_their_split():
    """lmms-lab/MME's files are named test-0000k-of-00004-<hash>.parquet."""
    folder = ensure_asset("data", "mme")
    assert next((folder / "lmms-lab" / "data").glob("test-00000-of-00001-*.parquet"))
    samples = samples_of("mme", f"task.local_dataset_path={folder / 'lmms-lab'}",
                         "task.data_split=test")
    assert [s.question_id for s in samples] == list(range(8))    # row numbers: no id column


def test_an_image_cut_from_its_pair_is_reported_not_scored_as_a_pair(tmp_path):
    lines = tmp_path / "answers.jsonl"
    lines.write_text("".join(json.dumps({"question_id": i, "prediction": "Yes"}) + "\n"
                             for i in range(3)))
    out = tmp_path / "run"
    assert main(["runner=score", "task=mme", "task.limit=3", f"runner.predictions={lines}",
                 f"output_dir={out}"]) == 0
    summary = _summary(out)
    assert summary["metrics"]["overall"]["subtasks_incomplete"] == ["color"]
    assert "acc_plus" not in summary["metrics"]["color"]
    assert summary["metrics"]["overall"]["perception"] == 50.0    # existence only
    assert any("lacking one of its two questions" in note and "color" in note
               for note in summary["notes"])


def _tsv(path: Path, rows: list[dict]) -> Path:
    pd.DataFrame(rows).to_csv(path, sep="\t", index=False)
    return path


@pytest.mark.parametrize("task, row, message", [
    ("mme", {"answer": "Maybe", "category": "count", "image_path": "count/1.jpg"},
     "MME's answer must be Yes or No"),
    ("mme", {"answer": "Yes", "category": "counting", "image_path": "count/1.jpg"},
     "is not one of MME's 14 subtasks"),
    ("pope", {"answer": "Yes", "category": "adversarial,common"}, "common is not a POPE split"),
    ("ocrbench", {"answer": "['x']", "category": "OCR"}, "is not one of OCRBench's ten"),
])
def test_bad_rows_stop_the_run_before_any_model_naming_the_row(tmp_path, capsys, task, row,
                                                               message):
    png = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(png, format="PNG")
    image = base64.b64encode(png.getvalue()).decode()
    tsv = _tsv(tmp_path / "bad.tsv", [{"index": 7, "image": image, "question": "q?", **row}])
    assert main([f"task={task}", "model=demo_qwen2_vl", f"task.local_dataset_path={tsv}",
                 f"output_dir={tmp_path / 'out'}"]) == 2
    err = capsys.readouterr().err
    assert message in err and "bad.tsv: row 1 (index 7)" in err
    assert not (tmp_path / "out" / "debug" / "samples.jsonl").exists()


def test_an_unknown_relaxed_accuracy_variant_is_a_config_error(tmp_path, capsys):
    assert main(["task=chartqa", "task.relaxed_accuracy=vlmevalkit",
                 f"output_dir={tmp_path}"]) == 2
    assert "task.relaxed_accuracy=vlmevalkit: unknown (known: pix2struct, unichart)" in \
        capsys.readouterr().err


@pytest.mark.parametrize("name", TASKS)
def test_rescoring_from_id_prediction_lines_then_from_its_samples_file(name, tmp_path):
    """Both copies: answers keyed by the TSV's index or the dataset's id (lmms-lab's own id,
    or the row number where it has none) score; rescoring the samples.jsonl that wrote gives
    the same metrics."""
    folder = ensure_asset("data", name)
    for copy in (None, folder / "lmms-lab"):
        where = [f"task.local_dataset_path={copy}"] if copy else []
        samples = samples_of(name, *where)
        lines = tmp_path / "answers.jsonl"
        # the first reference as the answer (each other one answered "Yes")
        lines.write_text("".join(
            json.dumps({"question_id": s.question_id,
                        "prediction": s.references[0] if i % 2 == 0 else "Yes"}) + "\n"
            for i, s in enumerate(samples)))
        first, second = tmp_path / f"{copy is None}_a", tmp_path / f"{copy is None}_b"
        common = ["runner=score", f"task={name}", *where]
        assert main([*common, f"runner.predictions={lines}", f"output_dir={first}"]) == 0
        assert main([*common, f"runner.predictions={first / 'debug' / 'samples.jsonl'}",
                     f"output_dir={second}"]) == 0
        metrics = _summary(first)["metrics"]
        assert metrics == _summary(second)["metrics"]
        assert len(metrics) > 1 or name in ("docvqa", "infovqa")
        metric = _summary(first)["scorer"]["metric"]
        assert 0.0 < metrics["overall"][metric] < 100.0, (name, copy)
