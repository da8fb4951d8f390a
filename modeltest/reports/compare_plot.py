"""results/compare.png: where the generated ids first part (a histogram over positions, the
identical samples as their own bar), and the score difference b - a per subject and overall
with its 95% interval against the equivalence margin."""
from __future__ import annotations

from pathlib import Path

from modeltest.reports.atomic import atomic_path


def write_compare_plot(path: Path, result: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    tokens = result["token_level"]
    histogram = {int(k): v for k, v in tokens["first_divergence_histogram"].items()}
    if tokens["samples_with_ids"]:
        positions = sorted(histogram)
        left.bar([str(p) for p in positions], [histogram[p] for p in positions],
                 color="tab:orange", label="diverged at this position")
        left.bar(["same"], [tokens["identical_ids"]], color="tab:green", label="identical ids")
        left.set_xlabel("first divergent token position")
        left.set_ylabel("samples")
        left.legend(fontsize=8)
        if len(positions) > 20:
            left.tick_params(axis="x", labelrotation=90, labelsize=6)
    else:
        left.text(0.5, 0.5, "no output_ids in both runs", ha="center", va="center")
    left.set_title("first divergence of the generated ids")

    blocks = ([("overall", result["answer_level"])] + list(result["per_subject"].items())) \
        if result["answer_level"] else []
    if blocks:
        names = [name for name, _ in blocks]
        deltas = [block["delta"] for _, block in blocks]
        lows = [block["delta"] - block["delta_ci95"][0] if block["delta_ci95"] else 0.0
                for _, block in blocks]
        highs = [block["delta_ci95"][1] - block["delta"] if block["delta_ci95"] else 0.0
                 for _, block in blocks]
        rows = list(range(len(blocks)))[::-1]
        right.errorbar(deltas, rows, xerr=[lows, highs], fmt="o", capsize=3,
                       color="tab:blue")
        right.set_yticks(rows, names, fontsize=8)
        margin = result["margin"]
        right.axvline(0.0, color="black", linewidth=0.8)
        for edge in (-margin, margin):
            right.axvline(edge, color="grey", linestyle="--", linewidth=0.8)
        right.set_xlabel(f"score b - a (points), 95% interval; dashed: margin ±{margin:g}")
    else:
        right.text(0.5, 0.5, "no per-sample scores", ha="center", va="center")
    right.set_title(f"score difference (verdict: {result['verdict']})")
    a, b = (label if label not in ("a", "b") else result[f"model_{label}"]
            for label in result["labels"])
    title = f"{result['task']}: a = {a}, b = {b}"
    figure.suptitle(title + (" (DEMO)" if result["demo_data"] else ""), fontsize=10)
    figure.tight_layout()
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=100)
    plt.close(figure)
