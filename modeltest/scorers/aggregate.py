"""From per-sample records to the metrics every report shows, as the task declares them.

`task.aggregation` (conf/task/<name>.yaml):
  groups:  {group name: {subject: weight, ...}}   weighted means of subject scores (optional)
  final:   mean_of_groups | null                  the final score from the group scores
  hook:    module:attr | null                     set-level metrics a mean cannot give
                                                  (f(records, metrics, task) -> None, adds to
                                                  metrics in place)
Every task gets: overall and per subject, the total, errors, passes, the scorer's metric as
the mean per-sample score in percent, the scorer's extra per-sample metrics, and its counts;
each metric with its standard error and 95% interval (`<metric>_stderr`, `<metric>_ci95`),
clustered by image or video where several questions share one, as lmms-eval reports them
(modeltest/compare/statistics.py).
"""
from __future__ import annotations

from collections import defaultdict

from modeltest.compare.statistics import metric_uncertainty
from modeltest.registry import import_attribute
from modeltest.scorers.base import Scorer

FINALS = ("mean_of_groups",)


def _summarize(records: list[dict], scorer: Scorer, metric: str | None) -> dict:
    total = len(records)
    summary = {"total": total, "errors": sum(1 for r in records if r.get("error"))}
    if metric is None:          # no metric (captions without a judge)
        summary["pass"] = ""
        return summary
    scores = [float(r["score"] or 0.0) for r in records]
    summary["pass"] = sum(1 for s in scores if s >= 1.0)
    summary[metric] = 100.0 * sum(scores) / total if total else 0.0
    clusters = [media_key(r) for r in records]
    _add_uncertainty(summary, metric, scores, clusters)
    for name in scorer.extra_metrics:
        values = [float((r.get("extra") or {}).get(name, 0.0)) for r in records]
        summary[name] = 100.0 * sum(values) / total if total else 0.0
        _add_uncertainty(summary, name, values, clusters)
    summary.update(scorer.counts(records))
    return summary


def media_key(record: dict) -> str:
    """What several questions may share: the video, else the images."""
    return record.get("video") or "\0".join(record.get("images") or []) \
        or str(record["question_id"])


def _add_uncertainty(summary: dict, name: str, values: list[float], clusters: list) -> None:
    """`<name>_stderr` and `<name>_ci95` ([low, high], points); null with fewer than two
    samples (or clusters)."""
    if len(values) < 2:
        summary[f"{name}_stderr"], summary[f"{name}_ci95"] = None, None
        return
    estimate = metric_uncertainty(values, clusters)
    summary[f"{name}_stderr"] = estimate["stderr"]
    summary[f"{name}_ci95"] = list(estimate["ci95"]) if estimate["ci95"] else None


def group_scores(subject_scores: dict[str, float], groups: dict[str, dict[str, float]]) -> dict:
    """Weighted group means over the subjects that were run, and their mean.

    Returns {"groups": {name: score}, "final": score | None, "missing": [grouped subjects not
    run], "ungrouped": [subjects run that belong to no group]}.
    """
    scores = {}
    for group, weights in groups.items():
        present = {s: float(w) for s, w in weights.items() if s in subject_scores}
        if present:
            scores[group] = sum(subject_scores[s] * w for s, w in present.items()) / sum(
                present.values())
    known = {s for weights in groups.values() for s in weights}
    return {"groups": scores,
            "final": sum(scores.values()) / len(scores) if scores else None,
            "missing": sorted(known - set(subject_scores)),
            "ungrouped": sorted(set(subject_scores) - known)}


def headline_metrics(scorer: Scorer, metric: str | None, aggregation: dict) -> list[str]:
    """The overall metrics a baseline records and a gate may check by default."""
    if metric is None:
        return []
    names = [metric, *scorer.extra_metrics]
    if aggregation.get("final"):
        names.append("final_score")
    names.extend(aggregation.get("headline") or [])
    return names


def aggregate(records: list[dict], scorer: Scorer, metric: str | None = None,
              aggregation: dict | None = None, task: dict | None = None) -> dict:
    """{"overall": {...}, "<subject>": {...}, ...}.

    `metric` overrides the scorer's metric name (captions: "clip_score" when judged). The
    overall metric is the mean over all samples, as the official scripts compute it.
    """
    aggregation = aggregation or {}
    metric = metric or scorer.metric
    by_subject: dict[str, list[dict]] = defaultdict(list)
    for record in records:
        by_subject[str(record["subject"])].append(record)
    metrics = {"overall": _summarize(records, scorer, metric)}
    for subject in sorted(by_subject):
        metrics[subject] = _summarize(by_subject[subject], scorer, metric)
    groups = aggregation.get("groups")
    if groups and metric is not None:
        grouped = group_scores({s: metrics[s][metric] for s in by_subject}, groups)
        metrics["overall"]["groups"] = grouped["groups"]
        metrics["overall"]["subjects_not_run"] = grouped["missing"]
        metrics["overall"]["subjects_without_group"] = grouped["ungrouped"]
        if aggregation.get("final") == "mean_of_groups":
            metrics["overall"]["final_score"] = grouped["final"]
    if aggregation.get("hook") and metric is not None:
        import_attribute(str(aggregation["hook"]), "task.aggregation.hook")(
            records, metrics, task or {})
    return metrics
