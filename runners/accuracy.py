"""runner=accuracy: generate an answer for every sample, score, report."""
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


def run(hydra_cfg) -> int:
    run_ = open_run(hydra_cfg)
    cfg = run_.cfg
    ensure_demo_assets([cfg["model"].get("model_path")])
    check_model_path(cfg["model"].get("model_path"))
    device = pick_device(cfg["runtime"].get("device"))
    try:
        dtype = resolve_dtype(str(cfg["model"].get("dtype", "fp32")), device)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    torch.manual_seed(int(cfg.get("seed", 0)))

    adapter = create_adapter(cfg["model"], device, dtype)
    engine = Engine(adapter, cfg["runtime"]["batch_size"], cfg["runtime"]["loader_workers"])
    max_new = (cfg["model"].get("generation") or {}).get("max_new_tokens") \
        or cfg["task"]["max_new_tokens"]
    by_id = {str(index): sample for index, sample in enumerate(run_.samples)}
    requests = [Request(rid, s.prompt, s.images, s.video, int(max_new))
                for rid, s in by_id.items()]

    samples_path = run_.debug_dir / "samples.jsonl"
    samples_path.unlink(missing_ok=True)
    samples_log = SamplesLog(samples_path)
    batch_log = BatchLog(run_.debug_dir / f"output_{time.strftime('%Y%m%d_%H%M%S')}.txt")
    records: list[dict] = []
    output_tokens = 0
    progress = tqdm(total=len(requests), desc=f"{run_.task} | {run_.model}", unit="sample")

    def on_batch(responses) -> None:
        nonlocal output_tokens
        batch = [make_record(run_, by_id[r.request_id], r.text, r.error, r.e2e_time)
                 for r in responses]
        output_tokens += sum(r.num_output_tokens for r in responses)
        samples_log.append(batch)
        batch_log.append(batch, max((r.e2e_time for r in responses), default=0.0))
        records.extend(batch)
        progress.update(len(batch))

    start = time.perf_counter()
    try:
        engine.run(requests, on_batch)
    finally:
        progress.close()
        samples_log.close()
        batch_log.close()
    elapsed = time.perf_counter() - start
    timing = {"device": device, "generation_seconds": round(elapsed, 3),
              "samples_per_second": len(records) / elapsed if elapsed else None,
              "tokens_per_second": output_tokens / elapsed if elapsed else None}
    write_reports(run_, records, timing)
    return 0
