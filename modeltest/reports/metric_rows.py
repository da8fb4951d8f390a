"""Metrics flattened into the rows that the CSV and the text table both show."""
from __future__ import annotations


def metric_rows(task: str, metrics: dict, metric: str | None,
                extra_metrics: tuple[str, ...] = (), headline: tuple[str, ...] = ()) -> list[dict]:
    """One row per subject (the metric, then each extra metric), then the weighted groups and
    the final score when the task has them, then the overall rows. A task with no metric
    (captions without a judge) gets one overall row with no value. `headline`
    (task.aggregation.headline): set-level metrics an aggregation hook added, each shown in
    every table that has it (`name`), or in one subject's (`subject/name`)."""
    if metric is None:
        overall = metrics["overall"]
        return [{"task": task, "subject": "overall", "total": overall["total"], "pass": "",
                 "metric": "none", "value": "", "stderr": None, "ci95": None}]
    names = [metric, *(name for name in extra_metrics if name in metrics["overall"])]
    rows = []
    for subject, values in metrics.items():
        if subject != "overall":
            rows.extend(_row(task, subject, values, name) for name in names)
            rows.extend(_set_rows(task, subject, values, names, headline))
    overall = metrics["overall"]
    for group, score in (overall.get("groups") or {}).items():
        rows.append({"task": task, "subject": group, "total": "", "pass": "",
                     "metric": "group_score", "value": score, "stderr": None, "ci95": None})
    rows.extend(_row(task, "overall", overall, name) for name in names)
    rows.extend(_set_rows(task, "overall", overall, [*names, "final_score"], headline))
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


def _set_rows(task, subject, values, shown, headline) -> list[dict]:
    wanted = [name for name in headline if "/" not in name] + [
        name.rpartition("/")[2] for name in headline if name.rpartition("/")[0] == subject]
    rows = []
    for name in dict.fromkeys(wanted):
        value = values.get(name)
        if name not in shown and isinstance(value, (int, float)) and not isinstance(value, bool):
            rows.append({"task": task, "subject": subject, "total": values["total"],
                         "pass": values["pass"], "metric": name, "value": value,
                         "stderr": values.get(f"{name}_stderr"),
                         "ci95": values.get(f"{name}_ci95")})
    return rows
