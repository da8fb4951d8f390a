"""From per-sample records to the metrics every report shows."""
from __future__ import annotations

from collections import defaultdict

from modeltest.scorers import Scorer
from modeltest.scorers.videobench import group_scores

READS = ("letter", "text", "similarity")


def _summarize(records: list[dict], scorer: Scorer, metric: str | None) -> dict:
    total = len(records)
    summary = {"total": total, "errors": sum(1 for r in records if r.get("error"))}
    if metric is None:          # no metric (captions without a judge)
        summary["pass"] = ""
        return summary
    scores = [float(r["score"] or 0.0) for r in records]
    summary["pass"] = sum(1 for s in scores if s >= 1.0)
    summary[metric] = 100.0 * sum(scores) / total if total else 0.0
    for name in scorer.extra_metrics:
        values = [float(r.get("extra", {}).get(name, 0.0)) for r in records]
        summary[name] = 100.0 * sum(values) / total if total else 0.0
    if scorer.name == "videobench":
        answered = [r for r in records if not r.get("error")]
        summary["unparsed"] = sum(1 for r in answered if not r.get("extra", {}).get("parsed"))
        for how in READS:
            summary[f"read_by_{how}"] = sum(1 for r in answered
                                            if r.get("extra", {}).get("read") == how)
    return summary


def aggregate(records: list[dict], scorer: Scorer, metric: str | None = None) -> dict:
    """{"overall": {...}, "<subject>": {...}, ...}; each with total, pass, metric, errors.

    `metric` overrides the scorer's metric name (coco_caption: "clip_score" when judged).
    The overall metric is the mean over all samples, as the official scripts compute it.
    For Video-Bench the overall entry also carries the group scores and the final score.
    """
    metric = metric or scorer.metric
    by_subject: dict[str, list[dict]] = defaultdict(list)
    for record in records:
        by_subject[str(record["subject"])].append(record)
    metrics = {"overall": _summarize(records, scorer, metric)}
    for subject in sorted(by_subject):
        metrics[subject] = _summarize(by_subject[subject], scorer, metric)
    if scorer.name == "videobench":
        grouped = group_scores({s: metrics[s][metric] for s in by_subject})
        metrics["overall"]["groups"] = grouped["groups"]
        metrics["overall"]["final_score"] = grouped["final"]
        metrics["overall"]["subsets_not_run"] = grouped["missing"]
        metrics["overall"]["subsets_without_group"] = grouped["ungrouped"]
    return metrics
