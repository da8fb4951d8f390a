"""The performance runner's reports and the evaluation benchmark script."""
import csv
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from modeltest.reports.performance_report import BENCHMARK_COLUMNS, PERFORMANCE_COLUMNS
from runners.cli import main

ROOT = Path(__file__).resolve().parent.parent


def read_csv(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_performance_sweep_writes_csvs_plot_and_memory(tmp_path, capsys):
    assert main(["runner=performance", "model=demo_internvl", "runner.batch_sizes=[1,3]",
                 "runner.max_output_length=12", "runner.repeats=3",
                 f"output_dir={tmp_path}"]) == 0
    out = capsys.readouterr().out      # a line per phase: loading, each batch size and run
    assert "loading model demo_internvl" in out and "model loaded in" in out
    assert "[1/2] batch size 1, run 1 of 3: 12 tokens" in out
    assert "[2/2] batch size 3, run 3 of 3: 12 tokens" in out
    assert "medians of 3 runs per batch size" in out
    assert "DEMO: this run used the embedded demo images and a demo model" in out
    # every run writes into results/ (config.yaml beside it), and leaves no empty folder
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yaml", "results"]
    folder = tmp_path / "results"
    rows = read_csv(folder / "demo_internvl_performance.csv")
    assert list(rows[0]) == PERFORMANCE_COLUMNS + ["data"] and rows[0]["data"] == "demo"
    assert [int(r["batch"]) for r in rows] == [1, 3]
    assert all(int(r["repeats"]) == 3 and float(r["ResponseTime_spread(ms)"]) >= 0
               for r in rows)
    # generation continues past EOS: every batch produced exactly max_output_length tokens
    assert all(int(r["output_len"]) == 12 for r in rows)
    # input_len is the model's input length (image tokens included), as in benchmark.csv
    assert all(int(r["embedding_len"]) == int(r["input_len"]) > int(r["text_len"]) > 0
               for r in rows)
    bench = read_csv(folder / "benchmark.csv")
    assert list(bench[0]) == BENCHMARK_COLUMNS + ["data"] and len(bench) == 2
    assert float(bench[1]["e2e_time(ms)"]) > float(bench[1]["prefill_time(ms)"]) > 0
    assert (folder / "demo_internvl_performance.png").read_bytes()[:4] == b"\x89PNG"
    summary = json.loads((folder / "performance_summary.json").read_text())
    assert summary["peak_memory_mb"] > 0 and summary["repeats"] == 3
    assert summary["demo_data"] and summary["demo_model"] and summary["notes"]
    assert not (tmp_path / ".modeltest.lock").exists()    # removed when the run ends


def test_median_row_reports_the_spread():
    from runners.performance import median_row

    runs = [{"batch": 2, "ResponseTime(ms)": t, "non_first_token_time(ms)": t / 10}
            for t in (30.0, 10.0, 20.0)]
    row = median_row(runs)
    assert row["ResponseTime(ms)"] == 20.0 and row["ResponseTime_spread(ms)"] == 20.0
    assert row["non_first_token_time(ms)"] == 2.0 and row["repeats"] == 3


@pytest.mark.parametrize("limit, largest, expected", [
    (5.0, 256, 5), (1000.0, 10, 10), (1000.0, 256, 256), (0.5, 256, None), (9.0, 12, 9)])
def test_search_finds_the_largest_batch_within_the_latency(limit, largest, expected):
    """Per-token time = batch size ms (a stand-in for a device that slows with batch)."""
    from runners.performance import search_max_batch

    asked = []

    def measure(size, label):
        asked.append(size)
        return {"batch": size, "non_first_token_time(ms)": float(size)}

    rows, found = search_max_batch(measure, limit, largest, say=lambda *a, **k: None)
    assert found["max_batch_size"] == expected
    assert len(asked) == len(set(asked)) and [r["batch"] for r in rows] == sorted(asked)
    assert len(asked) <= 2 * (largest.bit_length() + 1)     # a search, not a sweep


def test_max_latency_search_runs_end_to_end(tmp_path, capsys):
    assert main(["runner=performance", "model=demo_qwen2_vl", "runner.max_output_length=4",
                 "runner.repeats=1", "runner.max_latency_ms=100000", "runner.max_batch_size=3",
                 f"output_dir={tmp_path}"]) == 0
    summary = json.loads((tmp_path / "results" / "performance_summary.json").read_text())
    assert summary["max_batch_size_within_latency"]["max_batch_size"] == 3
    assert "largest batch size within 100000 ms per token: 3" in capsys.readouterr().out


def test_a_long_batch_prints_a_line_every_five_seconds(monkeypatch):
    from runners import performance

    monkeypatch.setattr(performance, "PROGRESS_SECONDS", 0.05)
    lines = []
    with performance.Heartbeat(lambda line, **k: lines.append(line), "batch size 8, run 1 of 3"):
        time.sleep(0.3)
    assert len(lines) >= 3 and "batch size 8, run 1 of 3: running for" in lines[0]


def test_bench_eval_compares_loop_and_engine(tmp_path):
    out = tmp_path / "bench.json"
    result = subprocess.run([sys.executable, "scripts/bench_eval.py", "--out", str(out),
                             "--samples", "12", "--batch-size", "4"], cwd=ROOT,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    bench = json.loads(out.read_text())
    assert bench["identical_predictions"] is True and bench["samples"] == 12
    for key in ("baseline_samples_per_second", "engine_samples_per_second", "speedup"):
        assert bench[key] > 0
    assert "speedup" in result.stdout and "DEMO DATA" in result.stdout
    assert bench["demo_data"] is True
    for phase in ("loading demo_qwen2_vl", "timing the one-sample-at-a-time loop",
                  "timing the engine"):
        assert phase in result.stderr
