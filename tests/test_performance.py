"""The performance runner's reports and the evaluation benchmark script."""
import csv
import json
import subprocess
import sys
from pathlib import Path

from modeltest.reports.performance_report import BENCHMARK_COLUMNS, PERFORMANCE_COLUMNS
from runners.cli import main

ROOT = Path(__file__).resolve().parent.parent


def read_csv(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_performance_sweep_writes_csvs_plot_and_memory(tmp_path, capsys):
    assert main(["runner=performance", "model=demo_internvl", "runner.batch_sizes=[1,3]",
                 "runner.max_output_length=12", f"output_dir={tmp_path}"]) == 0
    out = capsys.readouterr().out      # a line per phase: loading, each batch size
    assert "loading model demo_internvl" in out and "model loaded in" in out
    assert "[1/2] batch size 1: 12 tokens" in out and "[2/2] batch size 3: 12 tokens" in out
    assert "DEMO: this run used the embedded demo images and a demo model" in out
    folder = tmp_path
    rows = read_csv(folder / "demo_internvl_performance.csv")
    assert list(rows[0]) == PERFORMANCE_COLUMNS + ["data"] and rows[0]["data"] == "demo"
    assert [int(r["batch"]) for r in rows] == [1, 3]
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
    assert summary["peak_memory_mb"] > 0
    assert summary["demo_data"] and summary["demo_model"] and summary["notes"]


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
