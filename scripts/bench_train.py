"""Fine-tuning throughput (SPS, samples per second) of runner=train at dp 1 and 2, with the peak
memory of every rank: the demo model, and a random checkpoint of a published size.

    python scripts/bench_train.py --out bench_train.json                 # demo_qwen2_vl_init, dp 1 and 2
    python scripts/bench_train.py --out bench_train.json --size qwen2_vl_2b --device cuda
    python scripts/bench_train.py --out bench_train.json --model qwen2_vl \
        --model-path /data/Qwen2-VL-2B-Instruct --device npu --dp 1 8 runner.trainable=language

Each case is a real `bash scripts/mm_run.sh easy_vqa <model> runner=train runtime.dp=<n> ...`
run (the same launcher, DDP, gloo on CPU) of `--steps` optimizer steps on easy-VQA's training
split; SPS counts the steps after the first (which pays for warm-up), from the run's own
results/train.csv; memory is each rank's peak (device memory on GPU/NPU, resident memory on
CPU) from results/train_summary.json. A case whose weights, gradients and AdamW state would not
fit in the memory available is skipped with the estimate, not started.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BYTES = {"fp32": 4, "bf16": 2}


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def available_bytes() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def published_size_parameters(size: str) -> int:
    """Parameters of a random_checkpoint.py size, counted on the meta device (nothing built)."""
    import torch
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration

    sys.path.insert(0, str(ROOT / "scripts"))
    from random_checkpoint import SIZES, VOCAB_SIZE

    shape = dict(SIZES[size])
    vision_hidden = shape.pop("vision_hidden_size")
    config = Qwen2VLConfig(
        text_config=dict(vocab_size=VOCAB_SIZE, **shape),
        tie_word_embeddings=shape["tie_word_embeddings"],
        vision_config=dict(depth=32, embed_dim=1280, hidden_size=vision_hidden, num_heads=16,
                           mlp_ratio=4, patch_size=14, spatial_merge_size=2,
                           temporal_patch_size=2))
    with torch.device("meta"):
        model = Qwen2VLForConditionalGeneration(config)
    return sum(p.numel() for p in model.parameters())


def run_case(model: str, dp: int, steps: int, micro: int, device: str, dtype: str,
             extra: list[str], folder: Path) -> dict:
    command = ["bash", "scripts/mm_run.sh", "easy_vqa", model, "runner=train", f"runtime.dp={dp}",
               f"runtime.device={device}", f"runner.max_steps={steps}",
               f"runner.micro_batch_size={micro}", f"runner.dtype={dtype}",
               f"runner.save_every={steps}", "runner.log_every=1", "runner.warmup_steps=1",
               f"output_dir={folder}", *extra]
    print("$ " + " ".join(command), flush=True)
    env = dict(os.environ, PYTHON=sys.executable)
    result = subprocess.run(command, cwd=ROOT, env=env)
    if result.returncode != 0:
        raise SystemExit(f"bench_train: the run failed with exit code {result.returncode}")
    summary = json.loads((folder / "results" / "train_summary.json").read_text())
    with open(folder / "results" / "train.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    seconds = float(rows[-1]["elapsed_s"]) - float(rows[0]["elapsed_s"])
    samples = (len(rows) - 1) * summary["global_batch_size"]
    sps = samples / seconds if seconds > 0 else None
    return {"model": model, "dp": dp, "device": summary["device"], "steps": steps,
            "micro_batch_size": micro, "global_batch_size": summary["global_batch_size"],
            "dtype": dtype, "trainable": summary["trainable"], "autocast": summary["autocast"],
            "parameters": summary["parameters"],
            "trainable_parameters": summary["trainable_parameters"],
            "SPS": sps, "SPS_per_device": sps / dp if sps else None,
            "tokens_per_second": summary["tokens_per_second"],
            "SPS_whole_job": summary["SPS"],
            "peak_memory_mb_per_rank": summary["peak_memory_mb_per_rank"]}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--model", default="demo_qwen2_vl_init",
                        help="a conf/model name (default: the demo that demo_qwen2_vl_trained "
                             "was trained from)")
    parser.add_argument("--model-path", default=None, help="model.model_path for --model")
    parser.add_argument("--size", default=None,
                        help="also a random checkpoint of this published size "
                             "(scripts/random_checkpoint.py: qwen2_vl_2b, qwen2_vl_7b)")
    parser.add_argument("--size-dir", type=Path, default=None,
                        help="where the random checkpoint is (built there when missing)")
    parser.add_argument("--dp", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--micro-batch", type=int, default=16)
    parser.add_argument("--size-micro-batch", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", choices=sorted(BYTES), default="fp32")
    parser.add_argument("--size-dtype", choices=sorted(BYTES), default="bf16")
    parser.add_argument("extra", nargs="*", help="more key=value overrides for every run")
    args = parser.parse_args(argv)

    cases = [(args.model, [f"model.model_path={args.model_path}"] if args.model_path else [],
              args.micro_batch, args.dtype, None)]
    skipped = []
    if args.size and args.device == "cpu":
        # weights, gradients and AdamW's two moments, per replica, before building anything
        need = published_size_parameters(args.size) * BYTES[args.size_dtype] * 4
        have = available_bytes()
        for dp in [d for d in args.dp if have and need * d > have]:
            skipped.append({"model": f"qwen2_vl ({args.size}, random)", "dp": dp,
                            "reason": f"needs about {need * dp / 2**30:.1f} GiB (weights, "
                                      f"gradients, AdamW state, {args.size_dtype}) of "
                                      f"{have / 2**30:.1f} GiB available"})
            print(f"skipped: qwen2_vl ({args.size}) dp={dp}: {skipped[-1]['reason']}", flush=True)
        args.size_dp = [d for d in args.dp if d not in {row["dp"] for row in skipped}]
    else:
        args.size_dp = args.dp
    if args.size and args.size_dp:
        folder = args.size_dir or Path(tempfile.gettempdir()) / f"modeltest_random_{args.size}"
        if not (folder / "config.json").is_file():
            subprocess.run([sys.executable, "scripts/random_checkpoint.py", "--size", args.size,
                            "--out", str(folder), "--dtype", args.size_dtype, "--device", "cpu"],
                           cwd=ROOT, check=True)
        cases.append(("qwen2_vl", [f"model.model_path={folder}"], args.size_micro_batch,
                      args.size_dtype, (folder, args.size)))
    results = []
    with tempfile.TemporaryDirectory(prefix="bench_train_") as scratch:
        for model, extra, micro, dtype, sized in cases:
            for dp in (args.size_dp if sized else args.dp):
                folder = Path(scratch) / f"{model}_{dp}"
                row = run_case(model, dp, args.steps, micro, args.device, dtype,
                               [*extra, *args.extra], folder)
                if sized:
                    row["model"] = f"{model} ({sized[1]}, random)"
                results.append(row)
    report = {"cpu": cpu_name(), "cores": os.cpu_count(), "device": args.device,
              "results": results, "skipped": skipped}
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\n{report['cpu']}, {report['cores']} cores, device {args.device}")
    print("| model | dp | global batch | SPS | SPS per device | tokens/s (whole run) | "
          "peak memory per rank (MB) |")
    print("|---|---|---|---|---|---|---|")
    for row in results:
        memory = ", ".join(f"{m:.0f}" for m in row["peak_memory_mb_per_rank"])
        print(f"| {row['model']} | {row['dp']} | {row['global_batch_size']} | {row['SPS']:.2f} "
              f"| {row['SPS_per_device']:.2f} | {row['tokens_per_second']:.0f} | {memory} |")
    for row in skipped:
        print(f"| {row['model']} | {row['dp']} | skipped: {row['reason']} |")
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
