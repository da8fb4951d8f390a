"""The coloured one-screen summary printed at the end of a run."""
from __future__ import annotations

import sys

from tabulate import tabulate
from termcolor import colored

from modeltest.reports.result_text import uncertainty_cells


def _color_enabled() -> bool:
    return sys.stdout.isatty()


def _paint(text: str, color: str, bold: bool = False) -> str:
    if not _color_enabled():
        return text
    return colored(text, color, attrs=["bold"] if bold else None)


def print_summary(title: str, rows: list[dict], summary: dict, output_dir: str,
                  notes: list[str]) -> None:
    table = tabulate(
        [(r["subject"], r["total"], r["pass"], r["metric"],
          f"{r['value']:.2f}" if isinstance(r["value"], float) else r["value"],
          *uncertainty_cells(r)) for r in rows],
        headers=["Subject", "Total", "Pass", "Metric", "Value", "Stderr", "95% CI"],
        tablefmt="simple")
    lines = ["", _paint(f"== {title} ==", "cyan", bold=True), table, ""]
    speed = (f"{summary['num_samples']} samples, {summary['num_errors']} errors")
    if summary.get("samples_per_second"):
        speed += (f", {summary['samples_per_second']:.2f} samples/s, "
                  f"{summary.get('tokens_per_second', 0.0):.1f} tokens/s")
    lines.append(_paint(speed, "red" if summary["num_errors"] else "green"))
    for note in notes:
        lines.append(_paint(f"note: {note}", "yellow"))
    lines.append(f"reports: {output_dir}")
    print("\n".join(lines), flush=True)
