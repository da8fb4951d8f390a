"""Ctrl-C and SIGTERM at any moment of a data-parallel run (issue 20, item 8): while the
workers import torch, set up the process group, load, generate or write reports, a stopped
run says one line and exits 130 / 143 with every worker gone: no traceback, no c10 stack dump
(a rank whose peer has gone). Real processes: scripts/mm_run.sh with runtime.dp=2."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from runners.demo import ensure_asset

ROOT = Path(__file__).resolve().parent.parent
NOISE = ("Traceback", "TCPStore", "frame #", "Exception ignored", "KeyboardInterrupt",
         "c10d", "[W")


@pytest.fixture(scope="module", autouse=True)
def demo_assets():
    ensure_asset("data", "textvqa")
    ensure_asset("models", "qwen2_vl")


def _descendants(pid: int) -> list[int]:
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
                found.append(int(entry.name))
                frontier.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _start_run(out: Path) -> subprocess.Popen:
    """The data-parallel demo run, in a session of its own (its process group is the job)."""
    env = dict(os.environ, PYTHON=sys.executable, OMP_NUM_THREADS="1")
    return subprocess.Popen(
        ["bash", "scripts/mm_run.sh", "textvqa", "demo_qwen2_vl", "runtime.dp=2",
         "runtime.batch_size=1", f"output_dir={out}"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True)


def _stop_at(out: Path, delay: float, signum: int) -> tuple[int, str, list[int]]:
    process = _start_run(out)
    time.sleep(delay)
    workers = _descendants(process.pid)
    try:
        if signum == signal.SIGINT:
            os.killpg(process.pid, signal.SIGINT)     # what Ctrl-C in a terminal does
        else:
            os.kill(process.pid, signal.SIGTERM)       # a job scheduler stops the launcher
        _, err = process.communicate(timeout=180)
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return process.returncode, err, workers


@pytest.mark.parametrize("delay", [0.2, 0.6, 1.5, 3.0, 4.5, 6.0, 8.0, 11.0])
def test_ctrl_c_at_any_moment_is_one_line(tmp_path, delay):
    code, err, workers = _stop_at(tmp_path / "out", delay, signal.SIGINT)
    if code == 0:       # the run finished first: nothing to check at this moment
        pytest.skip(f"the run ended within {delay} s")
    assert code == 130, err[-3000:]
    assert not [noise for noise in NOISE if noise in err], err[-3000:]
    lines = [line for line in err.splitlines() if line.startswith("interrupted:")]
    assert len(lines) == 1, err[-3000:]
    deadline = time.time() + 10
    while time.time() < deadline and any(_alive(w) for w in workers):
        time.sleep(0.1)
    assert not any(_alive(w) for w in workers)


@pytest.mark.parametrize("delay", [0.5, 3.0])
def test_sigterm_to_the_launcher_is_one_line_and_143(tmp_path, delay):
    code, err, workers = _stop_at(tmp_path / "out", delay, signal.SIGTERM)
    if code == 0:
        pytest.skip(f"the run ended within {delay} s")
    assert code == 143, err[-3000:]
    assert not [noise for noise in NOISE if noise in err], err[-3000:]
    assert len([line for line in err.splitlines() if line.startswith("interrupted:")]) == 1


def _stop_after_the_last_sample(out: Path, offset: float) -> tuple[int, str]:
    """Ctrl-C `offset` seconds after the progress bar reached its end: the moments where the
    ranks score, write the reports and leave."""
    process = _start_run(out)
    seen: list[str] = []
    reader = threading.Thread(target=lambda: seen.extend(iter(lambda: process.stderr.read(1), "")))
    reader.start()
    try:
        deadline = time.time() + 170
        while "12/12" not in "".join(seen) and process.poll() is None and time.time() < deadline:
            time.sleep(0.01)
        time.sleep(offset)
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=180)
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        reader.join()
    return process.returncode, "".join(seen)


@pytest.mark.parametrize("offset", [0.5, 1.0])
def test_ctrl_c_while_the_finished_run_leaves(tmp_path, offset):
    """A run whose reports are written either ends 0 or says the one line: the interpreter's
    teardown (a second or two with torch) once let the default action kill both ranks
    silently with 130."""
    code, err = _stop_after_the_last_sample(tmp_path / "out", offset)
    lines = [line for line in err.splitlines() if line.startswith("interrupted:")]
    if code == 0:
        assert not lines, err[-3000:]
        assert (tmp_path / "out" / "results" / "summary.json").is_file()
    else:
        assert code == 130 and len(lines) == 1, err[-3000:]
    assert not [noise for noise in NOISE if noise in err], err[-3000:]


def test_a_repeat_that_lands_while_the_line_is_printed_still_leaves_the_line(tmp_path):
    """Ctrl-C reaches a starting worker twice within milliseconds (the terminal's, then the
    launcher's copy): the second lands while the first prints. Simulated exactly: the
    handler's print is preceded by the second delivery."""
    script = (
        "import os, signal\n"
        "from runners import interrupt\n"
        "interrupt.install_early_handlers()\n"
        "say = interrupt._say_once\n"
        "def say_after_a_repeat(line):\n"
        "    os.kill(os.getpid(), signal.SIGINT)\n"
        "    [None for _ in range(100000)]   # bytecodes: the repeat's handler runs here\n"
        "    say(line)\n"
        "interrupt._say_once = say_after_a_repeat\n"
        "os.kill(os.getpid(), signal.SIGINT)\n"
        "[None for _ in range(100000)]\n"
        "print('not stopped')\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 130 and done.stdout == "", (done.stdout, done.stderr)
    assert done.stderr.splitlines() == [
        "interrupted: nothing was written yet; rerun the same command to start again"]
