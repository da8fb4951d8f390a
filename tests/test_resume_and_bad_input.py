"""Crash-proof runs: resume after kill -9, refusal to mix runs, bad media, determinism."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from runners.cli import main
from runners.demo import ensure_asset

ROOT = Path(__file__).resolve().parent.parent
TIMING_FIELDS = {"e2e_time", "first_token_time"}


def summary_of(out: Path) -> dict:
    return json.loads((out / "results" / "summary.json").read_text())


def sample_lines(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "debug" / "samples.jsonl").read_text().splitlines()]


def without_timing(records):
    return sorted(({k: v for k, v in r.items() if k not in TIMING_FIELDS} for r in records),
                  key=lambda r: str(r["question_id"]))


def cli_command(*args):
    return [sys.executable, "-m", "runners.cli", *args]


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("uninterrupted")
    assert main(["task=videobench", "model=demo_qwen2_vl", "runtime.batch_size=1",
                 f"output_dir={out}"]) == 0
    return out


def test_same_command_twice_gives_the_same_samples(reference_run, tmp_path):
    assert main(["task=videobench", "model=demo_qwen2_vl", "runtime.batch_size=1",
                 f"output_dir={tmp_path}"]) == 0
    assert without_timing(sample_lines(tmp_path)) == without_timing(sample_lines(reference_run))
    summary = summary_of(tmp_path)
    assert summary["seed"] == 1234 and "transformers" in summary["versions"]


def _kill_mid_run(out: Path) -> list[str]:
    """Start a run, SIGKILL it as soon as its first batch is on disk; the command line."""
    args = cli_command("task=videobench", "model=demo_qwen2_vl", "runtime.batch_size=1",
                       f"output_dir={out}")
    samples = out / "debug" / "samples.jsonl"
    process = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline and process.poll() is None:
        if samples.exists() and samples.stat().st_size > 0:
            break
        time.sleep(0.002)
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    return args


def test_kill_9_then_rerun_matches_an_uninterrupted_run(reference_run, tmp_path):
    for attempt in range(5):   # each attempt in a fresh folder, until a kill lands mid-run
        out = tmp_path / f"killed{attempt}"
        args = _kill_mid_run(out)
        samples = out / "debug" / "samples.jsonl"
        done = len(samples.read_text().splitlines()) if samples.exists() else 0
        if 0 < done < 12:
            break
    else:
        pytest.fail("the run was never caught mid-way")
    # a torn last line, as a kill in the middle of a write leaves it
    with open(samples, "a") as handle:
        handle.write('{"question_id": "MSVD/MSVD_0", "subj')
    assert subprocess.run(args, cwd=ROOT, capture_output=True).returncode == 0
    records = sample_lines(out)
    assert len(records) == 12 and len({r["fingerprint"] for r in records}) == 12
    assert without_timing(records) == without_timing(sample_lines(reference_run))
    assert summary_of(out)["metrics"] == summary_of(reference_run)["metrics"]


def test_rerun_with_other_settings_is_refused(reference_run, tmp_path, capsys):
    out = tmp_path / "mixed"
    shutil.copytree(reference_run, out)
    assert main(["task=videobench", "model=demo_qwen2_vl", f"output_dir={out}",
                 "model.vision.max_frames=2"]) == 2
    err = capsys.readouterr().err
    assert "differs in: model.vision.max_frames" in err and "runtime.resume=false" in err
    assert main(["task=videobench", "model=demo_internvl", f"output_dir={out}"]) == 2
    assert main(["task=videobench", "model=demo_qwen2_vl", f"output_dir={out}",
                 "model.vision.max_frames=2", "runtime.resume=false"]) == 0
    assert len(sample_lines(out)) == 12


def _textvqa_with_bad_images(tmp_path) -> Path:
    source = ensure_asset("data", "textvqa")
    data = tmp_path / "textvqa"
    shutil.copytree(source, data)
    lines = (data / "textvqa_val.jsonl").read_text().splitlines()
    first, second, third = (json.loads(lines[i])["image"] for i in (0, 1, 2))
    (data / first).unlink()                                    # missing
    (data / second).write_bytes(b"\x89PNG\r\n\x1a\n not really")  # corrupt
    Image.new("RGB", (2, 600)).save(data / third)              # decodes, but the model rejects it
    return data / "textvqa_val.jsonl"


def test_bad_images_become_errors_and_the_run_goes_on(tmp_path):
    data = _textvqa_with_bad_images(tmp_path)
    out = tmp_path / "out"
    assert main(["task=textvqa", f"task.local_dataset_path={data}", f"output_dir={out}",
                 "runtime.batch_size=4", "runtime.max_error_rate=0.5"]) == 0
    summary = summary_of(out)
    assert summary["num_errors"] == 3 and summary["metrics"]["overall"]["errors"] == 3
    listed = {e["question_id"]: e["error"] for e in summary["errors"]}
    assert "image not found" in listed[34602] and "cannot decode image" in listed[34603]
    assert "aspect ratio" in listed[34604]
    records = {r["question_id"]: r for r in sample_lines(out)}
    # the rest of that batch was retried one by one and still has predictions
    assert records[34605]["error"] is None and records[34605]["prediction"]
    assert all(records[q]["score"] == 0.0 for q in (34602, 34603, 34604))


def test_too_many_errors_abort_with_a_clear_message(tmp_path, capsys):
    data = _textvqa_with_bad_images(tmp_path)
    out = tmp_path / "out"
    assert main(["task=textvqa", f"task.local_dataset_path={data}", f"output_dir={out}",
                 "runtime.batch_size=4"]) == 4
    err = capsys.readouterr().err
    assert "runtime.max_error_rate=0.05" in err and "samples.jsonl" in err
    # whole batches are kept, up to the one whose errors crossed the limit (where the bad
    # samples fall depends on length bucketing)
    kept = sample_lines(out)
    assert len(kept) % 4 == 0 and any(record["error"] for record in kept)
    assert not (out / "results" / "summary.json").exists()


def test_corrupt_video_is_an_error_of_that_sample(tmp_path):
    source = ensure_asset("data", "videobench")
    data = tmp_path / "vb"
    shutil.copytree(source, data)
    (data / "Eval_video" / "MSVD" / "msvd_000.mp4").write_bytes(b"\x00" * 100)
    out = tmp_path / "out"
    assert main(["task=videobench", f"task.local_dataset_path={data / 'Eval_QA'}",
                 "task.subjects=[MSVD]", f"output_dir={out}",
                 "runtime.max_error_rate=0.5"]) == 0
    summary = summary_of(out)
    assert summary["num_errors"] == 1 and "msvd_000.mp4" in summary["errors"][0]["error"]
