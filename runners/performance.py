"""runner=performance: throughput and latency at each batch size in runner.batch_sizes, with
runner.max_output_length tokens generated per request (past EOS), one image per request."""
from __future__ import annotations

import json
import time
from pathlib import Path

import torch
from tabulate import tabulate

from inference.compiled_decode import plan_for
from inference.device import pick_device, resolve_dtype
from inference.distributed import init_parallel, shutdown
from inference.memory import peak_memory_mb, reset_peak
from inference.models import check_model, create_adapter
from inference.models.base import synchronize
from inference.requests import Request
from modeltest.reports.performance_report import (performance_row, plot_performance,
                                                  write_performance_csvs)
from modeltest.reports.atomic import write_text_atomic
from modeltest.reports.summary import library_versions
from runners.config import ConfigError, to_container
from runners.demo import demo_asset, ensure_demo_assets
from runners.evaluation import open_run


def run(hydra_cfg) -> int:
    cfg = to_container(hydra_cfg)
    if cfg["model"].get("adapter") == "served":   # a model behind a server: its own sweep
        from runners.served_performance import run_served
        return run_served(hydra_cfg)
    try:
        device = pick_device(cfg["runtime"].get("device"))
        parallel = init_parallel(int(cfg["runtime"].get("tp", 1)), 1, device)
        dtype = resolve_dtype(str(cfg["model"].get("dtype", "fp32")), device)
        decode_plan = plan_for(cfg["runtime"]["compile"], device)
    except (RuntimeError, ValueError) as err:
        raise ConfigError(str(err)) from None
    try:
        run_ = open_run(hydra_cfg, write=parallel.is_main)
        with_image = [s for s in run_.samples if s.images]
        if not with_image:
            raise ConfigError(f"task {run_.task} has no image samples for runner=performance")
        if parallel.is_main:
            ensure_demo_assets([cfg["model"].get("model_path")])
        check_model(cfg["model"])
        torch.manual_seed(int(cfg.get("seed", 0)))
        say = print if parallel.is_main else (lambda *a, **k: None)
        started = time.perf_counter()
        say(f"loading model {cfg['model']['name']} from {cfg['model'].get('model_path')} on "
            f"{device} ...", flush=True)
        adapter = create_adapter(cfg["model"], device, dtype, parallel.tp_mesh, decode_plan)
        say(f"model loaded in {time.perf_counter() - started:.1f} s; decode: "
            f"{adapter.decode.plan.backend}", flush=True)
        rows, peak = _sweep(adapter, with_image, cfg["runner"], device, say)
        if parallel.is_main:
            demo = {"demo_data": run_.demo_data,
                    "demo_model": demo_asset(cfg["model"].get("model_path")) is not None}
            _report(run_.output_dir, cfg, rows, peak, device, demo, adapter.decode_summary())
        return 0
    finally:
        shutdown(parallel)


def _sweep(adapter, samples, runner_cfg: dict, device: str,
           say=print) -> tuple[list[dict], float]:
    """Lengths and timings come from the adapter's Generation (every family reports them),
    so the sweep needs nothing model-specific."""
    length = int(runner_cfg.get("max_output_length", 256))

    def batch_of(size: int):
        chosen = [samples[i % len(samples)] for i in range(size)]
        return [adapter.prepare(Request(str(i), s.prompt, s.images[:1], None, length))
                for i, s in enumerate(chosen)]

    sizes = list(runner_cfg.get("batch_sizes") or range(1, 11))
    say(f"warming up, then {len(sizes)} batch sizes × {length} tokens ...", flush=True)
    for _ in range(int(runner_cfg.get("warmup", 1))):
        adapter.generate(batch_of(1), max_new_tokens=min(length, 8), ignore_eos=True)
    reset_peak(device)
    rows = []
    for index, size in enumerate(sizes, start=1):
        started = time.perf_counter()
        # media decoding (prepare) runs in background workers in evaluation runs: not timed;
        # building the inputs (also a worker's job there) is, as preprocessing
        prepared = batch_of(int(size))
        inputs = adapter.build(prepared)
        synchronize(device)
        result = adapter.generate(prepared, max_new_tokens=length, ignore_eos=True,
                                  inputs=inputs)
        synchronize(device)
        # input length: the real model input (result.prompt_len, the padded sequence prefill
        # runs over, image tokens included), the same figure in both CSVs
        rows.append(performance_row(int(size), result.prompt_len, result.prompt_len,
                                    result.steps, result.e2e_time, result.first_token_time,
                                    preprocess_s=result.preprocess_time,
                                    text_len=result.text_len))
        say(f"[{index}/{len(sizes)}] batch size {size}: {result.steps} tokens in "
            f"{time.perf_counter() - started:.1f} s, "
            f"{rows[-1]['E2E Throughput Average(Tokens/s)']:.1f} tokens/s", flush=True)
    return rows, peak_memory_mb(device)


def demo_note(demo: dict) -> str:
    parts = [text for key, text in (("demo_data", "the embedded demo images"),
                                    ("demo_model", "a demo model with random weights"))
             if demo.get(key)]
    return f"DEMO: this run used {' and '.join(parts)}" if parts else ""


def _report(output_dir: Path, cfg: dict, rows: list[dict], peak: float, device: str,
            demo: dict, decode: dict) -> None:
    folder = output_dir
    folder.mkdir(parents=True, exist_ok=True)
    model = cfg["model"]["name"]
    note = demo_note(demo)
    write_performance_csvs(folder, model, rows, note)
    plot_performance(folder / f"{model}_performance.png", model, rows, peak, note)
    write_text_atomic(folder / "performance_summary.json", json.dumps({
        "model": model, "device": device, "tp": cfg["runtime"].get("tp", 1), "compile": decode,
        "peak_memory_mb": peak, "rows": rows, **demo, "notes": [note] if note else [],
        "versions": library_versions(),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S"), "config": cfg}, indent=2))
    if note:
        print(note)
    print(tabulate([[r["batch"], r["input_len"], r["output_len"],
                     f"{r['preprocess_time(ms)']:.1f}", f"{r['prefill_time(ms)']:.1f}",
                     f"{r['non_first_token_time(ms)']:.2f}", f"{r['ResponseTime(ms)']:.1f}",
                     f"{r['E2E Throughput Average(Tokens/s)']:.1f}"] for r in rows],
                   headers=["batch", "input", "output", "preprocess ms", "prefill ms",
                            "per token ms", "response ms", "tokens/s"], tablefmt="simple"))
    print(f"peak memory: {peak:.0f} MB on {device}\nreports: {folder}", flush=True)
