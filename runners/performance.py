"""runner=performance: throughput and latency at each batch size in runner.batch_sizes, with
runner.max_output_length tokens generated per request (past EOS), one image per request."""
from __future__ import annotations

import time

import torch

from inference.device import pick_device, resolve_dtype
from inference.distributed import init_parallel, shutdown
from inference.memory import peak_memory_mb, reset_peak
from runners.models import check_model, create_adapter
from inference.device import synchronize
from inference.requests import Request
from modeltest.reports.performance_report import performance_row, write_performance_report
from runners.config import ConfigError, harness_runtime, to_container
from runners.demo import ensure_demo_model
from runners.evaluation import open_run


def run(hydra_cfg) -> int:
    cfg = to_container(hydra_cfg)
    if cfg["model"]["adapter"] == "served":   # a model behind a server: its own sweep
        from runners.served_performance import run_served
        return run_served(hydra_cfg)
    try:
        device = pick_device(cfg["runtime"]["device"])
        parallel = init_parallel(int(harness_runtime(cfg)["tp"]), 1, device)
        dtype = resolve_dtype(str(cfg["model"]["dtype"]), device)
    except (RuntimeError, ValueError) as err:
        raise ConfigError(str(err)) from None
    try:
        run_ = open_run(hydra_cfg, write=parallel.is_main)
        with_image = [s for s in run_.samples if s.images]
        if not with_image:
            raise ConfigError(f"task {run_.task} has no image samples for runner=performance")
        demo_model = ensure_demo_model(cfg["model"]["model_path"])   # file-locked
        check_model(cfg["model"])
        torch.manual_seed(int(cfg["seed"]))
        say = print if parallel.is_main else (lambda *a, **k: None)
        started = time.perf_counter()
        say(f"loading model {cfg['model']['name']} from {cfg['model']['model_path']} on "
            f"{device} ...", flush=True)
        adapter = create_adapter(cfg["model"], device, dtype, parallel.tp_mesh,
                                 runtime=cfg["runtime"])
        say(f"model loaded in {time.perf_counter() - started:.1f} s", flush=True)
        rows, peak = _sweep(adapter, with_image, cfg["runner"], device, say)
        if parallel.is_main:
            demo = {"demo_data": run_.demo_data, "demo_model": demo_model}
            write_performance_report(run_.output_dir, cfg, rows, peak, device, demo)
        return 0
    finally:
        shutdown(parallel)


def _sweep(adapter, samples, runner_cfg: dict, device: str,
           say=print) -> tuple[list[dict], float]:
    """Lengths and timings come from the adapter's Generation (every family reports them),
    so the sweep needs nothing model-specific."""
    length = int(runner_cfg["max_output_length"])

    def batch_of(size: int):
        chosen = [samples[i % len(samples)] for i in range(size)]
        return [adapter.prepare(Request(str(i), s.prompt, s.images[:1], None, length))
                for i, s in enumerate(chosen)]

    sizes = list(runner_cfg["batch_sizes"])
    say(f"warming up, then {len(sizes)} batch sizes × {length} tokens ...", flush=True)
    for _ in range(int(runner_cfg["warmup"])):
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
