"""Metrics flattened into the rows that the CSV and the text table both show."""
from __future__ import annotations


def metric_rows(task: str, metrics: dict, metric: str | None,
                extra_metrics: tuple[str, ...] = ()) -> list[dict]:
    """One row per subject (the metric, then each extra metric), then the weighted groups and
    the final score when the task has them, then the overall rows. A task with no metric
    (captions without a judge) gets one overall row with no value."""
    if metric is None:
        overall = metrics["overall"]
        return [{"task": task, "subject": "overall", "total": overall["total"], "pass": "",
                 "metric": "none", "value": "", "stderr": None, "ci95": None}]
    names = [metric, *(name for name in extra_metrics if name in metrics["overall"])]
    rows = []
    for subject, values in metrics.items():
        if subject != "overall":
            rows.extend(_row(task, subject, values, name) for name in names)
    overall = metrics["overall"]
    for group, score in (overall.get("groups") or {}).items():
        rows.append({"task": task, "subject": group, "total": "", "pass": "",
                     "metric": "group_score", "value": score, "stderr": None, "ci95": None})
    rows.extend(_row(task, "overall", overall, name) for name in names)
    if overall.get("final_score") is not None:
        rows.append({"task": task, "subject": "overall", "total": overall["total"],
                     "pass": overall["pass"], "metric": "final_score",
                     "value": overall["final_score"], "stderr": None, "ci95": None})
    return rows


def _row(task, subject, values, metric) -> dict:
    """A metric's row, with its standard error and 95% interval where it has them."""
    return {"task": task, "subject": subject, "total": values["total"], "pass": values["pass"],
            "metric": metric, "value": values[metric],
            "stderr": values.get(f"{metric}_stderr"), "ci95": values.get(f"{metric}_ci95")}
