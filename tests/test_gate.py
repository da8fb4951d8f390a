"""CI gates: baselines, exit code 3, JUnit and Markdown reports, writing a baseline."""
import json
import xml.etree.ElementTree as ElementTree

import pytest
import yaml

from modeltest.gate import check_gate
from runners.cli import main

METRICS = {"overall": {"accuracy": 62.5, "exact_match": 70.0, "total": 8, "pass": 5},
           "MSVD": {"accuracy": 40.0}}


def test_rules():
    baseline = {"m": {"t": {"accuracy": {"min": 60}, "exact_match": {"value": 71, "tolerance": 2},
                            "MSVD/accuracy": {"value": 45, "tolerance": 1},
                            "final_score": {"min": 1}}}}
    checks = {c.metric: c for c in check_gate(baseline, "m", "t", METRICS)}
    assert checks["accuracy"].passed and checks["exact_match"].passed
    assert not checks["MSVD/accuracy"].passed and "below by 4.00" in checks["MSVD/accuracy"].detail
    assert not checks["final_score"].passed and checks["final_score"].value is None


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("gated")
    assert main(["task=vqav2", "model=demo_qwen2_vl", f"output_dir={out}"]) == 0
    return out


def _baseline(tmp_path, rules):
    path = tmp_path / "baseline.yaml"
    path.write_text(yaml.safe_dump({"demo_qwen2_vl": {"vqav2": rules}}))
    return path


def test_gate_existing_run_pass_and_fail(finished_run, tmp_path, monkeypatch):
    summary = finished_run / "results" / "summary.json"
    step_summary = tmp_path / "step_summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step_summary))
    ok = _baseline(tmp_path, {"accuracy": {"min": 0.0}})
    assert main(["runner=gate", f"gate.baseline={ok}", f"runner.summary={summary}"]) == 0
    bad = _baseline(tmp_path, {"accuracy": {"min": 99.0}, "exact_match": {"min": 0.0}})
    assert main(["runner=gate", f"gate.baseline={bad}", f"runner.summary={summary}"]) == 3
    suite = ElementTree.parse(finished_run / "results" / "junit.xml").getroot()[0]
    assert suite.get("tests") == "2" and suite.get("failures") == "1"
    names = {case.get("name"): case.find("failure") is not None
             for case in suite.findall("testcase")}
    assert names == {"accuracy": True, "exact_match": False}
    assert suite.find("properties/property[@name='data']").get("value") == "demo"
    markdown = (finished_run / "results" / "gate_summary.md").read_text()
    assert "FAIL" in markdown and "| accuracy |" in markdown and "**DEMO DATA**" in markdown
    assert step_summary.read_text().count("modeltest gate") == 2


def test_gate_on_an_accuracy_run_sets_the_exit_code(finished_run, tmp_path):
    bad = _baseline(tmp_path, {"accuracy": {"value": 100.0, "tolerance": 0.5}})
    # resumes the finished run (no generation) and gates it
    assert main(["task=vqav2", "model=demo_qwen2_vl", f"output_dir={finished_run}",
                 f"gate.baseline={bad}"]) == 3


def test_write_baseline_then_pass_it(finished_run, tmp_path):
    path = tmp_path / "new_baseline.yaml"
    summary = finished_run / "results" / "summary.json"
    assert main(["runner=gate", f"gate.write_baseline={path}", f"runner.summary={summary}"]) == 0
    written = yaml.safe_load(path.read_text())
    accuracy = json.loads(summary.read_text())["metrics"]["overall"]["accuracy"]
    assert written["demo_qwen2_vl"]["vqav2"]["accuracy"]["value"] == pytest.approx(accuracy)
    assert "exact_match" in written["demo_qwen2_vl"]["vqav2"]
    assert main(["runner=gate", f"gate.baseline={path}", f"runner.summary={summary}"]) == 0


def test_baseline_problems_fail_before_the_model_loads(tmp_path, capsys):
    missing = tmp_path / "nope.yaml"
    assert main(["task=vqav2", f"output_dir={tmp_path}", f"gate.baseline={missing}"]) == 2
    assert "no such file" in capsys.readouterr().err
    other = tmp_path / "other.yaml"
    other.write_text(yaml.safe_dump({"some_model": {"vqav2": {"accuracy": {"min": 1}}}}))
    assert main(["task=vqav2", f"output_dir={tmp_path}", f"gate.baseline={other}"]) == 2
    assert "no entry for model 'demo_qwen2_vl'" in capsys.readouterr().err
    assert not (tmp_path / "debug" / "samples.jsonl").exists()
