"""scripts/mm_run.sh never leaves workers behind, and a stopped run says one line:
SIGKILL of the launcher kills its workers; Ctrl-C (SIGINT to the process group) and SIGTERM
end with "interrupted: N of M samples kept in ...", exit 130 / 143, no traceback."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runners.cli import main
from runners.demo import ensure_asset

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module", autouse=True)
def demo_assets():
    ensure_asset("data", "textvqa")
    ensure_asset("models", "qwen2_vl")


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def start_mm_run(out: Path, *extra: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHON=sys.executable, OMP_NUM_THREADS="1")
    return subprocess.Popen(
        ["bash", "scripts/mm_run.sh", "textvqa", "demo_qwen2_vl", "runtime.dp=2",
         "runtime.batch_size=1", f"output_dir={out}", *extra],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True)


def wait_for_first_batch(process: subprocess.Popen, out: Path) -> None:
    samples = out / "debug" / "samples.jsonl"
    deadline = time.time() + 400
    while time.time() < deadline and process.poll() is None:
        if samples.exists() and samples.stat().st_size > 0:
            return
        time.sleep(0.05)
    pytest.fail(f"no batch finished: {process.poll()} {process.stderr.read()[-2000:]}")


def test_sigkill_of_mm_run_kills_every_worker(tmp_path):
    out = tmp_path / "out"
    process = start_mm_run(out)
    try:
        wait_for_first_batch(process, out)
        launchers = children(process.pid)   # mm_run.sh waits for the launcher
        assert len(launchers) == 1
        workers = children(launchers[0])
        assert len(workers) == 2
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        deadline = time.time() + 30
        while time.time() < deadline and any(alive(w) for w in workers):
            time.sleep(0.1)
        assert not any(alive(w) for w in workers), "workers outlived the launcher"
        # and nothing writes into the folder any more
        size = (out / "debug" / "samples.jsonl").stat().st_size
        time.sleep(3)
        assert (out / "debug" / "samples.jsonl").stat().st_size == size
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_ctrl_c_on_mm_run_is_one_line_and_exit_130(tmp_path):
    out = tmp_path / "out"
    process = start_mm_run(out)
    wait_for_first_batch(process, out)
    workers = [w for launcher in children(process.pid) for w in [launcher, *children(launcher)]]
    os.killpg(process.pid, signal.SIGINT)       # what Ctrl-C in the terminal does
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err[-3000:]
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("interrupted:")]
    assert len(lines) == 1, err[-3000:]
    samples = out / "debug" / "samples.jsonl"
    part = out / "debug" / "samples.dp1.jsonl"     # rank 1's records, merged by a rerun
    in_part = len(part.read_text().splitlines()) if part.exists() else 0
    kept = len(samples.read_text().splitlines()) + in_part
    where = " and the data-parallel parts beside it (samples.dp*.jsonl)" if in_part else ""
    assert lines[0] == (f"interrupted: {kept} of 12 samples kept in {samples}{where}; "
                        "rerun the same command to resume")
    assert not any(alive(w) for w in workers)


def test_sigterm_on_a_single_process_run(tmp_path):
    out = tmp_path / "out"
    process = subprocess.Popen(
        [sys.executable, "-m", "runners.cli", "task=textvqa", "runtime.batch_size=1",
         f"output_dir={out}"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    wait_for_first_batch(process, out)
    process.terminate()
    _, err = process.communicate(timeout=120)
    assert process.returncode == 143 and "Traceback" not in err
    assert [line for line in err.splitlines() if line.startswith("interrupted:")] == [
        f"interrupted: {len((out / 'debug' / 'samples.jsonl').read_text().splitlines())} of 12 "
        f"samples kept in {out / 'debug' / 'samples.jsonl'}; rerun the same command to resume"]
    # the same command resumes and finishes
    assert main(["task=textvqa", "runtime.batch_size=6", f"output_dir={out}"]) == 0
    summary = json.loads((out / "results" / "summary.json").read_text())
    assert summary["num_samples"] == 12


def test_tp_that_does_not_divide_the_heads_stops_before_workers_start(tmp_path):
    env = dict(os.environ, PYTHON=sys.executable)
    result = subprocess.run(
        ["bash", "scripts/mm_run.sh", "textvqa", "demo_qwen2_vl", "runtime.tp=3",
         "runtime.dp=1", f"output_dir={tmp_path / 'out'}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "runtime.tp=3 does not divide" in lines[0]
    assert "num_attention_heads=4" in lines[0] and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_mm_run_without_the_environment_says_to_activate_it(tmp_path):
    bare = tmp_path / "venv"
    subprocess.run(["/usr/bin/python3", "-m", "venv", "--without-pip", str(bare)], check=True)
    env = dict(os.environ, PATH=f"{bare / 'bin'}:/usr/bin:/bin")
    env.pop("PYTHON", None)
    result = subprocess.run(["bash", "scripts/mm_run.sh", "textvqa", "demo_qwen2_vl"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "No module named" not in result.stderr
    assert "cannot import torch" in result.stderr and ". .venv/bin/activate" in result.stderr
    env["PYTHON"] = "no-such-python"
    result = subprocess.run(["bash", "scripts/mm_run.sh", "textvqa", "demo_qwen2_vl"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and ". .venv/bin/activate" in result.stderr
