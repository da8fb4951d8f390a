"""Served models when things go wrong: connection refused, a wrong model name, a non-JSON reply,
a 500 in the middle of a run, transient failures, a request the server rejects; tokens from
the environment; a killed or aborted served run resumes without resending finished samples."""
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from inference.served.prompts import media_url
from runners.cli import main
from runners.demo import ensure_asset
from tests.served_stub import StubServer

ROOT = Path(__file__).resolve().parent.parent


def echo_backend(prompt, images, max_new):
    """Answers from the question alone: deterministic, no model needed."""
    word = "yes" if len(prompt) % 2 else "no"
    return word, [(1, word)]


def records(out: Path) -> list[dict]:
    path = out / "debug" / "samples.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def args(url, out, *extra, api="openai", model="stub-model"):
    return ["model=served", f"model.endpoint={url}", f"model.api={api}",
            f"model.served_model={model}", "task=textvqa", "model.backoff=0.01",
            f"model.model_path={ensure_asset('models', 'qwen2_vl')}", f"output_dir={out}", *extra]


def error_line(capsys) -> str:
    """The run's error: exactly one line (progress bars and retry warnings aside)."""
    lines = [line for line in capsys.readouterr().err.splitlines()
             if line.startswith("modeltest:")]
    assert len(lines) == 1, lines
    print(lines[0])
    return lines[0]


def resent(done: list[dict], bodies: list[dict]) -> list:
    """The finished records whose question and image some request body carries again."""
    sent = [json.dumps(body) for body in bodies]
    return [r for r in done
            if any(json.dumps(r["prompt"])[1:-1] in body
                   and media_url(r["images"][0]).split(",", 1)[1] in body for body in sent)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_connection_refused_is_one_line_naming_the_endpoint(tmp_path, capsys):
    url = f"http://127.0.0.1:{free_port()}"
    assert main(args(url, tmp_path, "model.retries=1")) == 2
    err = error_line(capsys)
    assert url in err and "refused" in err.lower()


@pytest.mark.parametrize("api", ["openai", "triton"])
def test_wrong_model_name(api, tmp_path, capsys):
    with StubServer(api, echo_backend) as stub:
        assert main(args(stub.url, tmp_path, api=api, model="no-such-model")) == 2
    err = error_line(capsys)
    assert "model.served_model=no-such-model" in err and stub.url in err


def test_non_json_reply_stops_the_run_naming_the_endpoint(tmp_path, capsys):
    with StubServer("tgi", echo_backend) as stub:
        stub.non_json = True
        assert main(args(stub.url, tmp_path, "model.stream=false", api="tgi")) == 4
    err = error_line(capsys)
    assert "not JSON" in err and stub.url in err and "rerun the same command" in err
    assert records(tmp_path) == []


@pytest.mark.parametrize("api", ["openai", "vllm_generate", "tgi", "triton", "mindie"])
def test_500_mid_run_keeps_finished_samples_and_a_rerun_sends_only_the_rest(api, tmp_path,
                                                                              capsys):
    with StubServer(api, echo_backend) as stub:
        stub.fail_after = 6            # the warm-up and 5 samples, then 500s
        code = main(args(stub.url, tmp_path, "runtime.concurrency=1", "model.retries=2",
                         api=api))
        first_run = list(stub.requests)
        assert code == 4
        err = error_line(capsys)
        assert "HTTP 500" in err and stub.url in err and "after 2 retries" in err
        done = records(tmp_path)
        # batches of 4 x concurrency: the first batch of 4 finished; the failing batch's
        # answered samples are kept too, its unanswered ones are not recorded
        assert len(done) == 5 and all(r["error"] is None for r in done)
        # the same endpoint, healthy again (another endpoint is another run identity)
        stub.fail_after = None
        stub.requests.clear()
        assert main(args(stub.url, tmp_path, "runtime.concurrency=1", api=api)) == 0
        second_run = list(stub.requests)
    assert len(second_run) == 1 + 7            # the warm-up, then only the 7 left
    assert len(resent(done, first_run)) == 5      # the check sees a resend when there is one
    assert not resent(done, second_run[1:])
    summary = json.loads((tmp_path / "results" / "summary.json").read_text())
    assert summary["num_samples"] == 12 and summary["num_errors"] == 0
    assert len(first_run) == 6 + 1 + 2       # 6 answered, then one request tried 3 times


def test_transient_failures_are_retried_and_counted(tmp_path):
    with StubServer("openai", echo_backend) as stub:
        stub.fail_first = 2
        assert main(args(stub.url, tmp_path, "runtime.concurrency=1")) == 0
    summary = json.loads((tmp_path / "results" / "summary.json").read_text())
    assert summary["served"]["retried"] == 2 and summary["num_errors"] == 0


def test_a_request_the_server_rejects_is_that_samples_error(tmp_path):
    with StubServer("tgi", echo_backend) as stub:
        stub.reject = lambda body: "Input validation error: too long" \
            if "written on the sign" in body["inputs"] else None
        assert main(args(stub.url, tmp_path, "runtime.max_error_rate=0.9", api="tgi")) == 0
    failed = [r for r in records(tmp_path) if r["error"]]
    assert failed and all("HTTP 422" in r["error"] and "too long" in r["error"] for r in failed)
    assert len(records(tmp_path)) == 12


def test_token_from_the_environment_is_sent_and_never_written(tmp_path, monkeypatch):
    monkeypatch.setenv("STUB_TOKEN", "s3cr3t-token")
    with StubServer("openai", echo_backend) as stub:
        assert main(args(stub.url, tmp_path,
                         "+model.headers.Authorization=Bearer $STUB_TOKEN")) == 0
    assert all(h.get("Authorization") == "Bearer s3cr3t-token" for h in stub.headers_seen)
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert b"s3cr3t-token" not in path.read_bytes(), path


def test_missing_token_variable_is_a_config_error(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("STUB_TOKEN", raising=False)
    assert main(args("http://127.0.0.1:9", tmp_path,
                     "+model.headers.Authorization=Bearer $STUB_TOKEN")) == 2
    assert "STUB_TOKEN" in capsys.readouterr().err


def test_kill_9_then_rerun_resends_nothing_finished(tmp_path):
    with StubServer("openai", echo_backend) as stub:
        stub.delay = 0.3
        command = [sys.executable, "-m", "runners.cli",
                   *args(stub.url, tmp_path, "runtime.concurrency=1")]
        process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, start_new_session=True)
        samples = tmp_path / "debug" / "samples.jsonl"
        deadline = time.time() + 300
        while time.time() < deadline and process.poll() is None:
            if samples.exists() and samples.stat().st_size > 0:
                break
            time.sleep(0.01)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        done = records(tmp_path)
        assert 0 < len(done) < 12
        stub.delay = 0.0
        sent_before = len(stub.requests)
        assert main(args(stub.url, tmp_path, "runtime.concurrency=1")) == 0
        resent_bodies = stub.requests[sent_before + 1:]    # after the rerun's warm-up
    assert len(resent_bodies) == 12 - len(done)
    assert not resent(done, resent_bodies)
    assert len(records(tmp_path)) == 12
