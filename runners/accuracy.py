"""runner=accuracy: generate an answer for every sample, score, report, gate.

Records reach debug/samples.jsonl (flushed and fsynced) as each batch finishes; a rerun into
the same output_dir resumes where the last one stopped (runtime.resume=false starts clean).
"""
from __future__ import annotations

import time

import torch
from tqdm import tqdm

from inference.device import pick_device, resolve_dtype
from inference.engine import Engine
from inference.models import check_model_path, create_adapter
from inference.requests import Request
from modeltest.reports.batch_log import BatchLog
from modeltest.reports.samples_log import SamplesLog
from runners.config import ConfigError
from runners.demo import ensure_demo_assets
from runners.evaluation import make_record, open_run, write_reports
from runners.gating import apply_gate
from runners.resume import prepare_resume, sample_fingerprint

ABORTED_EXIT_CODE = 4


class RunAborted(RuntimeError):
    """More samples failed than runtime.max_error_rate allows."""


def run(hydra_cfg) -> int:
    run_ = open_run(hydra_cfg)
    cfg = run_.cfg
    runtime = cfg["runtime"]
    ensure_demo_assets([cfg["model"].get("model_path")])
    check_model_path(cfg["model"].get("model_path"))
    digest, done = prepare_resume(run_.debug_dir, cfg, bool(runtime.get("resume", True)))
    fingerprints = {sample_fingerprint(digest, s): s for s in run_.samples}
    records = [done[f] for f in fingerprints if f in done]
    pending = {f: s for f, s in fingerprints.items() if f not in done}
    if records:
        print(f"resuming: {len(records)} of {len(fingerprints)} samples already done in "
              f"{run_.debug_dir / 'samples.jsonl'}", flush=True)

    timing = {}
    if pending:
        timing = _generate(run_, pending, records)
    summary = write_reports(run_, records, timing)
    return apply_gate(cfg.get("gate"), summary, run_.results_dir)


def _generate(run_, pending: dict, records: list[dict]) -> dict:
    """Run the engine over the pending samples, appending records as batches finish."""
    cfg, runtime = run_.cfg, run_.cfg["runtime"]
    device = pick_device(runtime.get("device"))
    try:
        dtype = resolve_dtype(str(cfg["model"].get("dtype", "fp32")), device)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    torch.manual_seed(int(cfg.get("seed", 0)))
    adapter = create_adapter(cfg["model"], device, dtype)
    engine = Engine(adapter, runtime["batch_size"], runtime["loader_workers"])
    max_new = (cfg["model"].get("generation") or {}).get("max_new_tokens") \
        or cfg["task"]["max_new_tokens"]
    requests = [Request(f, s.prompt, s.images, s.video, int(max_new)) for f, s in pending.items()]
    allowed_errors = float(runtime.get("max_error_rate", 0.05)) * len(run_.samples)
    errors = sum(1 for r in records if r.get("error"))

    samples_log = SamplesLog(run_.debug_dir / "samples.jsonl")
    batch_log = BatchLog(run_.debug_dir / f"output_{time.strftime('%Y%m%d_%H%M%S')}.txt")
    output_tokens = 0
    progress = tqdm(total=len(run_.samples), initial=len(records),
                    desc=f"{run_.task} | {run_.model}", unit="sample")

    def on_batch(responses) -> None:
        nonlocal output_tokens, errors
        batch = []
        for response in responses:
            record = make_record(run_, pending[response.request_id], response.text,
                                 response.error, response.e2e_time)
            record["fingerprint"] = response.request_id
            batch.append(record)
        samples_log.append(batch)
        batch_log.append(batch, max((r.e2e_time for r in responses), default=0.0))
        records.extend(batch)
        output_tokens += sum(r.num_output_tokens for r in responses)
        errors += sum(1 for r in batch if r["error"])
        progress.update(len(batch))
        if errors > allowed_errors:
            raise RunAborted(
                f"{errors} of {len(run_.samples)} samples failed, more than "
                f"runtime.max_error_rate={runtime.get('max_error_rate', 0.05)} allows; "
                f"last error: {next(r['error'] for r in reversed(records) if r['error'])}. "
                f"Finished samples are kept in {samples_log.path}")

    start = time.perf_counter()
    try:
        engine.run(requests, on_batch)
    finally:
        progress.close()
        samples_log.close()
        batch_log.close()
    elapsed = time.perf_counter() - start
    done_now = len(requests)
    return {"device": device, "generation_seconds": round(elapsed, 3),
            "samples_per_second": done_now / elapsed if elapsed else None,
            "tokens_per_second": output_tokens / elapsed if elapsed else None}
