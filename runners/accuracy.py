"""runner=accuracy: generate an answer for every sample, score, report, gate.

Records reach debug/samples.jsonl (flushed and fsynced) as each batch finishes; a rerun into
the same output_dir resumes where the last one stopped (runtime.resume=false starts clean).
With runtime.dp > 1 the pending samples are split across data-parallel groups and gathered
on rank 0 after every batch; with runtime.tp > 1 each group's model is tensor-parallel.
"""
from __future__ import annotations

import math
import time

import torch
from tqdm import tqdm

from inference.device import pick_device, resolve_dtype
from inference.distributed import Parallel, all_gather, broadcast_from_main, init_parallel, shutdown
from inference import video_cache
from inference.engine import Engine
from inference.models import check_model, create_adapter
from inference.requests import Request
from modeltest.reports.batch_log import BatchLog
from modeltest.reports.samples_log import SamplesLog
from runners.config import ConfigError, to_container
from runners.demo import ensure_demo_assets
from runners.evaluation import make_record, open_run, write_config, write_reports
from runners.gating import apply_gate
from runners.interrupt import set_progress
from runners.resume import prepare_resume, sample_fingerprint

ABORTED_EXIT_CODE = 4


class RunAborted(RuntimeError):
    """More samples failed than runtime.max_error_rate allows."""


def run(hydra_cfg) -> int:
    runtime = to_container(hydra_cfg.runtime)
    try:
        device = pick_device(runtime.get("device"))
        parallel = init_parallel(int(runtime.get("tp", 1)), int(runtime.get("dp", 1)), device)
    except (RuntimeError, ValueError) as err:
        raise ConfigError(str(err)) from None
    try:
        return _run(hydra_cfg, device, parallel)
    finally:
        shutdown(parallel)


def _run(hydra_cfg, device: str, parallel: Parallel) -> int:
    run_ = open_run(hydra_cfg, write=parallel.is_main, defer_config=True)
    cfg = run_.cfg
    ensure_demo_assets([cfg["model"].get("model_path")])   # file-locked: one rank builds
    check_model(cfg["model"])
    resume = bool(cfg["runtime"].get("resume", True))
    state: tuple | str
    if parallel.is_main:
        try:
            state = prepare_resume(run_.debug_dir, cfg, resume, run_.samples)
            write_config(run_)
        except ConfigError as err:
            state = str(err)
        except OSError as err:
            state = f"output_dir {run_.output_dir}: cannot write {err.filename} ({err.strerror})"
    state = broadcast_from_main(parallel, state if parallel.is_main else None)
    if isinstance(state, str):
        raise ConfigError(state)
    digest, done, failed = state
    fingerprints = {sample_fingerprint(digest, s): s for s in run_.samples}
    records = [done[f] for f in fingerprints if f in done]
    pending = {f: s for f, s in fingerprints.items() if f not in done}
    samples_path = run_.debug_dir / "samples.jsonl"
    set_progress(len(records), len(fingerprints), samples_path)
    if (records or failed) and parallel.is_main:
        retry = f"; retrying {failed} that failed" if failed else ""
        print(f"resuming: {len(records)} of {len(fingerprints)} samples already done in "
              f"{samples_path}{retry}", flush=True)

    timing = {}
    if pending:
        timing = _generate(run_, pending, records, device, parallel)
    if not parallel.is_main:
        return 0
    summary = write_reports(run_, records, timing)
    _check_error_rate(run_, records)
    return apply_gate(cfg.get("gate"), summary, run_.results_dir)


def _check_error_rate(run_, records: list[dict]) -> None:
    """On the final totals of every run, resumed or not: exit 4 when too many failed."""
    rate = float(run_.cfg["runtime"].get("max_error_rate", 0.05))
    failed = [r for r in records if r.get("error")]
    if len(failed) > rate * len(run_.samples):
        raise RunAborted(
            f"{len(failed)} of {len(run_.samples)} samples failed, more than "
            f"runtime.max_error_rate={rate} allows (first error: {failed[0]['error']}); "
            f"they are listed in {run_.results_dir / 'summary.json'} and are tried again "
            "when you rerun the same command")


def _generate(run_, pending: dict, records: list[dict], device: str,
              parallel: Parallel) -> dict:
    """Run the engine over this rank's share of the pending samples; rank 0 appends every
    rank's records to samples.jsonl as each step of batches finishes."""
    cfg, runtime = run_.cfg, run_.cfg["runtime"]
    try:
        dtype = resolve_dtype(str(cfg["model"].get("dtype", "fp32")), device)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    torch.manual_seed(int(cfg.get("seed", 0)))
    started = time.perf_counter()
    if parallel.is_main:
        print(f"loading model {cfg['model']['name']} from {cfg['model'].get('model_path')} "
              f"on {device} ...", flush=True)
    adapter = create_adapter(cfg["model"], device, dtype, parallel.tp_mesh)
    if parallel.is_main:
        print(f"model loaded in {time.perf_counter() - started:.1f} s", flush=True)
    # a served model: a batch is the requests sent concurrently between two writes
    batch_size = int(adapter.requests_per_batch or runtime["batch_size"])
    video_cache.configure_from(runtime)
    engine = Engine(adapter, batch_size, runtime["loader_workers"])
    max_new = (cfg["model"].get("generation") or {}).get("max_new_tokens") \
        or cfg["task"]["max_new_tokens"]
    everything = [Request(f, s.prompt, s.images, s.video, int(max_new))
                  for f, s in pending.items()]
    mine = everything[parallel.dp_rank::parallel.dp]
    steps = math.ceil(math.ceil(len(everything) / parallel.dp) / batch_size)
    allowed_errors = float(runtime.get("max_error_rate", 0.05)) * len(run_.samples)
    errors = sum(1 for r in records if r.get("error"))

    main = parallel.is_main
    samples_log = SamplesLog(run_.debug_dir / "samples.jsonl") if main else None
    batch_log = BatchLog(run_.debug_dir / f"output_{time.strftime('%Y%m%d_%H%M%S')}.txt") \
        if main else None
    progress = tqdm(total=len(run_.samples), initial=len(records), disable=not main,
                    desc=f"{run_.task} | {run_.model}", unit="sample")
    output_tokens = 0

    def on_batch(responses) -> None:
        nonlocal output_tokens, errors
        batch, left = [], []
        for response in responses:
            if response.retry:   # the endpoint failed, not the sample: left for a rerun
                left.append(response.error)
                continue
            record = make_record(run_, pending[response.request_id], response.text,
                                 response.error, response.e2e_time, response.first_token_time)
            record["fingerprint"] = response.request_id
            record["output_ids"] = response.output_ids
            if response.top_answers is not None:
                record["top_answers"] = response.top_answers
            batch.append(record)
        contribution = (batch, sum(r.num_output_tokens for r in responses),
                        max((r.e2e_time for r in responses), default=0.0), left)
        gathered = all_gather(parallel, contribution if parallel.tp_rank == 0
                              else ([], 0, 0.0, []))
        new = [record for part in gathered for record in part[0]]
        records.extend(new)
        output_tokens += sum(part[1] for part in gathered)
        errors += sum(1 for r in new if r["error"])
        if main and new:
            samples_log.append(new)
            batch_log.append(new, max(part[2] for part in gathered))
            progress.update(len(new))
            set_progress(len(records), len(run_.samples), samples_log.path)
        unsent = [error for part in gathered for error in part[3]]
        if unsent:
            raise RunAborted(
                f"{unsent[0]}; {len(unsent)} sample(s) not answered. Finished samples are kept "
                f"in {run_.debug_dir / 'samples.jsonl'}: rerun the same command to resume")
        if errors > allowed_errors:
            raise RunAborted(
                f"{errors} of {len(run_.samples)} samples failed, more than "
                f"runtime.max_error_rate={runtime.get('max_error_rate', 0.05)} allows; "
                f"last error: {next(r['error'] for r in reversed(records) if r['error'])}. "
                f"Finished samples are kept in {run_.debug_dir / 'samples.jsonl'}")

    if mine:
        engine.warm_up(mine[0])
    start = time.perf_counter()
    try:
        engine.run(mine, on_batch, num_batches=steps)
    finally:
        progress.close()
        if main:
            samples_log.close()
            batch_log.close()
        adapter.close()
    elapsed = time.perf_counter() - start
    return {**adapter.run_stats(), "device": device, "tp": parallel.tp, "dp": parallel.dp,
            "batch_size": batch_size, "generation_seconds": round(elapsed, 3),
            "samples_per_second": len(everything) / elapsed if elapsed else None,
            "tokens_per_second": output_tokens / elapsed if elapsed else None}
