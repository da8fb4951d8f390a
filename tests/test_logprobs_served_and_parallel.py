"""runtime.logprobs with a served model (OpenAI `logprobs`/`top_logprobs`, streamed or not,
tokens by id with vLLM's return_tokens_as_token_ids), an API without log-probabilities
refused, data-parallel parts merged, and a resumed run keeping one line per sample."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from runners.cli import main
from runners.demo import ensure_asset
from tests.served_stub import StubServer

ROOT = Path(__file__).resolve().parent.parent
BY_ID = "model.extra_body={return_token_ids: true, return_tokens_as_token_ids: true}"


def bus_backend(prompt, images, max_new):
    return "a red bus", [(11, "a"), (12, " red"), (13, " bus")]


def served(stub, out, *extra):
    return ["model=served", f"model.endpoint={stub.url}", "task=textvqa", f"output_dir={out}",
            *extra]


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("stream", [True, False])
def test_openai_logprobs_by_token_id(tmp_path, stream):
    with StubServer("openai", bus_backend) as stub:
        assert main(served(stub, tmp_path, "runtime.logprobs=3", f"model.stream={stream}",
                           BY_ID)) == 0
        body = stub.requests[-1]
    assert body["logprobs"] is True and body["top_logprobs"] == 3
    records = jsonl(tmp_path / "debug" / "samples.jsonl")
    lines = {line["fingerprint"]: line for line in jsonl(tmp_path / "debug" / "logprobs.jsonl")}
    assert len(lines) == 12
    for record in records:
        assert record["output_ids"] == [11, 12, 13]
        assert lines[record["fingerprint"]]["steps"] == [
            [[t, -0.1], [t + 1, -2.0], [t + 2, -3.0]] for t in (11, 12, 13)]
        with Image.open(record["images"][0]) as image:
            assert record["input"]["image_sizes"] == [list(image.size)]
        assert len(record["input"]["request_sha256"]) == 64


def test_two_served_runs_compare_token_by_token(tmp_path):
    with StubServer("openai", bus_backend) as stub:
        for name in ("a", "b"):
            assert main(served(stub, tmp_path / name, "runtime.logprobs=2", BY_ID)) == 0
        assert main(served(stub, tmp_path / "texts", "runtime.logprobs=2",
                           "model.extra_body={return_token_ids: true}")) == 0
        assert main(served(stub, tmp_path / "no_ids")) == 0
    assert main(["runner=compare", f"runner.a={tmp_path / 'a'}", f"runner.b={tmp_path / 'b'}",
                 f"output_dir={tmp_path / 'cmp'}", "runner.bootstrap=200"]) == 0
    compared = json.loads((tmp_path / "cmp" / "results" / "compare.json").read_text())
    assert compared["identical_ids"] == 12 and compared["changed_samples"] == 0
    assert compared["logprobs"]["tokens"] == 12 * 3 and compared["logprobs"]["max_kl"] == 0
    assert compared["logprobs"]["vendor_criterion"]["passed"] is True
    # token texts (no return_tokens_as_token_ids) cannot be matched with token ids
    assert main(["runner=compare", f"runner.a={tmp_path / 'a'}",
                 f"runner.b={tmp_path / 'texts'}", f"output_dir={tmp_path / 'cmp2'}",
                 "runner.bootstrap=200"]) == 0
    mixed = json.loads((tmp_path / "cmp2" / "results" / "compare.json").read_text())
    assert mixed["logprobs"]["samples_with_other_token_names"] == 12
    assert any("name tokens differently" in note for note in mixed["notes"])
    # a server that returns no token ids: the answer level only, and the report says why
    assert main(["runner=compare", f"runner.a={tmp_path / 'a'}",
                 f"runner.b={tmp_path / 'no_ids'}", f"output_dir={tmp_path / 'cmp3'}",
                 "runner.bootstrap=200"]) == 0
    answers_only = json.loads((tmp_path / "cmp3" / "results" / "compare.json").read_text())
    assert answers_only["token_level"]["samples_without_ids"] == 12
    assert answers_only["identical_ids"] is None and answers_only["verdict"] == "inconclusive"
    assert any("12 sample(s) have no output_ids in one run" in n for n in answers_only["notes"])


def test_an_api_without_logprobs_is_refused(tmp_path, capsys):
    checkpoint = ensure_asset("models", "qwen2_vl")
    capsys.readouterr()
    with StubServer("tgi", bus_backend) as stub:
        assert main(served(stub, tmp_path, "model.api=tgi", f"model.model_path={checkpoint}",
                           "runtime.logprobs=2")) == 2
        assert not stub.requests
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert errors == ["modeltest: error: runtime.logprobs=2: model.api=tgi returns no "
                      "log-probabilities (served: openai)"]


def test_data_parallel_parts_are_merged(tmp_path):
    with StubServer("openai", bus_backend) as stub:
        env = dict(os.environ, PYTHON=sys.executable, OMP_NUM_THREADS="1", RANK="0")
        done = subprocess.run(["bash", "scripts/mm_run.sh", "textvqa", "served", "runtime.dp=2",
                               "runtime.concurrency=1", "runtime.logprobs=2", BY_ID,
                               f"model.endpoint={stub.url}", f"output_dir={tmp_path}"],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    debug = tmp_path / "debug"
    assert sorted(p.name for p in debug.glob("*.jsonl")) == ["logprobs.jsonl", "samples.jsonl"]
    fingerprints = [r["fingerprint"] for r in jsonl(debug / "samples.jsonl")]
    lines = jsonl(debug / "logprobs.jsonl")
    assert sorted(line["fingerprint"] for line in lines) == sorted(fingerprints)


def test_a_resumed_run_keeps_one_line_per_sample(tmp_path):
    debug = tmp_path / "debug"
    with StubServer("openai", bus_backend) as stub:
        assert main(served(stub, tmp_path, "runtime.logprobs=2", BY_ID)) == 0
        samples = debug / "samples.jsonl"
        kept = samples.read_text().splitlines(keepends=True)[:5]      # a run stopped here
        samples.write_text("".join(kept))
        assert len(jsonl(debug / "logprobs.jsonl")) == 12
        assert main(served(stub, tmp_path, "runtime.logprobs=2", BY_ID)) == 0
        lines = jsonl(debug / "logprobs.jsonl")
        assert len(lines) == 12
        assert sorted(line["fingerprint"] for line in lines) == sorted(
            r["fingerprint"] for r in jsonl(samples))
        # the identity includes runtime.logprobs: a resume without them is refused...
        assert main(served(stub, tmp_path, BY_ID)) == 2
        # ... and a clean start drops them
        assert main(served(stub, tmp_path, BY_ID, "runtime.resume=false")) == 0
    assert not (debug / "logprobs.jsonl").exists()
