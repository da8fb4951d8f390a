"""Tensor and data parallelism over torch.distributed (gloo on CPU) give the same greedy
predictions as one process; batch 8 gives the same as batch 1."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from runners.cli import main

ROOT = Path(__file__).resolve().parent.parent


def predictions(out: Path) -> dict:
    lines = (out / "debug" / "samples.jsonl").read_text().splitlines()
    return {json.loads(l)["question_id"]: json.loads(l)["prediction"] for l in lines}


@pytest.fixture(scope="module")
def single_process(tmp_path_factory):
    out = tmp_path_factory.mktemp("single")
    assert main(["task=videobench", "model=demo_qwen2_vl", f"output_dir={out}"]) == 0
    return out


@pytest.mark.parametrize("tp, dp", [(2, 1), (1, 2), (2, 2)])
def test_parallel_predictions_match_one_process(single_process, tmp_path, tp, dp):
    env = dict(os.environ, PYTHON=sys.executable, NPROC=str(tp * dp), OMP_NUM_THREADS="1")
    result = subprocess.run(
        ["bash", "scripts/mm_run.sh", "videobench", "demo_qwen2_vl", f"runtime.tp={tp}",
         f"runtime.dp={dp}", f"output_dir={tmp_path}"], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert predictions(tmp_path) == predictions(single_process)
    summary = json.loads((tmp_path / "results" / "summary.json").read_text())
    assert (summary["tp"], summary["dp"], summary["num_samples"]) == (tp, dp, 12)
    assert summary["metrics"] == json.loads(
        (single_process / "results" / "summary.json").read_text())["metrics"]


def test_world_size_must_match_tp_times_dp(capsys, tmp_path):
    assert main(["task=textvqa", "runtime.tp=2", f"output_dir={tmp_path}"]) == 2
    assert "runtime.tp=2 × runtime.dp=1 = 2 processes, but 1 were started" in \
        capsys.readouterr().err


@pytest.mark.parametrize("model", ["demo_qwen2_vl", "demo_internvl", "demo_deepseek_vl"])
def test_batch_8_matches_batch_1(model, tmp_path):
    for batch in (1, 8):
        assert main([f"model={model}", "task=textvqa", f"runtime.batch_size={batch}",
                     f"output_dir={tmp_path / str(batch)}"]) == 0
    assert predictions(tmp_path / "1") == predictions(tmp_path / "8")
