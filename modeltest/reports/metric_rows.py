"""Metrics flattened into the rows that the CSV and the text table both show."""
from __future__ import annotations


def metric_rows(task: str, metrics: dict, metric: str | None) -> list[dict]:
    """One row per subject, then Video-Bench groups and final score, then the overall row.
    A task with no metric (captions without a judge) gets one overall row with no value."""
    if metric is None:
        overall = metrics["overall"]
        return [{"task": task, "subject": "overall", "total": overall["total"], "pass": "",
                 "metric": "none", "value": ""}]
    rows = []
    extra_names = [k for k in ("exact_match",) if k in metrics["overall"]]
    for subject, values in metrics.items():
        if subject == "overall":
            continue
        rows.append(_row(task, subject, values, metric, values[metric]))
        rows.extend(_row(task, subject, values, name, values[name]) for name in extra_names)
    overall = metrics["overall"]
    for group, score in (overall.get("groups") or {}).items():
        rows.append({"task": task, "subject": group, "total": "", "pass": "",
                     "metric": "group_score", "value": score})
    rows.append(_row(task, "overall", overall, metric, overall[metric]))
    rows.extend(_row(task, "overall", overall, name, overall[name]) for name in extra_names)
    if overall.get("final_score") is not None:
        rows.append({"task": task, "subject": "overall", "total": overall["total"],
                     "pass": overall["pass"], "metric": "final_score",
                     "value": overall["final_score"]})
    return rows


def _row(task, subject, values, metric, value) -> dict:
    return {"task": task, "subject": subject, "total": values["total"], "pass": values["pass"],
            "metric": metric, "value": value}
