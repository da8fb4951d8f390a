"""results/<task>_<model>_result.txt: the seed's readable tables (config and metrics)."""
from __future__ import annotations

from pathlib import Path

from tabulate import tabulate

from modeltest.reports.atomic import write_text_atomic


def _config_table(title: str, section: dict) -> str:
    rows = [(key, value) for key, value in section.items() if not isinstance(value, dict)]
    nested = [(key, value) for key, value in section.items() if isinstance(value, dict)]
    rows += [(key, ", ".join(f"{k}={v}" for k, v in value.items())) for key, value in nested]
    return f"{title}\n" + tabulate(rows, headers=["Key", "Value"], tablefmt="grid")


def uncertainty_cells(row: dict) -> tuple[str, str]:
    """("± stderr", "[low, high]") of a metric row, blank where it has none."""
    stderr, interval = row.get("stderr"), row.get("ci95")
    return (f"± {stderr:.2f}" if isinstance(stderr, float) else "",
            f"[{interval[0]:.2f}, {interval[1]:.2f}]" if interval else "")


def render_result_text(cfg: dict, rows: list[dict], notes: list[str]) -> str:
    metric_table = tabulate(
        [(r["task"] if r["subject"] == "overall" else f"{r['task']}/{r['subject']}", 0,
          r["total"], r["pass"], r["metric"],
          f"{r['value']:.2f}" if isinstance(r["value"], float) else r["value"],
          *uncertainty_cells(r)) for r in rows],
        headers=["Tasks", "N-Shot", "Total", "Pass", "Metric", "Value", "Stderr", "95% CI"],
        tablefmt="grid")
    parts = [_config_table("Runner config", cfg["runner"]),
             _config_table("Model config", cfg["model"]),
             _config_table("Task config", cfg["task"]),
             "Metrics\n" + metric_table]
    if notes:
        parts.append("Notes\n" + "\n".join(f"- {note}" for note in notes))
    return "\n\n".join(parts) + "\n"


def write_result_text(path: Path, cfg: dict, rows: list[dict], notes: list[str]) -> None:
    write_text_atomic(path, render_result_text(cfg, rows, notes))
