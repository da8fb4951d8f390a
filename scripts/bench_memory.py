"""Peak resident memory of loading and running a model at tp=1 and tp=2 (issue 12 item 1).

    python scripts/bench_memory.py --out memory.json [--size qwen2_vl_2b] [--workdir DIR]
        [--checkpoint DIR] [--device cpu|cuda] [--max-new-tokens 4] [--keep]

Writes a random Qwen2-VL checkpoint of a published size (scripts/random_checkpoint.py; the
2B size is 4.4 GB in bf16) unless --checkpoint names one, then runs the project's own loading
and generation path (the qwen2_vl adapter, one image question) in fresh processes: one for
tp=1, two under torchrun (gloo on CPU) for tp=2. Each process notes its resident memory
before loading (the baseline) and its peak resident memory (VmHWM) after loading and after
generating. Targets: tp1_peak - baseline <= 1.3 x checkpoint bytes, and
tp2_peak (the larger rank) - baseline <= 0.6 x (tp1_peak - baseline). On CUDA the device's
peak allocation is reported beside the host figures (tp=2 needs two GPUs).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TP1_TARGET, TP2_TARGET = 1.3, 0.6


def status_bytes(field: str) -> int:
    """A VmRSS/VmHWM line of /proc/self/status, in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def worker(args) -> int:
    """One rank: baseline, load through the adapter, generate, write figures as JSON."""
    import torch

    from inference.distributed import init_parallel, shutdown
    from runners.models import create_adapter
    from inference.requests import Request
    from runners.config import compose, to_container

    parallel = init_parallel(args.tp, 1, args.device)
    model_cfg = to_container(compose([f"model={args.model}",
                                      f"model.model_path={args.checkpoint}"]))["model"]
    dtype = torch.bfloat16
    baseline = status_bytes("VmRSS")
    started = time.perf_counter()
    adapter = create_adapter(model_cfg, args.device, dtype, parallel.tp_mesh)
    load_seconds = time.perf_counter() - started
    after_load = status_bytes("VmHWM")
    request = Request("memory", "Describe the picture.", [args.image],
                      max_new_tokens=args.max_new_tokens)
    started = time.perf_counter()
    generation = adapter.generate([adapter.prepare(request)], args.max_new_tokens)
    figures = {"rank": parallel.rank, "tp": args.tp, "baseline_bytes": baseline,
               "after_load_peak_bytes": after_load, "peak_bytes": status_bytes("VmHWM"),
               "load_seconds": round(load_seconds, 1),
               "generate_seconds": round(time.perf_counter() - started, 1),
               "input_tokens": generation.prompt_len, "output_ids": generation.output_ids[0],
               "parameter_bytes": sum(p.numel() * p.element_size()
                                      for p in adapter.model.parameters())}
    if args.device.startswith("cuda"):
        figures["device_peak_bytes"] = torch.cuda.max_memory_allocated()
    Path(args.report_dir, f"rank{parallel.rank}.json").write_text(json.dumps(figures))
    shutdown(parallel)
    return 0


def checkpoint_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for pattern in ("*.safetensors", "*.bin", "*.pt")
               for p in folder.glob(pattern))


def run_tp(args, tp: int, report_dir: Path) -> list[dict]:
    common = ["--worker", "--tp", str(tp), "--checkpoint", str(args.checkpoint),
              "--device", args.device, "--image", str(args.image), "--model", args.model,
              "--max-new-tokens", str(args.max_new_tokens), "--report-dir", str(report_dir)]
    if tp == 1:
        command = [sys.executable, __file__, *common]
    else:
        command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(tp),
                   "--master_port", str(29500 + os.getpid() % 1000), __file__, *common]
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS=str(args.threads))
    print(f"tp={tp}: loading and generating ...", flush=True)
    result = subprocess.run(command, env=env, cwd=ROOT)
    if result.returncode:
        raise SystemExit(f"tp={tp} run failed with exit code {result.returncode}")
    return [json.loads((report_dir / f"rank{r}.json").read_text()) for r in range(tp)]


def make_image(path: Path) -> Path:
    from PIL import Image

    Image.effect_noise((112, 112), 64).convert("RGB").save(path)
    return path


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path)
    parser.add_argument("--size", default="qwen2_vl_2b")
    parser.add_argument("--checkpoint", type=Path, help="an existing checkpoint to measure")
    parser.add_argument("--workdir", type=Path, help="where the random checkpoint is written")
    parser.add_argument("--keep", action="store_true", help="keep the random checkpoint")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--model", default="demo_qwen2_vl",
                        help="model yaml whose adapter and vision settings are used")
    parser.add_argument("--max-new-tokens", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1, help="OMP threads per process")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--tp", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--image", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--report-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args)

    with tempfile.TemporaryDirectory(dir=args.workdir) as scratch:
        scratch = Path(scratch)
        if args.checkpoint is None:
            from scripts.random_checkpoint import build

            import torch

            args.checkpoint = (args.workdir or scratch) / f"random-{args.size}"
            if not (args.checkpoint / "config.json").is_file():
                build(args.size, args.checkpoint, torch.bfloat16, "cpu", 0.02)
        args.image = make_image(scratch / "image.png")
        size = checkpoint_bytes(args.checkpoint)
        tp1 = run_tp(args, 1, scratch)
        tp2 = run_tp(args, 2, scratch) if args.device == "cpu" or _gpus() >= 2 else []
        if args.checkpoint.parent == scratch or (args.workdir and not args.keep
                                                 and args.checkpoint.name.startswith("random-")):
            import shutil

            shutil.rmtree(args.checkpoint, ignore_errors=True)
    report = summarise(size, tp1, tp2, args)
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.out}")
    return 0 if report["tp1_target_met"] and report.get("tp2_target_met", True) else 1


def _gpus() -> int:
    import torch

    return torch.cuda.device_count()


def summarise(size: int, tp1: list[dict], tp2: list[dict], args) -> dict:
    from tabulate import tabulate

    gib = 2**30
    baseline = tp1[0]["baseline_bytes"]
    tp1_peak = tp1[0]["peak_bytes"]
    report = {"checkpoint": str(args.checkpoint), "device": args.device,
              "checkpoint_bytes": size, "baseline_bytes": baseline,
              "tp1_peak_bytes": tp1_peak, "tp1_ranks": tp1,
              "tp1_over_checkpoint": round((tp1_peak - baseline) / size, 3),
              "tp1_target": TP1_TARGET,
              "tp1_target_met": tp1_peak - baseline <= TP1_TARGET * size}
    rows = [["checkpoint (safetensors bytes)", f"{size / gib:.2f} GiB", ""],
            ["baseline (one process before loading)", f"{baseline / gib:.2f} GiB", ""],
            ["tp=1 peak (load + generate)", f"{tp1_peak / gib:.2f} GiB",
             f"{report['tp1_over_checkpoint']:.2f} x checkpoint above baseline "
             f"(target <= {TP1_TARGET})"]]
    if tp2:
        tp2_peak = max(r["peak_bytes"] for r in tp2)
        ratio = (tp2_peak - baseline) / (tp1_peak - baseline)
        report.update(tp2_peak_bytes=tp2_peak, tp2_ranks=tp2,
                      tp2_over_tp1=round(ratio, 3), tp2_target=TP2_TARGET,
                      tp2_target_met=ratio <= TP2_TARGET,
                      tp2_same_output_ids=all(r["output_ids"] == tp1[0]["output_ids"]
                                              for r in tp2))
        for r in tp2:
            rows.append([f"tp=2 rank {r['rank']} peak", f"{r['peak_bytes'] / gib:.2f} GiB",
                         f"after load {r['after_load_peak_bytes'] / gib:.2f} GiB"])
        rows.append(["tp=2 peak (larger rank)", f"{tp2_peak / gib:.2f} GiB",
                     f"{ratio:.2f} x tp=1's above baseline (target <= {TP2_TARGET})"])
    for key in ("device_peak_bytes",):
        if key in tp1[0]:
            rows.append(["tp=1 device peak allocation", f"{tp1[0][key] / gib:.2f} GiB", ""])
    print(tabulate(rows, headers=["", "bytes", "vs target"]))
    print(f"load {tp1[0]['load_seconds']} s at tp=1"
          + (f", {max(r['load_seconds'] for r in tp2)} s at tp=2" if tp2 else "")
          + f"; {tp1[0]['input_tokens']} input tokens, {args.max_new_tokens} new")
    return report


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
