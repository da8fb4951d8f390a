"""The CLI on every task and every demo model, rescoring, and the user-facing errors."""
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from runners.cli import main

ROOT = Path(__file__).resolve().parent.parent
DEMO_MODELS = ["demo_qwen2_vl", "demo_internvl", "demo_deepseek_vl"]
TASKS = ["textvqa", "vqav2", "videobench"]


def run_cli(*args) -> int:
    return main(list(args))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One accuracy run per (task, demo model), batch size 4."""
    root = tmp_path_factory.mktemp("runs")
    done = {}
    for model in DEMO_MODELS:
        for task in TASKS:
            out = root / model / task
            assert run_cli(f"model={model}", f"task={task}", f"output_dir={out}",
                           "runtime.batch_size=4") == 0
            done[model, task] = out
    return done


@pytest.mark.parametrize("model", DEMO_MODELS)
@pytest.mark.parametrize("task", TASKS)
def test_every_report_is_written(runs, model, task):
    out = runs[model, task]
    summary = json.loads((out / "results" / "summary.json").read_text())
    assert summary["task"] == task and summary["model"] == model
    assert summary["num_samples"] == 12 and summary["num_errors"] == 0
    assert summary["demo_data"] is True and summary["samples_per_second"] > 0
    assert {"torch", "transformers"} <= set(summary["versions"])
    assert summary["config"]["model"]["name"] == model
    assert (out / "config.yaml").is_file()
    with open(out / "results" / f"{task}_{model}_result.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0])[:6] == ["task", "subject", "total", "pass", "metric", "value"]
    overall = [r for r in rows if r["subject"] == "overall" and r["metric"] == "accuracy"][0]
    assert int(overall["total"]) == 12
    assert float(overall["value"]) == pytest.approx(summary["metrics"]["overall"]["accuracy"],
                                                    abs=1e-4)
    stderr = summary["metrics"]["overall"]["accuracy_stderr"]
    low, high = summary["metrics"]["overall"]["accuracy_ci95"]
    assert stderr is not None and low <= summary["metrics"]["overall"]["accuracy"] <= high
    assert float(overall["stderr"]) == pytest.approx(stderr, abs=1e-4)
    assert float(overall["ci95_low"]) == pytest.approx(low, abs=1e-4)
    text = (out / "results" / f"{task}_{model}_result.txt").read_text()
    assert "N-Shot" in text and "DEMO DATA" in text and "95% CI" in text
    lines = (out / "debug" / "samples.jsonl").read_text().splitlines()
    assert len(lines) == 12
    record = json.loads(lines[0])
    for key in ("question_id", "subject", "prompt", "prediction", "normalized_prediction",
                "references", "score", "error", "e2e_time"):
        assert key in record
    assert record["images"] or record["video"]
    batch_log = next((out / "debug").glob("output_*.txt")).read_text()
    assert batch_log.count("batch ") == 3 and "generated:" in batch_log
    submission = out / "results" / f"{task}_submission.json"
    assert submission.is_file() == (task in ("textvqa", "vqav2"))
    if task == "videobench":
        assert "final_score" in summary["metrics"]["overall"]
        assert "subjects_not_run" in summary["metrics"]["overall"]


@pytest.mark.parametrize("model", DEMO_MODELS)
@pytest.mark.parametrize("task", TASKS)
def test_rescoring_samples_reproduces_metrics(runs, model, task, tmp_path):
    out = runs[model, task]
    assert run_cli("runner=score", f"task={task}", f"output_dir={tmp_path}",
                   f"runner.predictions={out / 'debug' / 'samples.jsonl'}") == 0
    original = json.loads((out / "results" / "summary.json").read_text())["metrics"]
    rescored = json.loads((tmp_path / "results" / "summary.json").read_text())["metrics"]
    assert rescored == original


@pytest.mark.parametrize("task", ["textvqa", "vqav2"])
def test_rescoring_official_result_file(runs, task, tmp_path):
    out = runs["demo_qwen2_vl", task]
    assert run_cli("runner=score", f"task={task}", f"output_dir={tmp_path}",
                   f"runner.predictions={out / 'results' / f'{task}_submission.json'}") == 0
    original = json.loads((out / "results" / "summary.json").read_text())["metrics"]
    rescored = json.loads((tmp_path / "results" / "summary.json").read_text())["metrics"]
    assert rescored == original


def test_rescoring_a_known_answer_scores_it(tmp_path):
    from modeltest.tasks import load_samples
    from runners.config import compose, to_container
    from runners.demo import ensure_asset

    ensure_asset("data", "textvqa")
    samples, _ = load_samples(to_container(compose(["task=textvqa"]))["task"], "{question}")
    answers = [{"question_id": s.question_id, "answer": s.references[0]} for s in samples]
    predictions = tmp_path / "answers.json"
    predictions.write_text(json.dumps(answers))
    assert run_cli("runner=score", "task=textvqa", f"output_dir={tmp_path / 'out'}",
                   f"runner.predictions={predictions}") == 0
    summary = json.loads((tmp_path / "out" / "results" / "summary.json").read_text())
    assert summary["metrics"]["overall"]["accuracy"] > 50


def test_unknown_names_and_missing_paths_are_one_line_errors(capsys, tmp_path):
    assert run_cli("model=nosuch") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "model=nosuch" in err and "nosuch.yaml" in err
    assert run_cli("task=nosuch") == 2
    assert "task=nosuch" in capsys.readouterr().err
    assert run_cli("task=textvqa", "task.local_dataset_path=/no/such.jsonl") == 2
    err = capsys.readouterr().err.strip()
    assert err == "modeltest: error: task.local_dataset_path=/no/such.jsonl: no such file"
    assert run_cli("model=qwen2_vl", "model.model_path=/no/weights",
                   f"output_dir={tmp_path}") == 2
    assert "model.model_path=/no/weights: no such directory" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert run_cli("model=qwen2_vl", f"model.model_path={tmp_path / 'empty'}",
                   f"output_dir={tmp_path}") == 2
    assert "no config.json" in capsys.readouterr().err


def test_mm_run_sh_through_torchrun(tmp_path):
    env = dict(os.environ, PYTHON=sys.executable)
    result = subprocess.run(
        ["bash", "scripts/mm_run.sh", "videobench", "demo_qwen2_vl", "task.subjects=[MSVD]",
         f"output_dir={tmp_path}"], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads((tmp_path / "results" / "summary.json").read_text())
    assert summary["num_samples"] == 3 and list(summary["metrics"]) == ["overall", "MSVD"]
    bad = subprocess.run(["bash", "scripts/mm_run.sh", "textvqa", "nosuch"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=600)
    assert bad.returncode == 2 and "model=nosuch" in bad.stderr
