"""runner=performance on every demo model, through the adapters' common Generation: input
lengths that agree between the two CSVs, and preprocessing timed apart from prefill."""
import csv

import pytest

from inference.device import synchronize
from inference.models.protocol import FirstTokenClock
from modeltest.reports.performance_report import (BENCHMARK_COLUMNS, PERFORMANCE_COLUMNS,
                                                  performance_row)
from runners.cli import main

DEMO_MODELS = ["demo_qwen2_vl", "demo_internvl", "demo_deepseek_vl", "demo_deepseek_vl2",
               "demo_vlmo"]
SEED_BENCHMARK = ["batch_size", "input_seq_len", "output_seq_len", "e2e_time(ms)",
                  "prefill_time(ms)", "decoder_token_time(ms)"]
SEED_PERFORMANCE = ["batch", "input_len", "output_len", "embedding_len", "first_token_time(ms)",
                    "non_first_token_time(ms)", "ResponseTime(ms)",
                    "E2E Throughput Average(Tokens/s)"]


def read_csv(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize("model", DEMO_MODELS)
def test_performance_runs_for_every_demo_model(model, tmp_path):
    assert main(["runner=performance", f"model={model}", "runner.batch_sizes=[1,2]",
                 "runner.max_output_length=4", "runner.warmup=0", "runner.repeats=1",
                 f"output_dir={tmp_path}"]) == 0
    perf = read_csv(tmp_path / "results" / f"{model}_performance.csv")
    bench = read_csv(tmp_path / "results" / "benchmark.csv")
    # the seed's columns first, unchanged; added columns after them
    assert list(perf[0])[:len(SEED_PERFORMANCE)] == SEED_PERFORMANCE
    assert list(bench[0])[:len(SEED_BENCHMARK)] == SEED_BENCHMARK
    assert list(perf[0]) == PERFORMANCE_COLUMNS + ["data"]
    assert list(bench[0]) == BENCHMARK_COLUMNS + ["data"]
    assert [int(r["batch"]) for r in perf] == [1, 2] == [int(r["batch_size"]) for r in bench]
    classifier = model == "demo_vlmo"      # one "token": the answer label
    for p, b in zip(perf, bench):
        # both CSVs report the same real model input length (image tokens included)
        assert int(p["input_len"]) == int(b["input_seq_len"]) == int(p["embedding_len"])
        assert int(p["input_len"]) > int(p["text_len"]) > 0
        assert int(p["output_len"]) == int(b["output_seq_len"]) == (1 if classifier else 4)
        preprocess, prefill = float(p["preprocess_time(ms)"]), float(p["prefill_time(ms)"])
        first, response = float(p["first_token_time(ms)"]), float(p["ResponseTime(ms)"])
        assert preprocess > 0 and prefill > 0
        # preprocessing is not inside prefill: first token = preprocess + prefill
        assert first == pytest.approx(preprocess + prefill, abs=2e-3)
        assert response >= first
        assert float(b["preprocess_time(ms)"]) == preprocess
        assert float(b["prefill_time(ms)"]) == prefill
        assert float(b["e2e_time(ms)"]) == response


def test_performance_row_splits_preprocessing_from_prefill():
    row = performance_row(2, 100, 100, 5, e2e_s=1.0, first_token_s=0.6, preprocess_s=0.2,
                          text_len=30)
    assert row["preprocess_time(ms)"] == pytest.approx(200)
    assert row["prefill_time(ms)"] == pytest.approx(400)
    assert row["first_token_time(ms)"] == pytest.approx(600)
    assert row["non_first_token_time(ms)"] == pytest.approx(100)   # (1.0 - 0.6) / 4 steps
    assert row["text_len"] == 30


def test_first_token_clock_synchronises_the_device(monkeypatch):
    calls = []
    monkeypatch.setattr("torch.cuda.synchronize", lambda: calls.append("cuda"))
    clock = FirstTokenClock("cuda:0")
    scores = object()
    assert clock(None, scores) is scores and clock(None, scores) is scores
    assert calls == ["cuda"] and clock.time is not None      # once, at the first token
    synchronize("cpu")                                         # a no-op on CPU
    FirstTokenClock("cpu")(None, scores)
    assert calls == ["cuda"]
