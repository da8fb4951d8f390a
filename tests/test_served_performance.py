"""runner=performance for a served model: a concurrency sweep with latency, time to first
token (streamed) and throughput, in the embedded sweep's reports."""
import csv
import json

from runners.cli import main
from runners.demo import ensure_asset
from tests.served_stub import StubServer


def three_tokens(prompt, images, max_new):
    return "a b c", [(1, "a"), (2, " b"), (3, " c")]


def test_served_performance_sweep(tmp_path):
    with StubServer("openai", three_tokens) as stub:
        stub.delay = 0.05
        assert main(["runner=performance", "model=served", f"model.endpoint={stub.url}",
                     "runner.batch_sizes=[1,3]", "runner.max_output_length=3",
                     f"output_dir={tmp_path}"]) == 0
        body = stub.requests[-1]
    assert body["ignore_eos"] is True and body["max_tokens"] == 3 and body["stream"] is True
    folder = tmp_path / "results"
    with open(folder / "served_performance.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["batch"]) for r in rows] == [1, 3]
    assert all(int(r["output_len"]) == 3 for r in rows)
    latency = json.loads((folder / "served_latency.json").read_text())
    assert [level["concurrency"] for level in latency["levels"]] == [1, 3]
    for level in latency["levels"]:
        assert 0 < level["first_token_ms"]["mean"] <= level["latency_ms"]["mean"]
        assert level["requests_per_second"] > 0
    assert latency["served_model"] == "stub-model"
    assert (folder / "served_performance.png").read_bytes()[:4] == b"\x89PNG"
