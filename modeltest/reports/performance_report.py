"""Performance reports: benchmark.csv, <model>_performance.csv and a throughput/latency plot."""
from __future__ import annotations

import csv
import json
import time
from pathlib import Path

from tabulate import tabulate

from modeltest.reports.atomic import atomic_path, write_text_atomic
from modeltest.reports.summary import library_versions

# The seed's columns keep their names and order; columns added since come after them.
# Input lengths (input_seq_len, input_len, embedding_len) are all the real model input length:
# the sequence prefill runs over, padded to the batch's longest row, image tokens included.
# text_len: the text tokens of that row. Times: preprocess = building inputs (processor,
# tiling, tokenising, copy to the device); prefill = from then to the first token's logits;
# first_token_time = preprocess + prefill (what a caller waits for the first token);
# ResponseTime / e2e_time = preprocess + prefill + decode.
BENCHMARK_COLUMNS = ["batch_size", "input_seq_len", "output_seq_len", "e2e_time(ms)",
                     "prefill_time(ms)", "decoder_token_time(ms)", "preprocess_time(ms)"]
PERFORMANCE_COLUMNS = ["batch", "input_len", "output_len", "embedding_len",
                       "first_token_time(ms)", "non_first_token_time(ms)", "ResponseTime(ms)",
                       "E2E Throughput Average(Tokens/s)", "preprocess_time(ms)",
                       "prefill_time(ms)", "text_len", "repeats", "ResponseTime_spread(ms)",
                       "non_first_token_time_spread(ms)"]


def performance_row(batch: int, input_len: int, embedding_len: int, output_len: int,
                    e2e_s: float, first_token_s: float, preprocess_s: float = 0.0,
                    text_len: int | None = None) -> dict:
    """One batch size's measurements, in milliseconds and tokens per second. `e2e_s` and
    `first_token_s` count from the start of building inputs; `preprocess_s` is the part of
    both spent building them."""
    decode_ms = (e2e_s - first_token_s) * 1000 / max(1, output_len - 1)
    return {"batch": batch, "input_len": input_len, "output_len": output_len,
            "embedding_len": embedding_len, "first_token_time(ms)": first_token_s * 1000,
            "non_first_token_time(ms)": decode_ms, "ResponseTime(ms)": e2e_s * 1000,
            "E2E Throughput Average(Tokens/s)": batch * output_len / e2e_s if e2e_s else 0.0,
            "preprocess_time(ms)": preprocess_s * 1000,
            "prefill_time(ms)": max(0.0, first_token_s - preprocess_s) * 1000,
            "text_len": text_len}


def _write(path: Path, columns: list[str], rows: list[dict]) -> None:
    with atomic_path(path) as temporary, open(temporary, "w", newline="",
                                              encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: f"{v:.3f}" if isinstance(v, float) else v for k, v in row.items()})


def write_performance_csvs(folder: Path, model: str, rows: list[dict], note: str = "") -> None:
    """The seed's two CSVs; a `data` column (demo or user) is added last."""
    data = {"data": "demo" if note else "user"}
    _write(folder / f"{model}_performance.csv", PERFORMANCE_COLUMNS + ["data"],
           [{**row, **data} for row in rows])
    _write(folder / "benchmark.csv", BENCHMARK_COLUMNS + ["data"], [{**data,
        "batch_size": r["batch"], "input_seq_len": r["input_len"],
        "output_seq_len": r["output_len"], "e2e_time(ms)": r["ResponseTime(ms)"],
        "prefill_time(ms)": r["prefill_time(ms)"],
        "decoder_token_time(ms)": r["non_first_token_time(ms)"],
        "preprocess_time(ms)": r["preprocess_time(ms)"]} for r in rows])


def plot_performance(path: Path, model: str, rows: list[dict], peak_memory_mb: float,
                     note: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    batches = [r["batch"] for r in rows]
    figure, throughput_axis = plt.subplots(figsize=(7, 4))
    throughput_axis.plot(batches, [r["E2E Throughput Average(Tokens/s)"] for r in rows], "o-",
                         color="tab:blue", label="throughput (tokens/s)")
    throughput_axis.set_xlabel("batch size")
    throughput_axis.set_ylabel("throughput (tokens/s)", color="tab:blue")
    latency_axis = throughput_axis.twinx()
    latency_axis.plot(batches, [r["ResponseTime(ms)"] for r in rows], "s--", color="tab:red",
                      label="response time (ms)")
    latency_axis.set_ylabel("response time (ms)", color="tab:red")
    throughput_axis.set_title(f"{model}: {rows[0]['output_len']} output tokens, "
                              f"peak memory {peak_memory_mb:.0f} MB"
                              + (f"\n{note}" if note else ""))
    figure.tight_layout()
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=100)
    plt.close(figure)


def demo_note(demo: dict) -> str:
    parts = [text for key, text in (("demo_data", "the embedded demo images"),
                                    ("demo_model", "a demo model with random weights"))
             if demo.get(key)]
    return f"DEMO: this run used {' and '.join(parts)}" if parts else ""


def write_performance_report(run_, cfg: dict, rows: list[dict], peak: float, device: str,
                             demo: dict, generation: dict, found: dict | None = None) -> None:
    """config.yaml beside results/, which holds the CSVs, the plot and
    performance_summary.json (with `generation`: the settings every request ran with); the
    table on the terminal."""
    folder = run_.results_dir
    folder.mkdir(parents=True, exist_ok=True)
    write_text_atomic(run_.output_dir / "config.yaml", run_.config_yaml)
    model = cfg["model"]["name"]
    note = demo_note(demo)
    write_performance_csvs(folder, model, rows, note)
    plot_performance(folder / f"{model}_performance.png", model, rows, peak, note)
    write_text_atomic(folder / "performance_summary.json", json.dumps({
        "model": model, "device": device, "tp": cfg["runtime"]["tp"],
        "peak_memory_mb": peak, "rows": rows, "repeats": cfg["runner"]["repeats"],
        "generation": generation, "max_batch_size_within_latency": found, **demo,
        "notes": [note] if note else [], "versions": library_versions(),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S"), "config": cfg}, indent=2))
    if note:
        print(note)
    print(tabulate([[r["batch"], r["input_len"], r["output_len"],
                     f"{r['preprocess_time(ms)']:.1f}", f"{r['prefill_time(ms)']:.1f}",
                     f"{r['non_first_token_time(ms)']:.2f}",
                     _spread(r, "non_first_token_time_spread(ms)", 2),
                     f"{r['ResponseTime(ms)']:.1f}", _spread(r, "ResponseTime_spread(ms)", 1),
                     f"{r['E2E Throughput Average(Tokens/s)']:.1f}"] for r in rows],
                   headers=["batch", "input", "output", "preprocess ms", "prefill ms",
                            "per token ms", "(spread)", "response ms", "(spread)",
                            "tokens/s"], tablefmt="simple"))
    repeats = {r.get("repeats") for r in rows} - {None}
    if repeats:
        print(f"medians of {'/'.join(map(str, sorted(repeats)))} runs per batch size; spread = "
              "largest minus smallest")
    print(f"peak memory: {peak:.0f} MB on {device}\nreports: {folder}", flush=True)


def _spread(row: dict, key: str, digits: int) -> str:
    value = row.get(key)
    return "" if value is None else f"±{value:.{digits}f}"
