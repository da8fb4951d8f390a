"""results/<task>_<model>_result.csv: real CSV, one row per subject and an overall row; the
standard error and 95% interval of each value come last (empty where a value has none)."""
from __future__ import annotations

import csv
from pathlib import Path

from modeltest.reports.atomic import atomic_path

COLUMNS = ["task", "subject", "total", "pass", "metric", "value", "data", "stderr",
           "ci95_low", "ci95_high"]


def _number(value) -> str:
    return f"{value:.4f}" if isinstance(value, float) else ("" if value is None else str(value))


def write_result_csv(path: Path, rows: list[dict], demo_data: bool) -> None:
    with atomic_path(path) as temporary, open(temporary, "w", newline="",
                                              encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows:
            low, high = row["ci95"] or (None, None)
            writer.writerow({"task": row["task"], "subject": row["subject"],
                             "total": row["total"], "pass": row["pass"], "metric": row["metric"],
                             "value": _number(row["value"]),
                             "data": "demo" if demo_data else "user",
                             "stderr": _number(row["stderr"]), "ci95_low": _number(low),
                             "ci95_high": _number(high)})
