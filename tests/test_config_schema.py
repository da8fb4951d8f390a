"""The config's schema: every numeric key of every runner and task, and a gate baseline's
rules, are checked before anything loads (one line, exit code 2); defaults live in conf/."""
import json

import pytest
import yaml

import runners.accuracy
import runners.performance
from runners.cli import main
from runners.config import ConfigError, compose, to_container
from runners.demo import ensure_asset
from runners.schema import check_config


@pytest.fixture()
def nothing_loads(monkeypatch, capsys):
    ensure_asset("data", "textvqa")
    capsys.readouterr()

    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded")
    monkeypatch.setattr(runners.accuracy, "create_adapter", refuse)
    monkeypatch.setattr(runners.performance, "create_adapter", refuse)


def one_line(capsys, *args) -> str:
    assert main(list(args)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


@pytest.mark.parametrize("overrides, expected", [
    (["task.max_new_tokens=0"], "task.max_new_tokens=0: must be at least 1"),
    (["model.generation.max_new_tokens=0"], "model.generation.max_new_tokens=0: must be at least 1"),
    (["runtime.dp=none"], "runtime.dp=none: not a whole number"),
    (["runtime.dp=0"], "runtime.dp=0: must be at least 1"),
    (["runtime.resume=maybe"], "runtime.resume=maybe: not true or false"),
    (["runtime.max_error_rate=2"], "runtime.max_error_rate=2: must be between 0 and 1"),
    (["task.skip_bad_lines=3"], "task.skip_bad_lines=3: not true or false"),
    (["model.dtype=int4"], "model.dtype=int4: must be 'bf16' or"),
    (["runner=performance", "runner.batch_sizes=[0]"], "runner.batch_sizes[0]=0: must be at least 1"),
    (["runner=performance", "runner.batch_sizes=abc"], "runner.batch_sizes=abc: must be a list"),
    (["runner=performance", "runner.max_output_length=0"],
     "runner.max_output_length=0: must be at least 1"),
    (["runner=performance", "runner.warmup=-1"], "runner.warmup=-1: must be at least 0"),
    (["runner=clip_compare", "runner.bootstrap=0"], "runner.bootstrap=0: must be at least 1"),
    (["runner.judge.batch_size=0"], "runner.judge.batch_size=0: must be at least 1"),
    (["gate.tolerance=-1"], "gate.tolerance=-1: must be at least 0"),
])
def test_bad_numbers_fail_before_anything_loads(nothing_loads, capsys, tmp_path, overrides,
                                                 expected):
    err = one_line(capsys, "task=textvqa", *overrides, f"output_dir={tmp_path / 'out'}")
    assert expected in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("rule, expected", [
    ({"min": "abc"}, "accuracy.min='abc': not a number"),
    ({"value": 50, "tolerance": "1"}, "accuracy.tolerance='1': not a number"),
    ({"value": 50, "tolerance": -1}, "accuracy.tolerance=-1: must be at least 0"),
    ({"max": 3}, "expected {min: x} or {value: x, tolerance: t}"),
    ({"min": 1, "tolerence": 2}, "unknown key(s) tolerence"),
])
def test_bad_baseline_rules_fail_before_anything_loads(nothing_loads, capsys, tmp_path, rule,
                                                       expected):
    baseline = tmp_path / "baseline.yaml"
    baseline.write_text(yaml.safe_dump({"demo_qwen2_vl": {"textvqa": {"accuracy": rule}}}))
    err = one_line(capsys, "task=textvqa", f"gate.baseline={baseline}",
                   f"output_dir={tmp_path / 'out'}")
    assert expected in err and str(baseline) in err
    assert not (tmp_path / "out").exists()


def test_every_composed_config_fits_the_schema():
    """Each model, task and runner yaml, as shipped, passes the schema (defaults are in
    conf/ and complete)."""
    from runners.config import available

    for model in available("model"):
        check_config(to_container(compose([f"model={model}"])))
    for task in available("task"):
        check_config(to_container(compose([f"task={task}"])))
    for runner in available("runner"):
        check_config(to_container(compose([f"runner={runner}"])))


def test_a_missing_key_is_named():
    cfg = to_container(compose([]))
    del cfg["runtime"]["batch_size"]
    with pytest.raises(ConfigError, match="runtime.batch_size: missing"):
        check_config(cfg)


def test_dp_auto_is_the_default_and_is_resolved_by_the_launcher(monkeypatch):
    from runners.config import parallel_sizes
    from runners.launch import preflight, visible_devices

    assert to_container(compose([]))["runtime"]["dp"] == "auto"
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2,3")
    assert visible_devices() == 4
    code, overrides, nproc = preflight(["runtime.tp=2", "task=textvqa"])
    assert code is None and overrides[-1] == "runtime.dp=2" and nproc == 4
    monkeypatch.setenv("WORLD_SIZE", "6")
    assert parallel_sizes({"tp": 2, "dp": "auto"}) == (2, 3)
    assert parallel_sizes({"tp": 1, "dp": 2}) == (1, 2)


def test_malformed_vqav2_ids_name_file_and_entry(capsys, tmp_path):
    folder = ensure_asset("data", "vqav2")
    questions = json.loads((folder / "v2_OpenEnded_mscoco_val2014_questions.json").read_text())
    questions["questions"][2]["image_id"] = "not-a-number"
    bad = tmp_path / "questions.json"
    bad.write_text(json.dumps(questions))
    capsys.readouterr()     # the demo build's lines
    err = one_line(capsys, "task=vqav2", f"task.question_file={bad}",
                   f"output_dir={tmp_path / 'out'}")
    assert f"{bad}#questions[2]: image_id 'not-a-number' is not a number" in err
