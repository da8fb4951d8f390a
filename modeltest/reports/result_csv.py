"""results/<task>_<model>_result.csv: real CSV, one row per subject and an overall row."""
from __future__ import annotations

import csv
from pathlib import Path

from modeltest.reports.atomic import atomic_path

COLUMNS = ["task", "subject", "total", "pass", "metric", "value", "data"]


def write_result_csv(path: Path, rows: list[dict], demo_data: bool) -> None:
    with atomic_path(path) as temporary, open(temporary, "w", newline="",
                                              encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows:
            value = row["value"]
            writer.writerow({**row, "value": f"{value:.4f}" if isinstance(value, float) else value,
                             "data": "demo" if demo_data else "user"})
