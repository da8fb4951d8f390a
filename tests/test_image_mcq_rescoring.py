"""runner=score on official-format predictions reproduces the OFFICIAL aggregates recorded from
the official code (tests/golden/HOW.md):
- VLMEvalKit's evaluation of AI2D, ScienceQA, RealWorldQA, MMBench (circular, en and cn) and
  MMMU (its exact matching): the recorded rows written as the TSV users hold, the recorded
  answers as `{"question_id": <TSV index>, "prediction"}` lines;
- MMMU's own main_parse_and_eval.py / main_eval_only.py (tests/golden/mmmu_eval_utils.json):
  the recorded questions written as the lmms-lab MMMU parquet split, the answers keyed by its
  `id`, with `task.unparsed=random` (the official seeded guesses) and strict.
Each record's score is the official per-question verdict, and the tables carry the official
names and numbers."""
import json

import pytest

from golden_files import load, png, write_predictions, write_tsv
from runners.cli import main


def _score(tmp_path, task: str, data, predictions, *extra) -> tuple[dict, dict]:
    out = tmp_path / "out"
    code = main([f"task={task}", "runner=score", f"task.local_dataset_path={data}",
                 f"runner.predictions={predictions}", f"output_dir={out}", *extra])
    assert code == 0
    summary = json.loads((out / "results" / "summary.json").read_text())
    records = {str(r["question_id"]): r for r in map(
        json.loads, (out / "debug" / "samples.jsonl").read_text().splitlines())}
    return summary, records


def _vlmevalkit_case(tmp_path, golden: str):
    data = load(golden)
    entries = [e for e in data["rows"] if "prediction" in e]
    write_tsv(tmp_path / "data.tsv", [e["row"] for e in data["rows"]])
    write_predictions(tmp_path / "predictions.jsonl",
                      [(e["row"]["index"], e["prediction"]) for e in entries])
    return data, entries


def _judged(entry) -> bool:
    return entry["log"].startswith(("Failed in Prefetch,", "Match Log: Failed in Prefetch,"))


@pytest.mark.parametrize("task, golden", [("ai2d", "vlmevalkit_ai2d_test.json"),
                                          ("scienceqa", "vlmevalkit_scienceqa_test.json"),
                                          ("realworldqa", "vlmevalkit_realworldqa.json")])
def test_vlmevalkit_answers_rescore_to_its_accuracy(task, golden, tmp_path):
    data, entries = _vlmevalkit_case(tmp_path, golden)
    summary, records = _score(tmp_path, task, tmp_path / "data.tsv",
                              tmp_path / "predictions.jsonl")
    bad = [(e["row"]["index"], e["prediction"], records[str(e["row"]["index"])]["score"])
           for e in entries if records[str(e["row"]["index"])]["score"] != e["hit"]]
    assert not bad, f"{len(bad)} of {len(entries)} differ, first: {bad[:3]}"
    metrics = summary["metrics"]
    (official,) = data["acc"]
    assert metrics["overall"]["accuracy"] == pytest.approx(100 * official["Overall"], abs=1e-7)
    for name, value in official.items():   # ScienceQA's categories
        if name not in ("split", "Overall"):
            assert metrics[name]["accuracy"] == pytest.approx(100 * value, abs=1e-7), name
    assert metrics["overall"]["needs_judge"] == sum(map(_judged, entries)) > 50


@pytest.mark.parametrize("golden", ["vlmevalkit_mmbench_dev_en.json",
                                    "vlmevalkit_mmbench_dev_cn.json"])
def test_mmbench_answers_rescore_to_its_circular_accuracy(golden, tmp_path):
    """The prediction file lacks some rows, as the recorded one did: the questions are grouped
    over the rows it has (runner.allow_partial), as VLMEvalKit groups its prediction file."""
    data, entries = _vlmevalkit_case(tmp_path, golden)
    summary, records = _score(tmp_path, "mmbench", tmp_path / "data.tsv",
                              tmp_path / "predictions.jsonl", "runner.allow_partial=true")
    for entry in entries:    # every row's own verdict: what can_infer read
        extra = records[str(entry["row"]["index"])]["extra"]
        assert extra["extracted"] == (entry["extracted"] or None), entry["row"]["index"]
    metrics = summary["metrics"]
    (official,) = data["acc"]
    assert metrics["overall"]["accuracy"] == pytest.approx(100 * official["Overall"], abs=1e-7)
    for name, value in official.items():    # l2-category abbreviations and categories
        if name not in ("split", "Overall"):
            assert metrics[name]["accuracy"] == pytest.approx(100 * value, abs=1e-7), name
    questions = [e for e in data["rows"] if "hit" in e]
    assert metrics["overall"]["total"] == len(questions)
    assert metrics["overall"]["pass"] == sum(e["hit"] for e in questions)
    assert metrics["overall"]["needs_judge"] == sum(map(_judged, questions)) > 30
    mains = {e["row"]["index"] for e in entries if e["row"]["index"] < 1_000_000}
    grouped = [e for e in entries if e["row"]["index"] % 1_000_000 in mains]
    assert metrics["overall"]["rows"] == len(grouped) < len(entries)   # orphans are ignored
    _rescores_its_own_samples(tmp_path, "mmbench", summary, "runner.allow_partial=true")


def _rescores_its_own_samples(tmp_path, task, summary, *extra):
    """The run's own samples.jsonl rescores to the same metrics."""
    out = tmp_path / "again"
    data = summary["config"]["task"]["local_dataset_path"]
    assert main([f"task={task}", "runner=score", f"task.local_dataset_path={data}",
                 f"runner.predictions={tmp_path / 'out' / 'debug' / 'samples.jsonl'}",
                 f"output_dir={out}", *extra]) == 0
    again = json.loads((out / "results" / "summary.json").read_text())
    assert again["metrics"] == summary["metrics"]


def test_mmmu_answers_rescore_to_vlmevalkits_tables(tmp_path):
    data, entries = _vlmevalkit_case(tmp_path, "vlmevalkit_mmmu_dev_val.json")
    summary, records = _score(tmp_path, "mmmu", tmp_path / "data.tsv",
                              tmp_path / "predictions.jsonl", "task.scoring=vlmevalkit")
    assert [records[str(e["row"]["index"])]["score"] for e in entries] == \
        [e["hit"] for e in entries]
    metrics = summary["metrics"]
    for official in data["acc"]:
        split = official["split"]
        assert metrics["overall"][f"accuracy_{split}"] == pytest.approx(
            100 * official["Overall"], abs=1e-7)
        for name, value in official.items():
            if name in ("split", "Overall"):
                continue
            key = f"{split}/Overall-{name}" if f"{split}/Overall-{name}" in metrics \
                else f"{split}/{name}"
            assert metrics[key]["accuracy"] == pytest.approx(100 * value, abs=1e-7), key


# -- MMMU's own evaluation, from the lmms-lab layout --------------------------------------------
MMMU = load("mmmu_eval_utils.json")


def _write_mmmu_split(folder, split: str) -> list[dict]:
    """The split's recorded questions as lmms-lab/MMMU's parquet (image_1..image_7 each: the
    recorded options mark images up to <image 7>)."""
    import datasets

    cases = [c for c in MMMU["cases"] if c["id"].startswith(split + "_")]
    image = {"bytes": png(1), "path": "1.png"}
    columns = {
        "id": [c["id"] for c in cases],
        "question": ["<image 1> What is shown?" for _ in cases],
        "options": [repr([c["index2ans"][k] for k in c["all_choices"]])
                    if c["question_type"] == "multiple-choice" else "[]" for c in cases],
        "answer": [c["answer"] if isinstance(c["answer"], str) else repr(c["answer"])
                   for c in cases],
        "question_type": [c["question_type"] for c in cases],
        **{f"image_{k}": [image for _ in cases] for k in range(1, 8)},
    }
    path = folder / "data" / f"{split}-00000-of-00001.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    table = datasets.Dataset.from_dict(columns)
    for k in range(1, 8):
        table = table.cast_column(f"image_{k}", datasets.Image())
    table.to_parquet(str(path))
    return cases


@pytest.mark.parametrize("split", ["validation", "dev"])
def test_mmmu_answers_rescore_to_mmmus_own_report(split, tmp_path):
    cases = _write_mmmu_split(tmp_path / "mmmu", split)
    write_predictions(tmp_path / "predictions.jsonl", [(c["id"], c["response"]) for c in cases])
    summary, records = _score(tmp_path, "mmmu", tmp_path / "mmmu", tmp_path / "predictions.jsonl",
                              f"task.data_split={split}", "task.unparsed=random")
    bad = [(c["id"], c["response"], c["official"]) for c in cases
           if records[c["id"]]["score"] != float(c["official"]["judge"] == "Correct")
           or records[c["id"]]["extra"]["unparsed"] != bool(c["official"].get("guessed"))]
    assert not bad, f"{len(bad)} of {len(cases)} differ, first: {bad[:3]}"
    metrics = summary["metrics"]
    for subject, official in MMMU["results"][split].items():
        entry = metrics[f"{split}/{subject}"]
        assert entry["total"] == official["num_example"]
        assert entry["accuracy"] == pytest.approx(100 * official["acc"], abs=1e-9), subject
    for name, official in MMMU["reports"][split].items():   # main_eval_only.py's table
        entry = metrics[f"{split}/{name}"]
        assert (entry["total"], round(entry["accuracy"] / 100, 3)) == \
            (official["num"], official["acc"]), name
    assert metrics["overall"][f"accuracy_{split}"] == metrics[f"{split}/Overall"]["accuracy"]
    assert metrics["overall"]["unparsed"] == sum(bool(c["official"].get("guessed")) for c in cases)
    _rescores_its_own_samples(tmp_path, "mmmu", summary, f"task.data_split={split}",
                              "task.unparsed=random")


def test_mmmu_strict_counts_the_official_guesses_as_unparsed_and_wrong(tmp_path):
    cases = _write_mmmu_split(tmp_path / "mmmu", "dev")
    write_predictions(tmp_path / "predictions.jsonl", [(c["id"], c["response"]) for c in cases])
    summary, records = _score(tmp_path, "mmmu", tmp_path / "mmmu", tmp_path / "predictions.jsonl",
                              "task.data_split=dev")
    guessed = [c for c in cases if c["official"].get("guessed")]
    assert summary["metrics"]["overall"]["unparsed"] == len(guessed) > 50
    assert all(records[c["id"]]["score"] == 0.0 for c in guessed)
    agree = [c for c in cases if not c["official"].get("guessed")]
    assert all(records[c["id"]]["score"] == float(c["official"]["judge"] == "Correct")
               for c in agree)
    assert any("task.unparsed=random" in note for note in summary["notes"])
    _rescores_its_own_samples(tmp_path, "mmmu", summary, "task.data_split=dev")
