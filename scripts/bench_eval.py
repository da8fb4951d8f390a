"""Evaluation throughput: the one-sample-at-a-time transformers `generate` loop that other
harnesses run, against this project's engine, on the same model and samples in one process.

    python scripts/bench_eval.py --out bench.json [--model demo_qwen2_vl] [--samples 64]
        [--batch-size 16] [--max-new-tokens 10] [key=value ...]
    python scripts/bench_eval.py --task videobench --out bench.json [--videos 8]
        [--questions-per-video 8] [--video-seconds 30] [--video-fps 25] [--video-size 256]

`--peer lmms-eval` also runs lmms-eval's own Qwen2-VL backend (installed in its own venv,
`--peer-python <venv>/bin/python`) on the same samples, prompt and token budget, at each of
`--peer-batch-sizes`, and reports samples/s of both, answer agreement, and batch-size
invariance of each (batched answers against their own batch-1 answers):

    python scripts/bench_eval.py --out bench.json --samples 32 --peer lmms-eval \
        --peer-python /path/to/lmms-venv/bin/python [--peer-batch-sizes 1,4,8] [--task vqav2]
        [--threads 1]

`--threads N` sets torch's intra-op threads in this process and in the peer's (on a shared
CPU, compare the two at one setting).

`--task videobench` builds a Video-Bench-format set with several questions per video; the
loop decodes each question's video from its first frame (no cache), the engine decodes each
video once per run (inference.video_cache).

Extra key=value arguments are Hydra overrides (e.g. model.model_path=/data/Qwen2-VL-2B,
runtime.device=cuda). Writes {"baseline_samples_per_second", "engine_samples_per_second",
"speedup", "identical_predictions", ..., "peer_comparison" (with --peer)} and prints a table.
"""
from __future__ import annotations

import argparse
import json
import os
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
from modeltest.demo_data import build_textvqa, build_vqav2
from modeltest.tasks import load_samples
from runners.config import compose, to_container
from runners.demo import demo_asset, ensure_demo_assets

import bench_peer


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


def engine_responses(engine: Engine, requests: list[Request]) -> list:
    responses: dict = {}
    engine.run(requests, lambda done: responses.update({r.request_id: r for r in done}))
    return [responses[r.request_id] for r in requests]


def timed_responses(engine: Engine, requests: list[Request]) -> tuple[list, float, float]:
    """The engine's responses, wall seconds and CPU seconds (the process's, all threads:
    less moved than wall time by the other jobs on a shared machine)."""
    start, cpu = time.perf_counter(), time.process_time()
    responses = engine_responses(engine, requests)
    return responses, time.perf_counter() - start, time.process_time() - cpu


def peer_form(adapter, response) -> str:
    """An answer as lmms-eval's Qwen2-VL backend reports its own (ids up to the end of
    sequence, special tokens dropped, whitespace stripped), so that the two harnesses'
    answers compare by what was generated, not by how each prints it."""
    if response.error is not None:
        return f"ERROR {response.error}"
    return adapter.tokenizer.decode(response.output_ids, skip_special_tokens=True).strip()


def our_prompt(adapter, request: Request) -> str:
    """The chat text this harness's adapter renders for a request (as in build_inputs)."""
    prepared = adapter.prepare(request)
    messages = [{"role": "user", "content": adapter._content(prepared)}]
    return (adapter.processor.apply_chat_template(messages, add_generation_prompt=True,
                                                  tokenize=False)
            + adapter.answer_begun(request))


def build_data(task: str, folder: Path, samples: int) -> list[str]:
    """Demo samples in the task's own format; the Hydra overrides that point the task at them."""
    if task == "vqav2":
        build_vqav2(folder, count=samples)
        return ["task=vqav2",
                f"task.question_file={folder / 'v2_OpenEnded_mscoco_val2014_questions.json'}",
                f"task.annotation_file={folder / 'v2_mscoco_val2014_annotations.json'}",
                f"task.image_dir={folder / 'val2014'}"]
    build_textvqa(folder, count=samples)
    return ["task=textvqa", f"task.local_dataset_path={folder / 'textvqa_val.jsonl'}"]


def run_peer(args, cfg, adapter, batched: tuple[list, float, float],
             requests: list[Request], samples, scratch: Path, device: str) -> dict:
    """Ours at --batch-size (`batched`: the run above, timed_responses) and at batch 1,
    lmms-eval at each --peer-batch-sizes, on the same samples; answers compared in one form
    (peer_form)."""
    ours_b, ours_b_seconds, ours_b_cpu = batched
    one = Engine(adapter, 1, cfg["runtime"]["loader_workers"])
    one.warm_up(requests[0])
    say("timing the engine at batch 1 ...")
    ours_1, ours_1_seconds, ours_1_cpu = timed_responses(one, requests)
    say(f"engine batch 1: {ours_1_seconds:.1f} s")
    ours = {1: [peer_form(adapter, r) for r in ours_1],
            args.batch_size: [peer_form(adapter, r) for r in ours_b]}
    ids_1, ids_b = [r.output_ids for r in ours_1], [r.output_ids for r in ours_b]

    copy = bench_peer.write_peer_copy(samples, scratch / "peer" / "dataset")
    vision = cfg["model"]["vision"]
    job = {"model_path": cfg["model"]["model_path"], "dataset_dir": str(copy),
           "max_new_tokens": args.max_new_tokens, "batch_sizes": args.peer_batch_sizes,
           "warmup_samples": len(requests), "threads": torch.get_num_threads(),
           # the same image pixel budget as this harness's model yaml (qwen-vl-utils' rule
           # in both); lmms-eval's own defaults are the 7B model card's
           "model_args": {"device": device, "min_pixels": int(vision["min_pixels"]),
                          "max_pixels": int(vision["max_pixels"])}}
    load_before = os.getloadavg()
    peer = bench_peer.run_lmms_eval(args.peer_python, job, scratch / "peer", say)
    runs = {run["batch_size"]: run for run in peer["runs"]}
    peer_1 = runs[1]["answers"]
    rendered = {size: run.pop("prompts") for size, run in runs.items()}
    peer_model = runs[1].pop("model")   # the same for every run
    for run in runs.values():
        run.pop("model", None)
    peer_prompts = set(rendered[1])
    ours_prompts = [our_prompt(adapter, r) for r in requests]
    same_prompts = sum(prompt in peer_prompts for prompt in ours_prompts)
    say(f"prompts: {same_prompts}/{len(requests)} of this harness's chat texts are among "
        "those lmms-eval rendered")
    for run in runs.values():
        run["samples_per_second"] = len(requests) / run["generate_seconds"]
        run["cpu_ms_per_sample"] = 1000 * run["generate_cpu_seconds"] / len(requests)
        run["differing_from_own_batch_1"] = len(bench_peer.differing(run["answers"], peer_1))
        run["differing_from_engine"] = len(bench_peer.differing(run["answers"],
                                                                ours[args.batch_size]))
    best = max(runs.values(), key=lambda run: run["samples_per_second"])
    say(f"lmms-eval best: batch {best['batch_size']}, {best['samples_per_second']:.2f} samples/s")
    return {
        "peer": "lmms-eval", "peer_version": peer["lmms_eval_version"],
        "peer_python": args.peer_python, "peer_model_args": job["model_args"],
        "peer_model": peer_model,       # dtype, torch threads, attention as lmms-eval loaded it
        "engine_model": {"dtype": str(adapter.model.dtype), "threads": torch.get_num_threads(),
                         "attn_implementation": adapter.model.config._attn_implementation},
        "compared_form": "decoded ids up to end of sequence, special tokens dropped, stripped",
        "identical_prompts": same_prompts,    # chat texts, before the media tokens expand
        "example_prompts": {"modeltest": ours_prompts[0],
                            "lmms_eval": next((p for p in sorted(peer_prompts)
                                               if requests[0].text in p), None)},
        "load_average_before_peer": [round(x, 2) for x in load_before],
        "load_average_after_peer": [round(x, 2) for x in os.getloadavg()],
        "engine": {
            "batch_size": args.batch_size,
            "samples_per_second": len(requests) / ours_b_seconds,
            "batch_1_samples_per_second": len(requests) / ours_1_seconds,
            "cpu_ms_per_sample": 1000 * ours_b_cpu / len(requests),
            "batch_1_cpu_ms_per_sample": 1000 * ours_1_cpu / len(requests),
            "differing_from_own_batch_1": len(bench_peer.differing(ours[args.batch_size],
                                                                   ours[1])),
            "differing_ids_from_own_batch_1": len(bench_peer.differing(ids_b, ids_1)),
            "answers": ours[args.batch_size],
        },
        "lmms_eval": {
            "best_batch_size": best["batch_size"],
            "best_samples_per_second": best["samples_per_second"],
            "best_differing_from_engine": best["differing_from_engine"],
            "batch_1_differing_from_engine_batch_1": len(bench_peer.differing(peer_1, ours[1])),
            "runs": [runs[size] for size in sorted(runs)],
        },
    }


def print_peer_table(result: dict, samples: int) -> None:
    engine, peer = result["engine"], result["lmms_eval"]
    rows = [[f"modeltest engine (batch {engine['batch_size']})",
             f"{engine['samples_per_second']:.2f}", f"{engine['cpu_ms_per_sample']:.1f}",
             f"{engine['differing_from_own_batch_1']}/{samples}", "-"],
            ["modeltest engine (batch 1)", f"{engine['batch_1_samples_per_second']:.2f}",
             f"{engine['batch_1_cpu_ms_per_sample']:.1f}", "-", "-"]]
    for run in peer["runs"]:
        best = " (best)" if run["batch_size"] == peer["best_batch_size"] else ""
        rows.append([f"lmms-eval {result['peer_version']} qwen2_vl (batch {run['batch_size']})"
                     + best, f"{run['samples_per_second']:.2f}",
                     f"{run['cpu_ms_per_sample']:.1f}",
                     f"{run['differing_from_own_batch_1']}/{samples}",
                     f"{run['differing_from_engine']}/{samples}"])
    print(tabulate(rows, headers=["path", "samples/s", "CPU ms/sample",
                                  "differ from own batch 1",
                                  f"differ from engine (batch {engine['batch_size']})"],
                   tablefmt="simple"))
    print(f"identical chat texts: {result['identical_prompts']}/{samples}")
    print(f"lmms-eval batch 1 against engine batch 1: "
          f"{peer['batch_1_differing_from_engine_batch_1']}/{samples} answers differ; "
          f"load average {result['load_average_before_peer'][0]} -> "
          f"{result['load_average_after_peer'][0]}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--model", default="demo_qwen2_vl")
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=10)
    parser.add_argument("--task", choices=["textvqa", "vqav2", "videobench"], default="textvqa")
    parser.add_argument("--peer", choices=["lmms-eval"], default=None,
                        help="also run this harness's peer on the same samples")
    parser.add_argument("--peer-python", default=sys.executable,
                        help="the Python that has the peer installed (its own venv)")
    parser.add_argument("--peer-batch-sizes", default="1,4,8",
                        help="the peer's batch sizes (batch 1 is always run)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op threads for this process and the peer "
                             "(default: torch's)")
    parser.add_argument("--videos", type=int, default=8)
    parser.add_argument("--questions-per-video", type=int, default=8)
    parser.add_argument("--video-seconds", type=int, default=30)
    parser.add_argument("--video-fps", type=int, default=25)
    parser.add_argument("--video-size", type=int, default=256)
    args, overrides = parser.parse_known_args(argv)
    video = args.task == "videobench"
    if args.threads is not None:
        # on a shared CPU, two OpenMP threads that wait on each other can cost several
        # times the work itself; one setting for both harnesses keeps the comparison fair
        torch.set_num_threads(args.threads)
    if args.peer:
        # refused in one line before any data is built or model loaded
        try:
            args.peer_batch_sizes = bench_peer.parse_batch_sizes(args.peer_batch_sizes)
        except ValueError as error:
            print(f"bench: {error}", file=sys.stderr)
            return 2
        if video:
            print("bench: --peer lmms-eval compares image tasks (textvqa, vqav2), not "
                  "videobench", file=sys.stderr)
            return 2
        model_overrides = [o for o in overrides if o.lstrip("+~").startswith("model.")]
        model = to_container(compose([f"model={args.model}", *model_overrides]))["model"]
        if model["adapter"] != "qwen2_vl" or model["backend"] != "embedded":
            print(f"bench: --peer lmms-eval runs lmms-eval's qwen2_vl backend: model "
                  f"{args.model} is adapter {model['adapter']}, backend {model['backend']} "
                  "(use a Qwen2-VL model on the embedded runtime)", file=sys.stderr)
            return 2
        version = bench_peer.lmms_eval_version(args.peer_python)
        if version is None:
            print(f"bench: lmms-eval is not installed for {args.peer_python}: "
                  f"{bench_peer.INSTALL}", file=sys.stderr)
            return 2
        say(f"peer: lmms-eval {version} in {args.peer_python}")

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
            say(f"building {args.samples} {args.task}-format demo samples ...")
            task = build_data(args.task, Path(scratch) / args.task, args.samples)
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
        responses, engine_seconds, engine_cpu_seconds = timed_responses(engine, requests)
        misses = video_cache.CACHE.decodes - misses
        batched = [r.text if r.error is None else f"ERROR {r.error}" for r in responses]
        say(f"engine: {engine_seconds:.1f} s")
        peer = (run_peer(args, cfg, adapter, (responses, engine_seconds, engine_cpu_seconds),
                         requests, samples, Path(scratch), device) if args.peer else None)

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
        **({"peer_comparison": peer} if peer else {}),
    }
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(tabulate([["one sample at a time (transformers generate)", f"{baseline_seconds:.2f}",
                     f"{result['baseline_samples_per_second']:.2f}"],
                    [f"modeltest engine (batch {args.batch_size})", f"{engine_seconds:.2f}",
                     f"{result['engine_samples_per_second']:.2f}"]],
                   headers=["path", "seconds", "samples/s"], tablefmt="simple"))
    print(f"speedup: {result['speedup']:.2f}x   identical predictions: "
          f"{result['identical_predictions']}   ({len(requests)} samples, {device})")
    if peer:
        print_peer_table(peer, len(requests))
    print(f"DEMO DATA: generated {'Video-Bench' if video else args.task}-format samples"
          + (", demo model (random weights)" if result["demo_model"] else ""))
    return 0 if result["identical_predictions"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
