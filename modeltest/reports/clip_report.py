"""Reports of a CLIP caption comparison: JSON, per-image CSV, text table and a scatter plot."""
from __future__ import annotations

import csv
import json
from pathlib import Path

from tabulate import tabulate

from modeltest.reports.atomic import atomic_path, write_text_atomic


def write_clip_reports(folder: Path, result: dict, rows: list[dict], labels: list[str]) -> None:
    write_text_atomic(folder / "clip_compare.json", json.dumps(result, indent=2, ensure_ascii=False))
    with atomic_path(folder / "clip_compare_per_image.csv") as temporary, \
            open(temporary, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["image", "caption_a", "caption_b",
                                                    "cosine_a", "cosine_b", "difference",
                                                    "data"])
        writer.writeheader()
        data = "demo" if demo_notes(result) else "user"
        writer.writerows({**row, "data": data} for row in rows)
    write_text_atomic(folder / "clip_compare_result.txt", render_text(result, labels))
    _plot(folder / "clip_compare.png", rows, labels, "DEMO" if demo_notes(result) else "")


def demo_notes(result: dict) -> list[str]:
    notes = []
    if result.get("demo_data"):
        notes.append("DEMO DATA: the images are the embedded demo set, not a real benchmark")
    if result.get("demo_judge"):
        notes.append("DEMO JUDGE: a tiny CLIP with random weights; its scores mean nothing")
    return notes


def render_text(result: dict, labels: list[str]) -> str:
    a, b = labels
    table = tabulate([
        [a, f"{result['a']['mean_cosine']:.4f}", f"{result['a']['clip_score']:.2f}",
         result["truncated_a"]],
        [b, f"{result['b']['mean_cosine']:.4f}", f"{result['b']['clip_score']:.2f}",
         result["truncated_b"]]],
        headers=["captions", "mean cosine", "CLIPScore", "truncated"], tablefmt="grid")
    low, high = result["ci95"]
    lines = [*demo_notes(result),
             f"CLIP judge: {result['judge']['model']} ({result['judge']['weights']})", table,
             f"images compared: {result['num_compared']} of {result['num_images']}",
             f"mean difference ({a} - {b}): {result['mean_difference']:+.4f}  "
             f"95% CI [{low:+.4f}, {high:+.4f}]",
             f"wins/ties/losses for {a}: {result['wins']}/{result['ties']}/{result['losses']}",
             f"verdict for {b} against {a}: {result['verdict']} (margin ±{result['tolerance']}"
             " in cosine; equivalent / better / worse / not_equivalent / inconclusive, as "
             "runner=compare decides them)"
             + (f"; about {result['samples_needed']} images would be needed"
                if result.get("samples_needed") else "")]
    for side in ("a", "b"):
        if result[f"missing_in_{side}"]:
            lines.append(f"missing in {labels[0 if side == 'a' else 1]}: "
                         f"{len(result[f'missing_in_{side}'])} image(s): "
                         + ", ".join(Path(p).name for p in result[f"missing_in_{side}"][:20]))
        if result[f"unmatched_keys_{side}"]:
            lines.append(f"captions of {labels[0 if side == 'a' else 1]} matching no image: "
                         + ", ".join(result[f"unmatched_keys_{side}"][:20]))
    return "\n".join(lines) + "\n"


def _plot(path: Path, rows: list[dict], labels: list[str], mark: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(5, 5))
    xs = [r["cosine_a"] for r in rows]
    ys = [r["cosine_b"] for r in rows]
    axis.scatter(xs, ys, s=12)
    low = min(xs + ys + [0.0])
    high = max(xs + ys + [0.0])
    axis.plot([low, high], [low, high], "k--", linewidth=0.8)
    axis.set_xlabel(f"cosine, {labels[0]}")
    axis.set_ylabel(f"cosine, {labels[1]}")
    axis.set_title("CLIP similarity per image" + (f" ({mark})" if mark else ""))
    figure.tight_layout()
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=100)
    plt.close(figure)
