"""Scores are recomputed from stored predictions; the score runner reads other tools' files;
every report names its scorer and variant; coco_caption has no metric without a judge."""
import json
import shutil
from pathlib import Path

import pytest

import modeltest.scorers as scorers
from modeltest.tasks import load_samples
from runners.cli import main
from runners.config import compose, to_container
from runners.demo import ensure_asset


def summary_of(out: Path) -> dict:
    return json.loads((out / "results" / "summary.json").read_text())


def demo_samples(task: str, *overrides):
    ensure_asset("data", task)
    cfg = to_container(compose([f"task={task}", *overrides]))["task"]
    return load_samples(cfg, cfg["prompt_template"])[0]


def test_resumed_run_after_a_scorer_change_reports_the_new_scores(tmp_path, monkeypatch):
    out = tmp_path / "run"
    args = ["task=textvqa", "model=demo_qwen2_vl", "task.limit=4", f"output_dir={out}"]
    real = scorers.SCORERS["textvqa"]

    def old_scorer(task):   # "the scorer before a fix": everything right
        s = real(task)
        return scorers.Scorer(s.name, s.metric, lambda a, smp: scorers.SampleScore(1.0, a),
                              "old", "old")
    monkeypatch.setitem(scorers.SCORERS, "textvqa", old_scorer)
    assert main(args) == 0
    assert summary_of(out)["metrics"]["overall"]["accuracy"] == 100.0
    monkeypatch.setitem(scorers.SCORERS, "textvqa", real)
    stored = [json.loads(line) for line in (out / "debug" / "samples.jsonl").open()]
    assert len(stored) == 4 and all(r["score"] == 1.0 for r in stored)   # the old scores
    assert main(args) == 0          # resumed: nothing generated, scores recomputed
    samples = {s.question_id: s for s in demo_samples("textvqa")}
    expected = 100 * sum(real({}).score(r["cleaned_prediction"], samples[r["question_id"]]).score
                         for r in stored) / 4
    rescored = [json.loads(line) for line in (out / "debug" / "samples.jsonl").open()]
    # samples.jsonl holds the scores the reports give
    assert sum(r["score"] for r in rescored) * 100 / 4 == pytest.approx(expected)
    summary = summary_of(out)
    assert summary["metrics"]["overall"]["accuracy"] == pytest.approx(expected)
    assert expected < 100.0
    assert summary["scorer"]["variant"] == "mmf"
    assert any("differ from the current scorer" in note for note in summary["notes"])
    # rescoring the folder's own samples.jsonl into it gives the same new scores
    assert main(["runner=score", "task=textvqa", "task.limit=4", f"output_dir={out}",
                 f"runner.predictions={out / 'debug' / 'samples.jsonl'}"]) == 0
    assert summary_of(out)["metrics"]["overall"]["accuracy"] == pytest.approx(expected)


@pytest.mark.parametrize("variant", ["current", "pre2021"])
def test_vqav2_variant_is_named_in_summary_and_reports(tmp_path, variant):
    samples = demo_samples("vqav2")
    answers = [{"question_id": s.question_id, "answer": s.references[0].upper()}
               for s in samples]
    predictions = tmp_path / "answers.json"
    predictions.write_text(json.dumps(answers))
    out = tmp_path / "out"
    args = ["runner=score", "task=vqav2", f"output_dir={out}", f"runner.predictions={predictions}"]
    if variant != "current":
        args.append(f"task.vqa_eval={variant}")
    assert main(args) == 0
    summary = summary_of(out)
    assert summary["scorer"]["name"] == "vqav2" and summary["scorer"]["variant"] == variant
    assert "a013f00" in summary["scorer"]["source"]
    text = next((out / "results").glob("*_result.txt")).read_text()
    assert f"scored by vqav2 ({variant})" in text
    assert "exact_match" in summary["metrics"]["overall"]


def test_bad_vqa_eval_value_is_a_config_error(tmp_path, capsys):
    assert main(["runner=score", "task=vqav2", "task.vqa_eval=2019", f"output_dir={tmp_path}",
                 f"runner.predictions={tmp_path}"]) == 2
    assert "task.vqa_eval=2019" in capsys.readouterr().err


def test_textvqa_references_not_ten_are_listed_in_the_notes(tmp_path):
    source = ensure_asset("data", "textvqa")
    data = tmp_path / "textvqa"
    shutil.copytree(source, data)
    annotation = data / "textvqa_val_annotations.json"
    content = json.loads(annotation.read_text())
    first = content["annotations"][0]
    first["answers"] = first["answers"][:7]
    annotation.write_text(json.dumps(content))
    samples = demo_samples("textvqa", f"task.local_dataset_path={data / 'textvqa_val.jsonl'}")
    predictions = tmp_path / "answers.json"
    predictions.write_text(json.dumps([{"question_id": s.question_id, "answer": ""}
                                       for s in samples]))
    out = tmp_path / "out"
    assert main(["runner=score", "task=textvqa", f"output_dir={out}",
                 f"task.local_dataset_path={data / 'textvqa_val.jsonl'}",
                 f"runner.predictions={predictions}"]) == 0
    notes = summary_of(out)["notes"]
    odd = [n for n in notes if "not ten reference answers" in n]
    assert odd and odd[0].startswith("1 question(s)") and str(first["question_id"]) in odd[0]


def _videobench_eval_folder(folder: Path, answer) -> list:
    """The official loop's output for the demo data: one <Subset>_eval.json per subset."""
    samples = demo_samples("videobench")
    folder.mkdir()
    by_subset = {}
    for s in samples:
        qid = str(s.question_id).split("/", 1)[1]
        by_subset.setdefault(s.subject, {})[qid] = {
            "video_id": qid, "question": s.prompt, "output_sequence": answer(s)}
    for subset, entries in by_subset.items():
        (folder / f"{subset}_eval.json").write_text(json.dumps(entries, indent=2))
    return samples


def test_score_runner_reads_videobench_eval_folders(tmp_path):
    samples = _videobench_eval_folder(tmp_path / "Chat_results",
                                      lambda s: f"I think it is {s.references[0]}")
    out = tmp_path / "out"
    assert main(["runner=score", "task=videobench", f"output_dir={out}",
                 f"runner.predictions={tmp_path / 'Chat_results'}"]) == 0
    summary = summary_of(out)
    assert summary["num_samples"] == len(samples)
    assert summary["metrics"]["overall"]["accuracy"] == 100.0
    assert summary["metrics"]["overall"]["read_by_letter"] == len(samples)
    assert summary["scorer"]["variant"] == "strict"


def test_score_runner_reads_videobench_ids_with_a_separate_subject(tmp_path):
    samples = demo_samples("videobench")
    lines = [json.dumps({"question_id": str(s.question_id).split("/", 1)[1],
                         "subject": s.subject,
                         "prediction": f"({s.references[0]})" if i % 2 else "no idea"})
             for i, s in enumerate(samples)]
    predictions = tmp_path / "other_tool.jsonl"
    predictions.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    assert main(["runner=score", "task=videobench", f"output_dir={out}",
                 f"runner.predictions={predictions}"]) == 0
    overall = summary_of(out)["metrics"]["overall"]
    assert overall["total"] == len(samples)
    assert overall["unparsed"] == (len(samples) + 1) // 2
    assert overall["accuracy"] == pytest.approx(100 * (len(samples) // 2) / len(samples))


def test_similarity_fallback_decisions_are_counted(tmp_path):
    samples = _videobench_eval_folder(tmp_path / "eval",
                                      lambda s: "well, " + s.choices[s.references[0]] + " maybe")
    out = tmp_path / "out"
    assert main(["runner=score", "task=videobench", "task.choice_fallback=similarity",
                 f"output_dir={out}", f"runner.predictions={tmp_path / 'eval'}"]) == 0
    summary = summary_of(out)
    overall = summary["metrics"]["overall"]
    assert summary["scorer"]["variant"].startswith("similarity")
    assert overall["read_by_letter"] + overall["read_by_text"] + overall["read_by_similarity"] \
        + overall["unparsed"] == len(samples)
    assert any(note.startswith("choices read:") for note in summary["notes"])


def test_coco_caption_has_no_metric_without_a_judge(tmp_path, capsys):
    out = tmp_path / "plain"
    args = ["task=coco_caption", "model=demo_qwen2_vl", "task.limit=2"]
    assert main([*args, f"output_dir={out}"]) == 0
    summary = summary_of(out)
    assert summary["scorer"]["metric"] is None
    assert set(summary["metrics"]["overall"]) == {"total", "errors", "pass"}
    assert any("no metric of its own" in note for note in summary["notes"])
    baseline = tmp_path / "baseline.yaml"
    baseline.write_text("demo_qwen2_vl:\n  coco_caption:\n    captioned: {min: 50}\n")
    assert main([*args, f"output_dir={tmp_path / 'gated'}", f"gate.baseline={baseline}"]) == 2
    err = capsys.readouterr().err
    assert "no metric of its own to gate on" in err and "runner.judge" in err
    assert not (tmp_path / "gated" / "results" / "summary.json").exists()


def test_coco_caption_with_a_judge_reports_mean_clipscore(tmp_path):
    out = tmp_path / "judged"
    baseline = tmp_path / "baseline.yaml"
    baseline.write_text("demo_qwen2_vl:\n  coco_caption:\n    clip_score: {min: 0}\n")
    assert main(["task=coco_caption", "model=demo_qwen2_vl", "task.limit=2",
                 "runner.judge.model=demo", f"gate.baseline={baseline}",
                 f"output_dir={out}"]) == 0
    summary = summary_of(out)
    overall = summary["metrics"]["overall"]
    records = [json.loads(line) for line in (out / "debug" / "samples.jsonl").open()]
    assert summary["scorer"]["metric"] == "clip_score"
    assert summary["scorer"]["judge"]["model"]
    assert 0.0 <= overall["clip_score"] <= 100.0
    assert (out / "results" / "junit.xml").is_file()


def test_gate_runner_refuses_a_summary_without_metric(tmp_path, capsys):
    summary = {"task": "coco_caption", "model": "m", "metrics": {"overall": {"total": 2}},
               "scorer": {"name": "caption", "variant": "none", "metric": None}}
    path = tmp_path / "summary.json"
    path.write_text(json.dumps(summary))
    baseline = tmp_path / "baseline.yaml"
    baseline.write_text("m:\n  coco_caption:\n    clip_score: {min: 1}\n")
    assert main(["runner=gate", f"runner.summary={path}", f"gate.baseline={baseline}"]) == 2
    assert "no metric of its own to gate on" in capsys.readouterr().err


def test_a_partial_predictions_file_is_refused_unless_allowed_and_never_passes_a_gate(
        tmp_path, capsys):
    import yaml

    samples = demo_samples("textvqa")
    first = samples[0]
    predictions = tmp_path / "one.json"
    predictions.write_text(json.dumps([{"question_id": first.question_id,
                                        "answer": first.references[0]}]))
    args = ["runner=score", "task=textvqa", f"runner.predictions={predictions}"]
    assert main([*args, f"output_dir={tmp_path / 'refused'}"]) == 2
    err = capsys.readouterr().err
    assert f"has predictions for 1 of {len(samples)} samples of task textvqa" in err
    assert "runner.allow_partial=true" in err
    baseline = tmp_path / "baseline.yaml"
    baseline.write_text(yaml.safe_dump({"demo_qwen2_vl": {"textvqa": {"accuracy": {"min": 0}}}}))
    out = tmp_path / "partial"
    assert main([*args, "runner.allow_partial=true", f"gate.baseline={baseline}",
                 f"output_dir={out}"]) == 3
    summary = summary_of(out)
    assert summary["num_samples"] == 1 and summary["num_task_samples"] == len(samples)
    assert summary["notes"][0].startswith("PARTIAL: ")
    text = next((out / "results").glob("*_result.txt")).read_text()
    assert "- PARTIAL: " in text
    assert "partial run" in (out / "results" / "gate_summary.md").read_text()


def test_duplicate_ids_in_predictions_are_errors_naming_them(tmp_path, capsys):
    samples = demo_samples("textvqa")
    answers = [{"question_id": s.question_id, "answer": "x"} for s in samples]
    answers.append({"question_id": samples[3].question_id, "answer": "y"})
    official = tmp_path / "dup.json"
    official.write_text(json.dumps(answers))
    assert main(["runner=score", "task=textvqa", f"runner.predictions={official}",
                 f"output_dir={tmp_path / 'a'}"]) == 2
    assert f"duplicate question_id(s) {samples[3].question_id}" in capsys.readouterr().err
    lines = tmp_path / "dup.jsonl"
    lines.write_text("".join(json.dumps({"question_id": s.question_id, "prediction": "x"}) + "\n"
                             for s in [*samples, samples[5]]))
    assert main(["runner=score", "task=textvqa", f"runner.predictions={lines}",
                 f"output_dir={tmp_path / 'b'}"]) == 2
    assert f"duplicate question_id(s) {samples[5].question_id} ({lines}:13)" \
        in capsys.readouterr().err


def test_question_id_prediction_lines_rescore_like_a_samples_file(tmp_path):
    samples = demo_samples("vqav2")
    lines = tmp_path / "answers.jsonl"
    lines.write_text("".join(json.dumps({"question_id": s.question_id,
                                         "prediction": s.references[0]}) + "\n"
                             for s in samples))
    out = tmp_path / "out"
    assert main(["runner=score", "task=vqav2", f"runner.predictions={lines}",
                 f"output_dir={out}"]) == 0
    assert summary_of(out)["partial"] is None
    assert summary_of(out)["metrics"]["overall"]["accuracy"] > 50
