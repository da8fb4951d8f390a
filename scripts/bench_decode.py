"""Decode speed against the device's limit: per-token decode time at batch 1 and 16 and
evaluation samples/s for each decode backend, on the same checkpoint and samples, beside the
bandwidth bound (the bytes of weights one decode step reads / the device's memory bandwidth).

    python scripts/bench_decode.py --out decode.json            # random 2B-size Qwen2-VL, bf16
    python scripts/bench_decode.py --out decode.json --checkpoint /data/Qwen2-VL-2B-Instruct
    python scripts/bench_decode.py --out decode.json --small    # the demo model, in seconds
        [--batch-sizes 1,16] [--decode-tokens 64] [--repeats 3] [--samples 64]
        [--eval-batch-size 16] [--eval-new-tokens 32] [--dtype bf16|fp32]
        [--device auto|cpu|cuda|npu] [--bandwidth GB/s] [--backends eager,compiled]
        [--workdir DIR] [key=value ...]

Without --checkpoint or --small it first writes a random checkpoint of Qwen2-VL-2B-Instruct's
published sizes (scripts/random_checkpoint.py, 4.4 GB in bf16) into --workdir. Extra
key=value arguments are Hydra overrides of the model config.

Per-token decode time: a batch of image questions generates --decode-tokens tokens past EOS
(as runner=performance does); (end-to-end - first token) / (steps - 1), the median of
--repeats runs after an untimed one. Eval samples/s: the engine (batching, background media
workers) over --samples TextVQA-format samples at --eval-batch-size, after an untimed batch;
the predictions of every backend are compared with the first's.

Bandwidth bound: one decode step reads every weight of the language model once (the vision
tower does not run in decode), so no backend can decode faster per step than those bytes over
the device's memory bandwidth. The bandwidth comes from --bandwidth, else from the device's
name (DEVICE_BANDWIDTH), else, on a CPU, from a measured copy (labelled so).

Backends are the table's columns: BACKENDS maps a name to a class with `per_token(batch)` and
`evaluate(requests)` (DecodeBackend). `eager` and `compiled` are the embedded runtime with
runtime.compile=off and on (inference/compiled_decode.py), measured on the same loaded model.
The in-process vLLM backend (model.backend=vllm, issue 22 item 2) is a third entry there.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from abc import ABC, abstractmethod
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from tabulate import tabulate  # noqa: E402

# Memory bandwidth in GB/s (10^9 bytes/s) by device name, most specific first (a substring of
# torch's device name). NVIDIA's figures are its datasheets'. The Ascend 910B figure is the
# one publicly reported for the 64 GB HBM2e parts, not from a Huawei datasheet: pass
# --bandwidth when you know your card's.
DEVICE_BANDWIDTH = [
    ("H200", 4800), ("H100 NVL", 3900), ("H100 PCIe", 2000), ("H100", 3350),
    ("H800 PCIe", 2000), ("H800", 3350), ("H20", 4000),
    ("A100-SXM4-80GB", 2039), ("A100 80GB PCIe", 1935), ("A100", 1555), ("A800", 2039),
    ("L40S", 864), ("L40", 864), ("A10G", 600), ("A10", 600), ("L4", 300),
    ("RTX 4090", 1008), ("RTX 3090", 936), ("V100", 900), ("T4", 320),
    ("Ascend910B", 1600),
]


# -- the device and its bound ---------------------------------------------------------------
def device_name(device: str) -> str:
    if device.startswith("cuda"):
        return torch.cuda.get_device_name()
    if device.startswith("npu"):
        return torch.npu.get_device_name()
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return f"{line.split(':', 1)[1].strip()} ({torch.get_num_threads()} threads)"
    return "cpu"


def measured_copy_bandwidth(megabytes: int = 512, repeats: int = 5) -> float:
    """GB/s of a large tensor copy on the CPU (bytes read + written), best of a few."""
    source = torch.ones(megabytes * 2 ** 20 // 4, dtype=torch.float32)
    target = torch.empty_like(source)
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        target.copy_(source)
        best = min(best, time.perf_counter() - started)
    return 2 * source.numel() * 4 / best / 1e9


def bandwidth(device: str, name: str, given: float | None) -> tuple[float | None, str]:
    """(GB/s, where it came from)."""
    if given:
        return given, "--bandwidth"
    for pattern, value in DEVICE_BANDWIDTH:
        if pattern in name:
            return float(value), f"table ({pattern})"
    if device == "cpu":
        return measured_copy_bandwidth(), "measured copy (torch, 512 MiB)"
    return None, "unknown (pass --bandwidth)"


def decode_weight_bytes(model) -> int:
    """Bytes of the weights one decode step reads: every parameter but the vision tower's."""
    vision = {id(p) for name, module in model.named_modules()
              if name.split(".")[-1] in ("visual", "vision_tower", "vision_model", "vision")
              for p in module.parameters()}
    return sum(p.numel() * p.element_size() for p in model.parameters() if id(p) not in vision)


# -- backends (the table's columns) -----------------------------------------------------------
class DecodeBackend(ABC):
    """One column of the table, built from the shared Bench."""

    @abstractmethod
    def per_token(self, batch: int) -> dict:
        """Decode seconds per token at this batch size ("per_token_s": the median of the
        timed runs), and what else was measured."""

    @abstractmethod
    def evaluate(self, requests) -> tuple[float, list[str]]:
        """(seconds, predictions) of an evaluation pass over the requests, after an untimed
        warm-up."""

    @abstractmethod
    def describe(self) -> dict:
        """What ran (for the JSON)."""


class EmbeddedBackend(DecodeBackend):
    """This project's runtime on the loaded model, with runtime.compile=`setting`."""

    def __init__(self, bench: "Bench", setting: str):
        from inference.compiled_decode import CompiledDecode, plan_for

        self.bench = bench
        self.decode = CompiledDecode(plan_for(setting, bench.device))

    def _use(self):
        self.bench.adapter.decode = self.decode
        return self.bench.adapter

    def per_token(self, batch: int) -> dict:
        adapter = self._use()
        tokens, prepared = self.bench.args.decode_tokens, self.bench.prepared(batch)

        def generate(new_tokens: int):
            started = time.process_time()
            result = adapter.generate(prepared, max_new_tokens=new_tokens, ignore_eos=True)
            return result, time.process_time() - started

        generate(tokens), generate(1)           # untimed: every shape warmed (compiled)
        full, prefill_only = [], []
        for _ in range(self.bench.args.repeats):
            full.append(generate(tokens))
            prefill_only.append(generate(1))
        per_token = [(g.e2e_time - g.first_token_time) / max(g.steps - 1, 1) for g, _ in full]
        # CPU seconds of this process per decode step: the difference between a run of
        # `tokens` and a prefill-only run (robust on a shared machine, where wall time is not)
        cpu = [(a - b) / max(tokens - 1, 1) for (_, a), (_, b) in zip(full, prefill_only)]
        return {"per_token_s": statistics.median(per_token), "runs_s": per_token,
                "cpu_per_token_s": statistics.median(cpu), "cpu_runs_s": cpu,
                "prefill_s": statistics.median(g.first_token_time - g.preprocess_time
                                               for g, _ in full),
                "input_len": full[0][0].prompt_len, "steps": full[0][0].steps}

    def evaluate(self, requests) -> tuple[float, list[str]]:
        from inference.engine import Engine

        adapter = self._use()
        args = self.bench.args
        engine = Engine(adapter, args.eval_batch_size, self.bench.cfg["runtime"]["loader_workers"])
        run_engine(engine, requests[:args.eval_batch_size])     # untimed: warms every shape
        started = time.perf_counter()
        predictions = run_engine(engine, requests)
        return time.perf_counter() - started, predictions

    def describe(self) -> dict:
        return self.decode.summary()


# A new column: a DecodeBackend subclass registered here (name -> factory(bench)).
BACKENDS = {
    "eager": lambda bench: EmbeddedBackend(bench, "off"),
    "compiled": lambda bench: EmbeddedBackend(bench, "on"),
}


def run_engine(engine, requests) -> list[str]:
    answers: dict[str, str] = {}
    engine.run(requests, lambda responses: answers.update(
        {r.request_id: r.text if r.error is None else f"ERROR {r.error}" for r in responses}))
    return [answers[r.request_id] for r in requests]


# -- the benchmark ----------------------------------------------------------------------------
class Bench:
    """The checkpoint, the samples and the loaded model every backend shares."""

    def __init__(self, args, cfg: dict, requests, device: str):
        from inference.device import resolve_dtype
        from runners.models import create_adapter

        self.args, self.cfg, self.requests, self.device = args, cfg, requests, device
        say(f"loading {cfg['model']['model_path']} ({args.dtype}) on {device} ...")
        self.adapter = create_adapter(cfg["model"], device, resolve_dtype(args.dtype, device))

    def prepared(self, batch: int):
        from inference.requests import Request

        chosen = [self.requests[i % len(self.requests)] for i in range(batch)]
        return [self.adapter.prepare(Request(str(i), r.text, r.images[:1], None,
                                             self.args.decode_tokens))
                for i, r in enumerate(chosen)]


def say(line: str) -> None:
    print(f"bench_decode: {line}", file=sys.stderr, flush=True)


def checkpoint_for(args, workdir: Path) -> tuple[list[str], str]:
    """(model overrides, a description of the checkpoint)."""
    if args.small:
        return ["model=demo_qwen2_vl"], "demo_qwen2_vl (tiny, random weights)"
    if args.checkpoint:
        return ["model=qwen2_vl", f"model.model_path={args.checkpoint}"], str(args.checkpoint)
    folder = workdir / "qwen2_vl_2b_random"
    if not (folder / "config.json").is_file():
        import subprocess

        say(f"writing a random Qwen2-VL-2B-size checkpoint into {folder} ...")
        subprocess.run([sys.executable, str(ROOT / "scripts" / "random_checkpoint.py"),
                        "--size", "qwen2_vl_2b", "--out", str(folder), "--dtype", args.dtype],
                       check=True)
    return ["model=qwen2_vl", f"model.model_path={folder}"], \
        "random Qwen2-VL-2B size (scripts/random_checkpoint.py)"


def parse(argv: list[str]):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--checkpoint", type=Path, help="a Qwen2-VL checkpoint folder")
    source.add_argument("--small", action="store_true", help="the demo model (a quick run)")
    parser.add_argument("--workdir", type=Path, help="where the random checkpoint is written")
    parser.add_argument("--batch-sizes", default="1,16")
    parser.add_argument("--decode-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--eval-batch-size", type=int, default=16)
    parser.add_argument("--eval-new-tokens", type=int, default=32)
    parser.add_argument("--dtype", choices=["bf16", "fp32"], default=None,
                        help="default: bf16 (fp32 with --small)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--bandwidth", type=float, help="memory bandwidth in GB/s")
    parser.add_argument("--backends", default=",".join(BACKENDS))
    args, overrides = parser.parse_known_args(argv)
    args.dtype = args.dtype or ("fp32" if args.small else "bf16")
    args.batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    args.backends = args.backends.split(",")
    unknown = [b for b in args.backends if b not in BACKENDS]
    if unknown:
        parser.error(f"--backends: unknown {unknown} (known: {', '.join(BACKENDS)})")
    bad = [o for o in overrides if "=" not in o or o.startswith("-")]
    if bad:
        parser.error(f"unrecognised arguments: {' '.join(bad)}")
    return args, overrides


def main(argv: list[str]) -> int:
    from inference.device import pick_device
    from inference.requests import Request
    from modeltest.demo_data import build_textvqa
    from modeltest.tasks import load_samples
    from runners.config import compose, to_container
    from runners.demo import ensure_demo_assets
    from runners.evaluation import prompt_template

    args, overrides = parse(argv)
    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as scratch:
        workdir = args.workdir or Path(scratch)
        model, described = checkpoint_for(args, workdir)
        data = Path(scratch) / "textvqa"
        build_textvqa(data, count=args.samples)
        cfg = to_container(compose([*model, f"model.dtype={args.dtype}", "task=textvqa",
                                    f"task.local_dataset_path={data / 'textvqa_val.jsonl'}",
                                    f"runtime.device={args.device}", *overrides]))
        ensure_demo_assets([cfg["model"]["model_path"]])
        samples, _ = load_samples(cfg["task"], prompt_template(cfg))
        requests = [Request(str(i), s.prompt, s.images, s.video, args.eval_new_tokens)
                    for i, s in enumerate(samples)]
        device = pick_device(args.device)
        bench = Bench(args, cfg, requests, device)
        weights = decode_weight_bytes(bench.adapter.model)
        name = device_name(device)
        gbps, source = bandwidth(device, name, args.bandwidth)
        bound = weights / (gbps * 1e9) if gbps else None

        results: dict[str, dict] = {}
        for backend_name in args.backends:
            backend = BACKENDS[backend_name](bench)
            entry: dict = {"per_token": {}}
            for batch in args.batch_sizes:
                say(f"{backend_name}: decode at batch {batch} ({args.decode_tokens} tokens, "
                    f"{args.repeats} timed runs) ...")
                entry["per_token"][str(batch)] = backend.per_token(batch)
            say(f"{backend_name}: eval pass over {len(requests)} samples (batch "
                f"{args.eval_batch_size}) ...")
            seconds, predictions = backend.evaluate(requests)
            entry.update(eval_seconds=seconds, samples_per_second=len(requests) / seconds,
                         predictions=predictions, decode=backend.describe())
            results[backend_name] = entry

    first = results[args.backends[0]]["predictions"]
    for entry in results.values():
        entry["identical_predictions_to_" + args.backends[0]] = entry.pop("predictions") == first
    report = {"checkpoint": described, "device": device, "device_name": name,
              "load_average": {"start": load_start, "end": os.getloadavg()[0]},
              "dtype": args.dtype, "threads": torch.get_num_threads(),
              "decode_weight_bytes": weights, "bandwidth_gb_s": gbps,
              "bandwidth_source": source, "bound_per_token_s": bound,
              "decode_tokens": args.decode_tokens, "repeats": args.repeats,
              "samples": len(requests), "eval_batch_size": args.eval_batch_size,
              "eval_new_tokens": args.eval_new_tokens, "demo_data": True,
              "backends": results}
    Path(args.out).write_text(json.dumps(report, indent=2))
    print(table(report, args))
    return 0


def table(report: dict, args) -> str:
    """Rows: per-token time per batch size, eval samples/s; columns: the backends, then the
    bandwidth bound."""
    names = list(report["backends"])
    bound = report["bound_per_token_s"]
    rows = []
    for batch in args.batch_sizes:
        rows.append([f"decode ms/token, batch {batch}",
                     *[f"{report['backends'][n]['per_token'][str(batch)]['per_token_s'] * 1e3:.2f}"
                       for n in names],
                     f"{bound * 1e3:.2f}" if bound else "n/a"])
    if report["device"] == "cpu":
        for batch in args.batch_sizes:
            rows.append([f"decode CPU ms/token, batch {batch}",
                         *[f"{report['backends'][n]['per_token'][str(batch)]['cpu_per_token_s'] * 1e3:.2f}"
                           for n in names], ""])
    rows.append(["eval samples/s", *[f"{report['backends'][n]['samples_per_second']:.2f}"
                                     for n in names], ""])
    rows.append([f"same predictions as {names[0]}",
                 *["yes" if report["backends"][n][f"identical_predictions_to_{names[0]}"]
                   else "NO" for n in names], ""])
    bandwidth_note = (f"{report['bandwidth_gb_s']:.0f} GB/s, {report['bandwidth_source']}"
                      if report["bandwidth_gb_s"] else report["bandwidth_source"])
    return (tabulate(rows, headers=["", *names, "bandwidth bound"], tablefmt="simple") +
            f"\n{report['checkpoint']}, {report['dtype']}, {report['device_name']}; decode "
            f"weights {report['decode_weight_bytes'] / 1e9:.2f} GB at {bandwidth_note}; "
            f"{report['samples']} TextVQA-format demo samples, {report['eval_new_tokens']} new "
            f"tokens; per-token: {report['decode_tokens']} tokens, median of "
            f"{report['repeats']}; load average {report['load_average']['start']:.1f} at "
            f"the start, {report['load_average']['end']:.1f} at the end")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
