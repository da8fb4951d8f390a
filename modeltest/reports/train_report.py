"""Fine-tuning reports: results/train.csv (one row per logged step), train_summary.json and the
loss curve. The seeds report fine-tuning speed as SPS (samples per second, the whole job);
the summary keeps that name beside the longer ones."""
from __future__ import annotations

import csv
from pathlib import Path

from modeltest.reports.atomic import atomic_path
from modeltest.reports.summary import write_summary

TRAIN_COLUMNS = ["step", "epoch", "loss", "learning_rate", "samples_per_second",
                 "tokens_per_second", "elapsed_s"]


def write_train_csv(path: Path, rows: list[dict]) -> None:
    with atomic_path(path) as temporary, open(temporary, "w", newline="",
                                              encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=TRAIN_COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({"step": row["step"], "epoch": f"{row['epoch']:.4f}",
                             "loss": f"{row['loss']:.6f}",
                             "learning_rate": f"{row['learning_rate']:.6g}",
                             "samples_per_second": f"{row['samples_per_second']:.3f}",
                             "tokens_per_second": f"{row['tokens_per_second']:.1f}",
                             "elapsed_s": f"{row['elapsed_s']:.2f}"})


def speed_figures(samples: int, input_tokens: int, answer_tokens: int, seconds: float,
                  devices: int) -> dict:
    """SPS for the whole job and per device, and tokens per second, over `seconds` of
    training (model loading and checkpoint writing excluded)."""
    sps = samples / seconds if seconds > 0 else None
    return {
        "SPS": sps,
        "SPS_per_device": sps / devices if sps is not None else None,
        "samples_per_second": sps,
        "tokens_per_second": input_tokens / seconds if seconds > 0 else None,
        "answer_tokens_per_second": answer_tokens / seconds if seconds > 0 else None,
        "train_seconds": round(seconds, 3),
    }


def write_train_summary(path: Path, summary: dict) -> None:
    write_summary(path, summary)


def plot_loss_curve(path: Path, rows: list[dict], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [r["step"] for r in rows]
    figure, loss_axis = plt.subplots(figsize=(7, 4))
    loss_axis.plot(steps, [r["loss"] for r in rows], "-", color="tab:blue", label="loss")
    loss_axis.set_xlabel("optimizer step")
    loss_axis.set_ylabel("loss (answer tokens)", color="tab:blue")
    if rows and min(r["loss"] for r in rows) > 0:
        loss_axis.set_yscale("log")
    rate_axis = loss_axis.twinx()
    rate_axis.plot(steps, [r["learning_rate"] for r in rows], "--", color="tab:gray",
                   label="learning rate")
    rate_axis.set_ylabel("learning rate", color="tab:gray")
    loss_axis.set_title(title)
    figure.tight_layout()
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=100, format="png")
    plt.close(figure)
