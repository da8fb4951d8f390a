"""runner=performance: throughput and latency at each batch size in runner.batch_sizes, with
runner.max_output_length tokens generated per request (past EOS), one image per request."""
from __future__ import annotations

import statistics
import threading
import time

import torch

from inference.compiled_decode import plan_for
from inference.device import pick_device, resolve_dtype
from inference.distributed import init_parallel, shutdown
from inference.environment import environment_manifest
from inference.memory import peak_memory_mb, reset_peak
from runners.models import check_model, create_adapter, generation_settings
from inference.device import synchronize
from inference.requests import Request
from modeltest.reports.performance_report import performance_row, write_performance_report
from runners.config import ConfigError, harness_runtime, to_container
from runners.demo import ensure_demo_model
from runners.evaluation import open_run

PROGRESS_SECONDS = 5.0


def run(hydra_cfg) -> int:
    cfg = to_container(hydra_cfg)
    if cfg["model"]["adapter"] == "served":   # a model behind a server: its own sweep
        from runners.served_performance import run_served
        return run_served(hydra_cfg)
    # before the process group exists (save_pretrained skips ranks other than 0 after it)
    demo_model = ensure_demo_model(cfg["model"]["model_path"])   # file-locked
    try:
        device = pick_device(cfg["runtime"]["device"])
        parallel = init_parallel(int(harness_runtime(cfg)["tp"]), 1, device)
        dtype = resolve_dtype(str(cfg["model"]["dtype"]), device)
        decode_plan = plan_for(cfg["runtime"]["compile"], device)
    except (RuntimeError, ValueError) as err:
        raise ConfigError(str(err)) from None
    try:
        # config.yaml and results/ are written with the reports: a performance run keeps
        # nothing in debug/, and a run stopped early leaves no empty folders
        run_ = open_run(hydra_cfg, write=parallel.is_main, defer_config=True)
        with_image = [s for s in run_.samples if s.images]
        if not with_image:
            raise ConfigError(f"task {run_.task} has no image samples for runner=performance")
        check_model(cfg["model"])
        torch.manual_seed(int(cfg["seed"]))
        say = print if parallel.is_main else (lambda *a, **k: None)
        started = time.perf_counter()
        say(f"loading model {cfg['model']['name']} from {cfg['model']['model_path']} on "
            f"{device} ...", flush=True)
        adapter = create_adapter(cfg["model"], device, dtype, parallel.tp_mesh,
                                 runtime=cfg["runtime"], decode_plan=decode_plan)
        say(f"model loaded in {time.perf_counter() - started:.1f} s; decode: "
            f"{adapter.decode.plan.backend}", flush=True)
        try:
            rows, peak, found = _sweep(adapter, with_image, cfg["runner"], device, say)
            engine = adapter.run_stats()
        finally:
            adapter.close()         # vLLM's engine processes stop here, not at exit
        if parallel.is_main:
            demo = {"demo_data": run_.demo_data, "demo_model": demo_model}
            generation = generation_settings(cfg["model"]).with_max_new_tokens(
                cfg["runner"]["max_output_length"]).record()
            write_performance_report(run_, cfg, rows, peak, device, demo, generation, found,
                                     engine, environment_manifest(device),
                                     adapter.decode_summary())
        return 0
    finally:
        shutdown(parallel)


class Heartbeat:
    """A line at least every PROGRESS_SECONDS while a long step runs (one batch size can
    take minutes on a big model): `with Heartbeat(say, "batch size 8, run 2 of 3"):`."""

    def __init__(self, say, what: str):
        self.say, self.what = say, what
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._beat, daemon=True)

    def _beat(self) -> None:
        started = time.perf_counter()
        while not self.done.wait(PROGRESS_SECONDS):
            self.say(f"  {self.what}: running for {time.perf_counter() - started:.0f} s ...",
                     flush=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.done.set()
        self.thread.join()


def median_row(runs: list[dict]) -> dict:
    """Each measured field's median over the repeats, the spread (largest minus smallest)
    of the response and per-token times, and the number of repeats."""
    row = dict(runs[0])
    for key, value in runs[0].items():
        if isinstance(value, float):
            row[key] = statistics.median(r[key] for r in runs)
    for key in ("ResponseTime(ms)", "non_first_token_time(ms)"):
        values = [r[key] for r in runs]
        row[key.replace("(ms)", "_spread(ms)")] = max(values) - min(values)
    row["repeats"] = len(runs)
    return row


def _sweep(adapter, samples, runner_cfg: dict, device: str,
           say=print) -> tuple[list[dict], float, dict | None]:
    """Lengths and timings come from the adapter's Generation (every family reports them),
    so the sweep needs nothing model-specific. Each point is measured runner.repeats times
    (its median row is reported); with runner.max_latency_ms the batch sizes are searched
    instead of swept (`search_max_batch`)."""
    length = int(runner_cfg["max_output_length"])
    repeats = int(runner_cfg["repeats"])

    def batch_of(size: int):
        chosen = [samples[i % len(samples)] for i in range(size)]
        return [adapter.prepare(Request(str(i), s.prompt, s.images[:1], None, length))
                for i, s in enumerate(chosen)]

    def measure(size: int, label: str) -> dict:
        runs = []
        for repeat in range(1, repeats + 1):
            started = time.perf_counter()
            with Heartbeat(say, f"{label} batch size {size}, run {repeat} of {repeats}"):
                # media decoding (prepare) runs in background workers in evaluation runs: not
                # timed; building the inputs (also a worker's job there) is, as preprocessing
                prepared = batch_of(int(size))
                inputs = adapter.build(prepared)
                synchronize(device)
                result = adapter.generate(prepared, max_new_tokens=length, ignore_eos=True,
                                          inputs=inputs)
                synchronize(device)
            # input length: the real model input (result.prompt_len, the padded sequence
            # prefill runs over, image tokens included), the same figure in both CSVs
            runs.append(performance_row(int(size), result.prompt_len, result.prompt_len,
                                        result.steps, result.e2e_time,
                                        result.first_token_time,
                                        preprocess_s=result.preprocess_time,
                                        text_len=result.text_len))
            say(f"{label} batch size {size}, run {repeat} of {repeats}: {result.steps} tokens "
                f"in {time.perf_counter() - started:.1f} s, "
                f"{runs[-1]['E2E Throughput Average(Tokens/s)']:.1f} tokens/s, "
                f"{runs[-1]['non_first_token_time(ms)']:.2f} ms per token", flush=True)
        return median_row(runs)

    say(f"warming up ({int(runner_cfg['warmup'])} short generation(s)) ...", flush=True)
    for _ in range(int(runner_cfg["warmup"])):
        with Heartbeat(say, "warm-up"):
            adapter.generate(batch_of(1), max_new_tokens=min(length, 8), ignore_eos=True)
    reset_peak(device)
    if runner_cfg["max_latency_ms"] is not None:
        rows, found = search_max_batch(measure, float(runner_cfg["max_latency_ms"]),
                                       int(runner_cfg["max_batch_size"]), say)
        return rows, peak_memory_mb(device), found
    sizes = list(runner_cfg["batch_sizes"])
    say(f"{len(sizes)} batch sizes x {length} tokens, {repeats} run(s) each ...", flush=True)
    rows = [measure(int(size), f"[{index}/{len(sizes)}]")
            for index, size in enumerate(sizes, start=1)]
    return rows, peak_memory_mb(device), None


def search_max_batch(measure, max_latency_ms: float, max_batch_size: int,
                     say=print) -> tuple[list[dict], dict]:
    """The largest batch size whose median per-token decode time stays within
    `max_latency_ms`: batch sizes double from 1 until one is over (or max_batch_size is
    reached), then the gap is bisected. `measure(size, label)` gives a size's median row.
    Returns every measured row (by batch size) and what was found."""
    key = "non_first_token_time(ms)"
    measured: dict[int, dict] = {}

    def within(size: int) -> bool:
        if size not in measured:
            measured[size] = measure(size, f"[search <= {max_latency_ms:g} ms/token]")
        return measured[size][key] <= max_latency_ms

    good, bad = 0, None
    size = 1
    while size <= max_batch_size:
        if within(size):
            good, size = size, size * 2
        else:
            bad = size
            break
    if bad is None and good < max_batch_size and within(max_batch_size):
        good = max_batch_size
    elif bad is None:
        bad = max_batch_size if good < max_batch_size else None
    while bad is not None and bad - good > 1:
        middle = (good + bad) // 2
        if within(middle):
            good = middle
        else:
            bad = middle
    found = {"max_latency_ms": max_latency_ms, "max_batch_size": good or None,
             "per_token_ms": measured[good][key] if good else None,
             "searched_up_to": max_batch_size}
    if good:
        say(f"largest batch size within {max_latency_ms:g} ms per token: {good} "
            f"({measured[good][key]:.2f} ms)", flush=True)
    else:
        say(f"no batch size keeps the per-token time within {max_latency_ms:g} ms "
            f"(batch size 1: {measured[1][key]:.2f} ms)", flush=True)
    return [measured[s] for s in sorted(measured)], found
