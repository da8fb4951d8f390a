"""Evaluation throughput: the one-sample-at-a-time transformers `generate` loop that other
harnesses run, against this project's engine, on the same model and samples in one process.

    python scripts/bench_eval.py --out bench.json [--model demo_qwen2_vl] [--samples 64]
        [--batch-size 16] [--max-new-tokens 10] [key=value ...]
    python scripts/bench_eval.py --task videobench --out bench.json [--videos 8]
        [--questions-per-video 8] [--video-seconds 30] [--video-fps 25] [--video-size 256]

`--task videobench` builds a Video-Bench-format set with several questions per video; the
loop decodes each question's video from its first frame (no cache), the engine decodes each
video once per run (inference.video_cache).

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

from inference import video_cache
from inference.device import pick_device, resolve_dtype
from inference.engine import Engine
from runners.models import create_adapter
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


def baseline_video_loop(adapter, requests: list[Request]) -> list[str]:
    """One sample, one decode of its video from the start, one generate call."""
    from inference.video_cache import CACHE

    processor, model = adapter.processor, adapter.model
    entries, CACHE.max_entries = CACHE.max_entries, 0       # no reuse between questions
    answers = []
    try:
        for request in requests:
            prepared = adapter.prepare(request)
            messages = [{"role": "user", "content": adapter._content(prepared)}]
            prompt = processor.apply_chat_template(messages, add_generation_prompt=True,
                                                   tokenize=False)
            kwargs = dict(adapter.processor_kwargs)
            if adapter.video_mode == "native":
                kwargs.setdefault("videos_kwargs", {})["do_sample_frames"] = False
                media = {"videos": [prepared.video_frames]}
            else:
                media = {"images": list(prepared.video_frames)}
            inputs = processor(text=[prompt], return_tensors="pt", **media,
                               **kwargs).to(adapter.device)
            with torch.inference_mode():
                output = model.generate(**inputs, max_new_tokens=request.max_new_tokens,
                                        do_sample=False)
            new = output[0, inputs["input_ids"].shape[1]:].tolist()
            answers.append(adapter.tokenizer.decode(adapter._trim_padding(new),
                                                    skip_special_tokens=False))
    finally:
        CACHE.max_entries = entries
    return answers


def build_videobench_set(folder: Path, videos: int, questions: int, seconds: int, fps: int,
                         size: int) -> Path:
    """Video-Bench layout (Eval_QA/<subset>_QA_new.json, answer/ANSWER.json, Eval_video/):
    `questions` questions on each of `videos` generated videos."""
    from modeltest.demo_data import write_video

    eval_qa = folder / "Eval_QA"
    (eval_qa / "answer").mkdir(parents=True, exist_ok=True)
    (folder / "Eval_video" / "MSVD").mkdir(parents=True, exist_ok=True)
    asks = ["What happens in the video?", "Which way does the square move?",
            "What colour is the background?", "Is anything moving?", "How many squares?",
            "Is it day or night?", "What shape is shown?", "Describe the scene."]
    qa, answers = {}, {}
    for v in range(videos):
        name = f"msvd_{v:03d}.mp4"
        write_video(folder / "Eval_video" / "MSVD" / name, v, seconds=seconds, fps=fps,
                    size=size)
        for q in range(questions):
            qid = f"MSVD_{v}_{q}"
            qa[qid] = {"vid_path": f"./Eval_video/MSVD/{name}", "video_id": name[:-4],
                       "question": asks[q % len(asks)] + ("" if q < len(asks) else f" ({q})"),
                       "choices": {"A": "a square moving", "B": "a dog", "C": "rain"}}
            answers[qid] = {"answer": "A"}
    (eval_qa / "MSVD_QA_new.json").write_text(json.dumps(qa))
    (eval_qa / "answer" / "ANSWER.json").write_text(json.dumps({"MSVD": answers}))
    return eval_qa


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
    parser.add_argument("--task", choices=["textvqa", "videobench"], default="textvqa")
    parser.add_argument("--videos", type=int, default=8)
    parser.add_argument("--questions-per-video", type=int, default=8)
    parser.add_argument("--video-seconds", type=int, default=30)
    parser.add_argument("--video-fps", type=int, default=25)
    parser.add_argument("--video-size", type=int, default=256)
    args, overrides = parser.parse_known_args(argv)
    video = args.task == "videobench"

    with tempfile.TemporaryDirectory() as scratch:
        if video:
            say(f"building a Video-Bench-format set: {args.videos} videos x "
                f"{args.questions_per_video} questions ...")
            eval_qa = build_videobench_set(Path(scratch) / "videobench", args.videos,
                                           args.questions_per_video, args.video_seconds,
                                           args.video_fps, args.video_size)
            task = ["task=videobench", f"task.local_dataset_path={eval_qa}",
                    "task.subjects=[MSVD]"]
        else:
            data = Path(scratch) / "textvqa"
            say(f"building {args.samples} TextVQA-format demo samples ...")
            build_textvqa(data, count=args.samples)
            task = ["task=textvqa", f"task.local_dataset_path={data / 'textvqa_val.jsonl'}"]
        cfg = to_container(compose([f"model={args.model}", *task, *overrides]))
        ensure_demo_assets([cfg["model"]["model_path"]])
        samples, _ = load_samples(cfg["task"], cfg["task"]["prompt_template"])
        device = pick_device(cfg["runtime"].get("device"))
        say(f"loading {args.model} on {device} ...")
        adapter = create_adapter(cfg["model"], device,
                                 resolve_dtype(cfg["model"]["dtype"], device))
        requests = [Request(str(i), s.prompt, s.images, s.video, args.max_new_tokens)
                    for i, s in enumerate(samples)]
        video_cache.configure_from(cfg["runtime"])
        engine = Engine(adapter, args.batch_size, cfg["runtime"]["loader_workers"])
        loop = baseline_video_loop if video else baseline_loop
        say("warming up ...")
        loop(adapter, requests[:2])      # warm both paths up
        engine.warm_up(requests[0])
        video_cache.CACHE.clear()        # the engine's timed run starts with nothing decoded

        say(f"timing the one-sample-at-a-time loop on {len(requests)} samples ...")
        start = time.perf_counter()
        baseline = loop(adapter, requests)
        baseline_seconds = time.perf_counter() - start
        say(f"loop: {baseline_seconds:.1f} s; timing the engine (batch {args.batch_size}) ...")
        misses = video_cache.CACHE.decodes
        start = time.perf_counter()
        batched = engine_run(engine, requests)
        misses = video_cache.CACHE.decodes - misses
        engine_seconds = time.perf_counter() - start
        say(f"engine: {engine_seconds:.1f} s")

    result = {
        "model": args.model, "device": device, "samples": len(requests),
        "task": args.task,
        "demo_data": True,   # generated samples in the task's format, not the benchmark
        **({"videos": args.videos, "questions_per_video": args.questions_per_video,
            "video_seconds": args.video_seconds, "video_fps": args.video_fps,
            "video_size": args.video_size, "engine_cache_misses": misses}   # container reads + frame decodes
           if video else {}),
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
    print(f"DEMO DATA: generated {'Video-Bench' if video else 'TextVQA'}-format samples"
          + (", demo model (random weights)" if result["demo_model"] else ""))
    return 0 if result["identical_predictions"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
