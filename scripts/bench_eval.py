"""Evaluation throughput: the one-sample-at-a-time transformers `generate` loop that other
harnesses run, against this project's engine, on the same model and samples in one process.

    python scripts/bench_eval.py --out bench.json [--model demo_qwen2_vl] [--samples 64]
        [--batch-size 16] [--max-new-tokens 10] [key=value ...]

Extra key=value arguments are Hydra overrides (e.g. model.model_path=/data/Qwen2-VL-2B,
runtime.device=cuda). Writes {"baseline_samples_per_second", "engine_samples_per_second",
"speedup", "identical_predictions", ...} and prints a table.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch
from tabulate import tabulate

from inference.device import pick_device, resolve_dtype
from inference.engine import Engine
from inference.models import create_adapter
from inference.requests import Request
from modeltest.demo_data import build_textvqa
from modeltest.tasks import load_samples
from runners.config import compose, to_container
from runners.demo import demo_asset, ensure_demo_assets


def say(line: str) -> None:
    print(f"bench: {line}", file=sys.stderr, flush=True)


def baseline_loop(adapter, requests: list[Request]) -> list[str]:
    """What lmms-eval / VLMEvalKit style harnesses do: one sample, one generate call."""
    processor, model = adapter.processor, adapter.model
    answers = []
    for request in requests:
        image = adapter.prepare(request).images[0]   # the model's own media rules (e.g. Qwen2-VL's resize)
        messages = [{"role": "user", "content": [{"type": "image"},
                                                 {"type": "text", "text": request.text}]}]
        prompt = processor.apply_chat_template(messages, add_generation_prompt=True,
                                               tokenize=False)
        inputs = processor(text=[prompt], images=[image], return_tensors="pt",
                           **adapter.processor_kwargs).to(adapter.device)
        with torch.inference_mode():
            output = model.generate(**inputs, max_new_tokens=request.max_new_tokens,
                                    do_sample=False)
        new = output[0, inputs["input_ids"].shape[1]:].tolist()
        answers.append(adapter.tokenizer.decode(adapter._trim_padding(new),
                                                skip_special_tokens=False))
    return answers


def engine_run(engine: Engine, requests: list[Request]) -> list[str]:
    answers: dict[str, str] = {}
    engine.run(requests, lambda responses: answers.update(
        {r.request_id: r.text if r.error is None else f"ERROR {r.error}" for r in responses}))
    return [answers[r.request_id] for r in requests]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--model", default="demo_qwen2_vl")
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=10)
    args, overrides = parser.parse_known_args(argv)

    with tempfile.TemporaryDirectory() as scratch:
        data = Path(scratch) / "textvqa"
        say(f"building {args.samples} TextVQA-format demo samples ...")
        build_textvqa(data, count=args.samples)
        cfg = to_container(compose([f"model={args.model}", "task=textvqa",
                                    f"task.local_dataset_path={data / 'textvqa_val.jsonl'}",
                                    *overrides]))
        ensure_demo_assets([cfg["model"]["model_path"]])
        samples, _ = load_samples(cfg["task"], cfg["task"]["prompt_template"])
        device = pick_device(cfg["runtime"].get("device"))
        say(f"loading {args.model} on {device} ...")
        adapter = create_adapter(cfg["model"], device,
                                 resolve_dtype(cfg["model"]["dtype"], device))
        requests = [Request(str(i), s.prompt, s.images, None, args.max_new_tokens)
                    for i, s in enumerate(samples)]
        engine = Engine(adapter, args.batch_size, cfg["runtime"]["loader_workers"])
        say("warming up ...")
        baseline_loop(adapter, requests[:2])      # warm both paths up
        engine.warm_up(requests[0])

        say(f"timing the one-sample-at-a-time loop on {len(requests)} samples ...")
        start = time.perf_counter()
        baseline = baseline_loop(adapter, requests)
        baseline_seconds = time.perf_counter() - start
        say(f"loop: {baseline_seconds:.1f} s; timing the engine (batch {args.batch_size}) ...")
        start = time.perf_counter()
        batched = engine_run(engine, requests)
        engine_seconds = time.perf_counter() - start
        say(f"engine: {engine_seconds:.1f} s")

    result = {
        "model": args.model, "device": device, "samples": len(requests),
        "demo_data": True,   # generated TextVQA-format samples, not a benchmark
        "demo_model": demo_asset(cfg["model"]["model_path"]) is not None,
        "batch_size": args.batch_size, "max_new_tokens": args.max_new_tokens,
        "threads": torch.get_num_threads(),
        "baseline_seconds": round(baseline_seconds, 3),
        "engine_seconds": round(engine_seconds, 3),
        "baseline_samples_per_second": len(requests) / baseline_seconds,
        "engine_samples_per_second": len(requests) / engine_seconds,
        "speedup": baseline_seconds / engine_seconds,
        "identical_predictions": baseline == batched,
        "differing_samples": [r.request_id for r, a, b in zip(requests, baseline, batched)
                              if a != b],
    }
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(tabulate([["one sample at a time (transformers generate)", f"{baseline_seconds:.2f}",
                     f"{result['baseline_samples_per_second']:.2f}"],
                    [f"modeltest engine (batch {args.batch_size})", f"{engine_seconds:.2f}",
                     f"{result['engine_samples_per_second']:.2f}"]],
                   headers=["path", "seconds", "samples/s"], tablefmt="simple"))
    print(f"speedup: {result['speedup']:.2f}x   identical predictions: "
          f"{result['identical_predictions']}   ({len(requests)} samples, {device})")
    print("DEMO DATA: generated TextVQA-format samples"
          + (", demo model (random weights)" if result["demo_model"] else ""))
    return 0 if result["identical_predictions"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
