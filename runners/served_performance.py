"""runner=performance for a served model (model.adapter=served): throughput and latency at
each concurrency in runner.batch_sizes (requests in flight at once), every request with one
image and runner.max_output_length tokens (the server is asked to ignore EOS where it can).
Time to first token is measured when the server streams (model.stream=true). Writes the same
CSVs and plot as the embedded sweep, plus performance/served_latency.json (per level:
requests/s, latency and time-to-first-token percentiles, retries)."""
from __future__ import annotations

import json
import statistics

from runners.models import check_model, create_adapter, generation_settings
from inference.requests import Request
from modeltest.reports.atomic import write_text_atomic
from modeltest.reports.performance_report import performance_row, write_performance_report
from runners.config import ConfigError, to_container
from runners.demo import ensure_demo_model
from runners.evaluation import open_run


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))] if ordered \
        else 0.0


def run_served(hydra_cfg) -> int:
    from runners.performance import Heartbeat, median_row

    cfg = to_container(hydra_cfg)
    run_ = open_run(hydra_cfg, defer_config=True)    # config.yaml and results/ at the end
    with_image = [s for s in run_.samples if s.images]
    if not with_image:
        raise ConfigError(f"task {run_.task} has no image samples for runner=performance")
    demo_model = ensure_demo_model(cfg["model"]["model_path"])
    check_model(cfg["model"])
    adapter = create_adapter(cfg["model"], "cpu", None)
    runner = cfg["runner"]
    length = int(runner["max_output_length"])

    def requests(count: int):
        return [adapter.prepare(Request(str(i), s.prompt, s.images[:1], None, length))
                for i, s in enumerate(with_image[i % len(with_image)] for i in range(count))]

    try:
        for _ in range(int(runner["warmup"])):
            adapter.generate(requests(1), min(length, 8), ignore_eos=True)
        rows, levels = [], []
        for level in runner["batch_sizes"]:
            adapter.set_concurrency(int(level))
            runs = []
            for repeat in range(1, int(runner["repeats"]) + 1):   # the median is reported
                with Heartbeat(print, f"concurrency {level}, run {repeat}"):
                    result = adapter.generate(requests(int(level)), length, ignore_eos=True)
                failed = [e for e in result.errors if e]
                if failed:
                    raise ConfigError(f"runner=performance at concurrency {level}: {failed[0]}")
                prompt = round(statistics.mean(result.prompt_tokens))
                output = round(statistics.mean(result.output_tokens))
                first = statistics.mean(result.first_token_times)
                runs.append(performance_row(int(level), prompt, prompt, output,
                                            result.e2e_time, first))
                print(f"concurrency {level}, run {repeat} of {runner['repeats']}: "
                      f"{result.e2e_time:.1f} s", flush=True)
            rows.append(median_row(runs))
            levels.append({
                "concurrency": int(level), "requests": len(result.texts),
                "requests_per_second": len(result.texts) / result.e2e_time,
                "output_tokens_per_second": sum(result.output_tokens) / result.e2e_time,
                "latency_ms": {"mean": 1000 * statistics.mean(result.e2e_times),
                               "p50": 1000 * _percentile(result.e2e_times, 0.5),
                               "p90": 1000 * _percentile(result.e2e_times, 0.9)},
                "first_token_ms": {"mean": 1000 * first,
                                   "p50": 1000 * _percentile(result.first_token_times, 0.5),
                                   "p90": 1000 * _percentile(result.first_token_times, 0.9)}
                if adapter.stream else None})
    finally:
        adapter.close()
    stats = adapter.run_stats()["served"]
    generation = generation_settings(cfg["model"]).with_max_new_tokens(length).record()
    write_performance_report(run_, cfg, rows, 0.0,
                             f"served ({stats['api']} at {stats['endpoint']})",
                             {"demo_data": run_.demo_data, "demo_model": demo_model}, generation)
    write_text_atomic(run_.results_dir / "served_latency.json",
                      json.dumps({**stats, "max_output_length": length, "levels": levels},
                                 indent=2))
    return 0
