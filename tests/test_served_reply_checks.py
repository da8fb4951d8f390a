"""Served replies are checked (issue 20, item 5): a stream cut before its end, `content: null`
and a reply longer than max_new_tokens allows are asked again, then become that sample's
error: never an answer. Against the local stub server (tests/served_stub.py)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from runners.cli import main
from runners.demo import ensure_asset
from tests.served_stub import StubServer


def echo_backend(prompt, images, max_new):
    word = "yes" if len(prompt) % 2 else "no"
    return word, [(1, word)]


def _run(url: str, out: Path, *extra: str) -> int:
    return main(["model=served", f"model.endpoint={url}", "model.served_model=stub-model",
                 "task=textvqa", "task.limit=4", "model.backoff=0.01", "model.retries=2",
                 "runtime.concurrency=1", f"model.model_path={ensure_asset('models', 'qwen2_vl')}",
                 f"output_dir={out}", *extra])


def _records(out: Path) -> list[dict]:
    return [json.loads(line) for line in
            (out / "debug" / "samples.jsonl").read_text().splitlines()]


CASES = [("cut", "model.stream=true"), ("cut", "model.stream=false"),
         ("null", "model.stream=false"), ("huge", "model.stream=true"),
         ("huge", "model.stream=false")]


@pytest.mark.parametrize("mode, stream", CASES)
def test_a_bad_reply_is_asked_again(tmp_path, mode, stream):
    with StubServer("openai", echo_backend) as stub:
        assert _run(stub.url, tmp_path / "good", stream) == 0
        good = {r["question_id"]: r["prediction"] for r in _records(tmp_path / "good")}
        stub.bad_reply, stub.bad_replies = mode, 3      # the warm-up, then two of the samples
        assert _run(stub.url, tmp_path / "out", stream) == 0
    records = _records(tmp_path / "out")
    assert all(r["error"] is None for r in records)
    assert {r["question_id"]: r["prediction"] for r in records} == good
    summary = json.loads((tmp_path / "out" / "results" / "summary.json").read_text())
    assert summary["served"]["retried"] >= 2


@pytest.mark.parametrize("mode, stream", CASES)
def test_a_reply_bad_every_time_is_an_error_not_an_answer(tmp_path, mode, stream):
    with StubServer("openai", echo_backend) as stub:
        stub.bad_reply, stub.bad_replies = mode, 10 ** 6
        assert _run(stub.url, tmp_path, stream, "runtime.max_error_rate=1.0") == 0
        sent = len(stub.requests)
    records = _records(tmp_path)
    assert len(records) == 4
    for record in records:
        assert record["prediction"] is None and "a bad reply" in record["error"] \
            or "longer than" in record["error"], record
        assert "after 2 retries" in record["error"]
    assert sent == 3 * (4 + 1)      # each sample and the warm-up: asked three times
    summary = json.loads((tmp_path / "results" / "summary.json").read_text())
    assert summary["num_errors"] == 4
