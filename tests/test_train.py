"""runner=train: a real subprocess killed mid-run (SIGTERM, then SIGKILL) and rerun ends with
exactly the weights of an uninterrupted run; data parallelism (dp=2, gloo) averages the
gradients of the global batch; the trained checkpoint loads in every runner; bad settings stop
before loading (exit 2)."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from runners.cli import main
from runners.train import learning_rate_factor
from runners.train_data import DataOrder

ROOT = Path(__file__).resolve().parent.parent
# a short training of the demo Qwen2-VL on easy-VQA: 4 samples a micro-batch, state saved
# every 4 steps
SHORT = ["runner=train", "task=easy_vqa", "model=demo_qwen2_vl_init", "runner.limit=400",
         "runner.micro_batch_size=4", "runner.save_every=4", "runner.log_every=2",
         "runner.warmup_steps=4"]


def _env():
    return dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", PYTHON=sys.executable)


def _train(out: Path, *extra) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "runners.cli", *SHORT, f"output_dir={out}",
                             *extra], cwd=ROOT, env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def _saved_step(out: Path) -> int:
    path = out / "train_state" / "train_state.pt"
    if not path.is_file():
        return 0
    try:
        return torch.load(path, map_location="cpu", weights_only=False)["step"]
    except Exception:   # being replaced this very moment
        return 0


def _kill_after(out: Path, step: int, signum: int, timeout: float = 600) -> str:
    process = _train(out, "runner.max_steps=24")
    deadline = time.monotonic() + timeout
    while _saved_step(out) < step:
        assert process.poll() is None, process.stdout.read()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.killpg(process.pid, signum)
    output = process.communicate(timeout=120)[0]
    assert not (out / "checkpoint").exists(), "the run ended before it was killed"
    return output, process.returncode


def test_a_killed_training_resumes_to_the_weights_of_an_uninterrupted_one(tmp_path):
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    process = _train(straight, "runner.max_steps=24")
    output = process.communicate(timeout=900)[0]
    assert process.returncode == 0, output

    output, code = _kill_after(killed, 4, signal.SIGTERM)
    assert code == 143, output
    assert "interrupted: training state of step" in output and "rerun the same command" in output
    output, code = _kill_after(killed, _saved_step(killed) + 4, signal.SIGKILL)
    assert code == -signal.SIGKILL
    resumed_at = _saved_step(killed)
    process = _train(killed, "runner.max_steps=24")
    output = process.communicate(timeout=900)[0]
    assert process.returncode == 0, output
    assert f"resuming from step {resumed_at} of 24" in output

    expected = load_file(straight / "checkpoint" / "model.safetensors")
    got = load_file(killed / "checkpoint" / "model.safetensors")
    assert expected.keys() == got.keys()
    assert all(torch.equal(expected[k], got[k]) for k in expected)
    rows = [line.split(",")[:4] for line in
            (straight / "results" / "train.csv").read_text().splitlines()]
    assert rows == [line.split(",")[:4] for line in
                    (killed / "results" / "train.csv").read_text().splitlines()]
    summary = json.loads((killed / "results" / "train_summary.json").read_text())
    assert summary["resumed_from_step"] == resumed_at and summary["steps"] == 24
    assert summary["samples_seen"] == 24 * 4 and summary["SPS"] > 0
    # another training into the same folder is refused, naming what differs
    assert main([*SHORT, f"output_dir={killed}", "runner.max_steps=24",
                 "runner.learning_rate=0.5"]) == 2


def test_data_parallel_training_averages_the_global_batch(tmp_path):
    """dp=2 with micro-batches of 4 takes the optimizer steps dp=1 takes with micro-batches
    of 8 (same global batch, same samples): the weights agree to rounding."""
    env = _env()
    common = ["runner.max_steps=2", "runner.save_every=2", "runner.log_every=1"]
    one = subprocess.run([sys.executable, "-m", "runners.cli", *SHORT, *common,
                          "runner.micro_batch_size=8", f"output_dir={tmp_path / 'dp1'}"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert one.returncode == 0, one.stdout + one.stderr
    two = subprocess.run(["bash", "scripts/mm_run.sh", "easy_vqa", "demo_qwen2_vl_init",
                          *SHORT[3:], *common, "runtime.dp=2", "runner=train",
                          f"output_dir={tmp_path / 'dp2'}"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert two.returncode == 0, two.stdout + two.stderr
    a = load_file(tmp_path / "dp1" / "checkpoint" / "model.safetensors")
    b = load_file(tmp_path / "dp2" / "checkpoint" / "model.safetensors")
    start = load_file(Path(os.environ["MODELTEST_CACHE"]) / "demo" / "models" / "qwen2_vl_init"
                      / "model.safetensors")
    assert any(not torch.equal(a[k], start[k]) for k in a)      # it did train
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-5)
    summary = json.loads((tmp_path / "dp2" / "results" / "train_summary.json").read_text())
    assert summary["dp"] == 2 and len(summary["peak_memory_mb_per_rank"]) == 2
    assert summary["SPS_per_device"] == pytest.approx(summary["SPS"] / 2)
    # the trained checkpoint is a model like any other: an accuracy run loads it
    assert main(["task=easy_vqa", "model=demo_qwen2_vl",
                 f"model.model_path={tmp_path / 'dp2' / 'checkpoint'}", "task.limit=8",
                 f"output_dir={tmp_path / 'eval'}"]) == 0


def test_language_only_training_leaves_the_vision_tower_as_it_was(tmp_path):
    assert main([*SHORT, "runner.max_steps=2", "runner.trainable=language",
                 f"output_dir={tmp_path}"]) == 0
    start = load_file(Path(os.environ["MODELTEST_CACHE"]) / "demo" / "models" / "qwen2_vl_init"
                      / "model.safetensors")
    trained = load_file(tmp_path / "checkpoint" / "model.safetensors")
    # the checkpoint's own (published Qwen2-VL) names: visual.*, model.*, lm_head
    vision = [k for k in start if k.startswith("visual.")]
    language = [k for k in start if k.startswith(("model.", "lm_head."))]
    assert vision and language
    assert all(torch.equal(start[k], trained[k]) for k in vision)
    assert any(not torch.equal(start[k], trained[k]) for k in language)
    for name in ("train.csv", "train_summary.json", "loss_curve.png"):
        assert (tmp_path / "results" / name).is_file()
    summary = json.loads((tmp_path / "results" / "train_summary.json").read_text())
    assert summary["trainable"] == "language"
    # parameters, not tensors: the language model's, of the whole model's
    assert summary["trainable_parameters"] == sum(start[k].numel() for k in language)
    assert summary["parameters"] == sum(t.numel() for t in start.values())


@pytest.mark.parametrize("override, message", [
    ("runtime.tp=2", "runner=train is data parallel only"),
    ("runner.trainable=vision", "runner.trainable=vision: must be 'full' or 'language'"),
    ("task=textvqa", "names no training split"),
    ("runner.micro_batch_size=0", "runner.micro_batch_size=0"),
])
def test_bad_settings_stop_before_loading(tmp_path, capsys, override, message):
    assert main([*SHORT, override, f"output_dir={tmp_path}"]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "results").exists()


def test_learning_rate_warms_up_then_decays():
    factors = [learning_rate_factor(s, 4, 20, "cosine", 0.1) for s in range(20)]
    assert factors[:4] == [0.25, 0.5, 0.75, 1.0]
    assert all(a >= b for a, b in zip(factors[3:], factors[4:]))
    assert factors[-1] == pytest.approx(0.1 + 0.9 * 0.5 * (1 + torch.cos(
        torch.tensor(torch.pi * 15 / 16)).item()))
    assert learning_rate_factor(10, 4, 20, "constant", 0.0) == 1.0
    assert learning_rate_factor(19, 0, 20, "linear", 0.0) == pytest.approx(1 / 20)


def test_data_order_depends_on_the_seed_and_the_step_only():
    order = DataOrder(10, 7, micro_batch_size=3, grad_accum=2, dp=2)
    # each epoch is a permutation; the stream runs on across the epoch boundary
    stream = [i for step in range(5) for micro in range(2) for rank in range(2)
              for i in order.indices(step, micro, rank)]
    assert sorted(stream[:10]) == list(range(10)) and sorted(stream[10:20]) == list(range(10))
    again = DataOrder(10, 7, micro_batch_size=3, grad_accum=2, dp=2)
    assert again.indices(3, 1, 1) == order.indices(3, 1, 1)
    assert DataOrder(10, 8, 3, 2, 2).indices(0, 0, 0) != order.indices(0, 0, 0) or \
        DataOrder(10, 8, 3, 2, 2).indices(0, 0, 1) != order.indices(0, 0, 1)
    assert order.steps_for(1.0) == 1 and order.epoch_at(5) == 6.0
