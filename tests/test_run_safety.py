"""Runs that never freeze a failure and never mix two runs: failed samples are retried on a
rerun, the error rate is checked on the final totals, one run per output folder (lock), the
data is part of the run identity, atomic reports, a damaged identity file is a clear error."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from modeltest.reports.atomic import write_text_atomic
from runners.cli import main
from runners.demo import ensure_asset
from runners.output_lock import LOCK_NAME

ROOT = Path(__file__).resolve().parent.parent


def summary_of(out: Path) -> dict:
    return json.loads((out / "results" / "summary.json").read_text())


def sample_lines(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "debug" / "samples.jsonl").read_text().splitlines()]


def textvqa_copy(tmp_path: Path) -> tuple[Path, list[str]]:
    data = tmp_path / "textvqa"
    shutil.copytree(ensure_asset("data", "textvqa"), data)
    lines = (data / "textvqa_val.jsonl").read_text().splitlines()
    return data / "textvqa_val.jsonl", [json.loads(line)["image"] for line in lines]


def test_failed_samples_are_retried_and_the_final_error_rate_is_checked(tmp_path, capsys):
    jsonl, images = textvqa_copy(tmp_path)
    hidden = tmp_path / "hidden"
    hidden.mkdir()
    for name in images[:4]:                       # 4 of 12 images missing
        shutil.move(jsonl.parent / name, hidden / Path(name).name)
    out = tmp_path / "out"
    args = ["task=textvqa", f"task.local_dataset_path={jsonl}", f"output_dir={out}",
            "task.limit=6", "runtime.batch_size=6"]
    # 4 of 6 failed: the run stops with exit code 4
    assert main(args + ["runtime.max_error_rate=0.5"]) == 4
    assert "4 of 6 samples failed" in capsys.readouterr().err
    # rerun with the files still missing: they are tried again (not frozen), still exit 4,
    # also when every sample already has a record (nothing pending besides the failures)
    assert main(args + ["runtime.max_error_rate=0.5"]) == 4
    captured = capsys.readouterr()
    assert "retrying 4 that failed" in captured.out and "4 of 6" in captured.err
    for name in images[:4]:                       # the files come back
        shutil.move(hidden / Path(name).name, jsonl.parent / name)
    assert main(args) == 0
    summary = summary_of(out)
    assert summary["num_errors"] == 0 and summary["num_samples"] == 6
    records = sample_lines(out)
    assert len(records) == 6 and all(r["error"] is None for r in records)


def test_a_rerun_checks_the_error_rate_on_its_final_totals(tmp_path, capsys):
    jsonl, images = textvqa_copy(tmp_path)
    (jsonl.parent / images[0]).unlink()
    out = tmp_path / "out"
    args = ["task=textvqa", f"task.local_dataset_path={jsonl}", f"output_dir={out}",
            "task.limit=4", "runtime.batch_size=4"]
    assert main(args + ["runtime.max_error_rate=0.5"]) == 0       # 1 of 4 is allowed here
    assert summary_of(out)["num_errors"] == 1
    capsys.readouterr()
    # the same folder with a stricter limit: the failed sample is retried, fails again, and
    # the final totals (1 of 4 > 0.05) end the run with exit code 4, reports written
    assert main(args) == 4
    err = capsys.readouterr().err
    assert "1 of 4 samples failed" in err and "runtime.max_error_rate=0.05" in err
    assert summary_of(out)["num_errors"] == 1


def _start(args: list[str], **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "runners.cli", *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, **kwargs)


def _wait_for(condition, process: subprocess.Popen, seconds: float = 300) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if condition():
            return
        if process.poll() is not None:
            pytest.fail(f"the run ended early: {process.stderr.read()[-2000:]}")
        time.sleep(0.05)
    pytest.fail("timed out")


def test_a_second_run_into_a_locked_folder_stops_naming_the_holder(tmp_path, capsys):
    out = tmp_path / "out"
    # built now, so that the second run's only line is its error (a first use of the demo
    # says "building the demo model ..." first; test files run in any order)
    ensure_asset("models", "internvl")
    capsys.readouterr()
    first = _start(["task=textvqa", "runtime.batch_size=1", f"output_dir={out}"])
    lock = out / LOCK_NAME
    try:
        _wait_for(lambda: lock.is_file() and lock.read_text().strip(), first)
        # frozen while it holds the lock: the demo run would otherwise finish (seconds) while
        # the second run is still composing its config under a loaded machine
        os.killpg(first.pid, signal.SIGSTOP)
        assert first.poll() is None and lock.is_file(), "the first run ended before it was held"
        # another model into the same folder, while the first runs
        started = time.perf_counter()
        assert main(["task=textvqa", "model=demo_internvl", f"output_dir={out}"]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and f"pid {first.pid}" in err and str(out) in err
        assert time.perf_counter() - started < 60
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    # the killed run's lock is stale: the same command takes it over and finishes
    assert lock.read_text().split()[0] == str(first.pid)
    assert main(["task=textvqa", "runtime.batch_size=12", f"output_dir={out}"]) == 0
    assert summary_of(out)["num_samples"] == 12


def _snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != LOCK_NAME}


def test_other_data_or_limit_is_refused_and_writes_nothing(tmp_path, capsys):
    jsonl, _ = textvqa_copy(tmp_path)
    out = tmp_path / "out"
    base = ["task=textvqa", f"task.local_dataset_path={jsonl}", f"output_dir={out}",
            "runtime.batch_size=4"]
    assert main(base + ["task.limit=4"]) == 0
    before = _snapshot(out)
    capsys.readouterr()
    # another task.limit: another sample set
    assert main(base + ["task.limit=3"]) == 2
    err = capsys.readouterr().err
    assert "data.limit" in err and "data.samples" in err and "runtime.resume=false" in err
    # the same file name with other content (a question edited)
    text = jsonl.read_text().replace('"question": "', '"question": "Really, ', 1)
    jsonl.write_text(text)
    assert main(base + ["task.limit=4"]) == 2
    assert "data.files.local_dataset_path.sha256" in capsys.readouterr().err
    # another dataset file
    other = jsonl.with_name("other.jsonl")
    shutil.copy(jsonl, other)
    shutil.copy(jsonl.with_name("textvqa_val_annotations.json"),
                other.with_name("other_annotations.json"))
    assert main(["task=textvqa", f"task.local_dataset_path={other}", f"output_dir={out}",
                 "task.limit=4"]) == 2
    assert "data.files.local_dataset_path" in capsys.readouterr().err
    assert _snapshot(out) == before     # not even config.yaml was rewritten


def test_a_damaged_identity_file_is_a_clear_error(tmp_path, capsys):
    out = tmp_path / "out"
    args = ["task=textvqa", "task.limit=2", f"output_dir={out}"]
    assert main(args) == 0
    identity = out / "debug" / "run_identity.json"
    identity.write_text(identity.read_text()[:40])      # as a crash mid-write would leave it
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "run_identity.json is damaged" in err and "runtime.resume=false" in err
    assert main(args + ["runtime.resume=false"]) == 0


def test_reports_and_identity_are_written_atomically(tmp_path, monkeypatch):
    target = tmp_path / "summary.json"
    write_text_atomic(target, "old")
    # a crash in the middle of writing leaves the old file whole, and no temporary file
    import modeltest.reports.atomic as atomic

    def broken_replace(source, destination):
        raise KeyboardInterrupt
    monkeypatch.setattr(atomic.os, "replace", broken_replace)
    with pytest.raises(KeyboardInterrupt):
        write_text_atomic(target, "new")
    monkeypatch.undo()
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["summary.json"]
    # every report writer and the identity go through the atomic helper
    for module in ("modeltest/reports/summary.py", "modeltest/reports/result_csv.py",
                   "modeltest/reports/result_text.py", "modeltest/reports/submission.py",
                   "modeltest/reports/clip_report.py", "modeltest/reports/performance_report.py",
                   "modeltest/reports/gate_report.py", "runners/resume.py",
                   "runners/evaluation.py"):
        source = (ROOT / module).read_text()
        assert ".write_text(" not in source and 'open(path, "w"' not in source, module
        assert "atomic" in source, module


def test_read_only_or_full_output_folder_is_one_line(tmp_path, capsys):
    ensure_asset("data", "textvqa")
    ensure_asset("models", "qwen2_vl")
    capsys.readouterr()
    # a folder that cannot be created (a file is in the way)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["task=textvqa", "task.limit=2", f"output_dir={blocker / 'out'}"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(blocker / "out") in err
    # a full disk: the file-size limit makes writes past 2000 bytes fail as a full disk would
    out = tmp_path / "full"
    script = ("import resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
              "resource.setrlimit(resource.RLIMIT_FSIZE, (2000, 2000)); "
              "from runners.cli import main; sys.exit(main(sys.argv[1:]))")
    result = subprocess.run([sys.executable, "-c", script, "task=textvqa", "task.limit=12",
                             f"output_dir={out}"], cwd=ROOT, capture_output=True, text=True,
                            timeout=600)
    lines = [line for line in result.stderr.splitlines() if line.startswith("modeltest:")]
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr and len(lines) == 1
    assert "cannot write" in lines[0] and str(out) in lines[0]
