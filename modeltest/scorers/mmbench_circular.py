"""MMBench's numbers: per question, circularly (`task.aggregation.hook` of conf/task/mmbench.yaml).

An MMBench file holds each question once per rotation of its options (the copies' index is the
question's + k * 1e6); every row is generated and scored on its own (its record's `score` is
that row's VLMEvalKit verdict), and a question counts as right only when every row of it is
(circular.py: VLMEvalKit's grouping and verdict, proven against its evaluation). This hook makes
the task's numbers the official ones: `accuracy`, `total` and `pass` of the overall entry (and
of each subject entry) become the circular ones over questions, the per-row figures stay as
`row_accuracy` and `rows`; it adds an entry per l2-category (VLMEvalKit's report names: CP,
FP-S, FP-C, AR, RR, LR) and per category, as VLMEvalKit's report_acc lists them.
`needs_judge` counts the questions VLMEvalKit would have sent to its GPT judge (no row wrong,
some row unread); without a judge they are wrong here as there.
"""
from __future__ import annotations

from collections import defaultdict

from modeltest.samples import DataError
from modeltest.scorers.circular import (MMBENCH_ABBREVIATIONS, CircularRow, CircularVerdict,
                                        circular_verdicts)


def _index(record: dict) -> int:
    try:
        return int(record["question_id"])
    except (TypeError, ValueError):
        raise DataError(f"MMBench question_id {record['question_id']!r}: the circular "
                        "evaluation needs the file's integer index") from None


def _row(record: dict) -> CircularRow:
    fields = record.get("fields") or {}
    references = record.get("references") or []
    # a failed row is a wrong answer, not an unread one
    extracted = "" if record.get("error") else (record.get("extra") or {}).get("extracted")
    g_index = fields.get("g_index")
    return CircularRow(_index(record), str(references[0]) if references else "", extracted,
                       None if g_index in (None, "") else int(float(g_index)))


def _entry(verdicts: list[CircularVerdict]) -> dict:
    right = sum(v.hit for v in verdicts)
    return {"total": len(verdicts), "pass": right,
            "accuracy": 100.0 * right / len(verdicts) if verdicts else 0.0,
            "needs_judge": sum(v.needs_judge for v in verdicts),
            "rows": sum(len(v.rows) for v in verdicts)}


def circular_tables(records: list[dict], metrics: dict, task: dict) -> None:
    """The aggregation hook: see the module's doc."""
    by_index = {_index(r): r for r in records}
    verdicts = circular_verdicts(_row(r) for r in records)
    for name, entry in metrics.items():     # overall, and each subject's rows
        chosen = [v for v in verdicts
                  if name == "overall" or str(by_index[v.index]["subject"]) == name]
        entry["row_accuracy"] = entry["accuracy"]
        entry["needs_judge_rows"] = entry.get("needs_judge", 0)
        entry.update(_entry(chosen))
    groups: dict[str, list] = defaultdict(list)
    categories: dict[str, list] = defaultdict(list)
    for verdict in verdicts:
        fields = by_index[verdict.index].get("fields") or {}
        l2 = fields.get("l2-category") or fields.get("L2-category")
        if l2:
            groups[MMBENCH_ABBREVIATIONS.get(str(l2), str(l2))].append(verdict)
        if fields.get("category"):
            categories[str(fields["category"])].append(verdict)
    for table in (groups, categories):
        for name in sorted(table):
            if name not in metrics:
                metrics[name] = _entry(table[name])
