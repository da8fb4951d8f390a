"""runner=performance: throughput and latency at each batch size in runner.batch_sizes, with
runner.max_output_length tokens generated per request (past EOS), one image per request."""
from __future__ import annotations

import json
import time
from pathlib import Path

import torch
from tabulate import tabulate

from inference.device import pick_device, resolve_dtype
from inference.distributed import init_parallel, shutdown
from inference.memory import peak_memory_mb, reset_peak
from inference.models import check_model, create_adapter
from inference.requests import Request
from modeltest.reports.performance_report import (performance_row, plot_performance,
                                                  write_performance_csvs)
from modeltest.reports.summary import library_versions
from runners.config import ConfigError, to_container
from runners.demo import ensure_demo_assets
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
        adapter = create_adapter(cfg["model"], device, dtype, parallel.tp_mesh)
        rows, peak = _sweep(adapter, with_image, cfg["runner"], device)
        if parallel.is_main:
            _report(run_.output_dir, cfg, rows, peak, device)
        return 0
    finally:
        shutdown(parallel)


def _sweep(adapter, samples, runner_cfg: dict, device: str) -> tuple[list[dict], float]:
    length = int(runner_cfg.get("max_output_length", 256))
    image_token = getattr(adapter.model.config, "image_token_id", None)

    def batch_of(size: int):
        chosen = [samples[i % len(samples)] for i in range(size)]
        return [adapter.prepare(Request(str(i), s.prompt, s.images[:1], None, length))
                for i, s in enumerate(chosen)]

    for _ in range(int(runner_cfg.get("warmup", 1))):
        adapter.generate(batch_of(1), max_new_tokens=min(length, 8), ignore_eos=True)
    reset_peak(device)
    rows = []
    for size in runner_cfg.get("batch_sizes") or range(1, 11):
        prepared = batch_of(int(size))
        inputs = adapter.build_inputs(prepared[:1])
        embedding_len = int(inputs["input_ids"].shape[1])
        text_len = embedding_len - (int((inputs["input_ids"][0] == image_token).sum())
                                    if image_token is not None else 0)
        _synchronize(device)
        result = adapter.generate(prepared, max_new_tokens=length, ignore_eos=True)
        _synchronize(device)
        rows.append(performance_row(int(size), text_len, embedding_len, result.steps,
                                    result.e2e_time, result.first_token_time))
    return rows, peak_memory_mb(device)


def _synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    elif device.startswith("npu"):
        torch.npu.synchronize()


def _report(output_dir: Path, cfg: dict, rows: list[dict], peak: float, device: str) -> None:
    folder = output_dir / "performance"
    folder.mkdir(parents=True, exist_ok=True)
    model = cfg["model"]["name"]
    write_performance_csvs(folder, model, rows)
    plot_performance(folder / f"{model}_performance.png", model, rows, peak)
    (folder / "performance_summary.json").write_text(json.dumps({
        "model": model, "device": device, "tp": cfg["runtime"].get("tp", 1),
        "peak_memory_mb": peak, "rows": rows, "versions": library_versions(),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S"), "config": cfg}, indent=2))
    print(tabulate([[r["batch"], r["embedding_len"], r["output_len"],
                     f"{r['first_token_time(ms)']:.1f}", f"{r['non_first_token_time(ms)']:.2f}",
                     f"{r['ResponseTime(ms)']:.1f}",
                     f"{r['E2E Throughput Average(Tokens/s)']:.1f}"] for r in rows],
                   headers=["batch", "input", "output", "first token ms", "per token ms",
                            "response ms", "tokens/s"], tablefmt="simple"))
    print(f"peak memory: {peak:.0f} MB on {device}\nreports: {folder}", flush=True)
