"""`scorer: pope`: each answer read as POPE's evaluate.py reads it (modeltest/scorers/pope.py:
"no" when its first sentence holds the word No, not or no, else "yes": an answer that says
neither counts as yes), right (1) or wrong (0) against the label; `accuracy` is the percent
right.

The aggregation hook gives the script's numbers per split (adversarial, popular, random, in
that order; a question of VLMEvalKit's TSV may belong to several, "adversarial,popular", and
counts in each): TP, FP, TN, FN and, in percent, `accuracy`, `precision`, `recall`, `f1`,
`yes_ratio` ("yes" is positive); overall the same over every question once. Where the script
divides by zero (no "yes" predicted, no positive label) the value is null. A sample whose
generation failed counts as wrong in accuracy and is left out of the other numbers (it has no
answer).
"""
from __future__ import annotations

from modeltest.samples import DataError
from modeltest.scorers.base import SampleScore, Scorer
from modeltest.scorers.official_tables import record_field
from modeltest.scorers.pope import SOURCE, SPLITS, parse_yes_no, pope_metrics

RATIOS = ("precision", "recall", "f1", "yes_ratio")


def _splits(value, task: dict) -> list[str]:
    separator = task["subject_separator"]
    text = "" if value is None else str(value)
    return text.split(separator) if separator else [text]


def _scorer_check(task: dict):
    def check(sample) -> None:
        if len(sample.references) != 1 or sample.references[0].lower() not in ("yes", "no"):
            raise DataError(f"{sample.source}: POPE's label must be yes or no, got "
                            f"{sample.references!r}")
        splits = _splits(sample.fields.get("category"), task)
        unknown = [s for s in splits if s not in SPLITS]
        if unknown:
            raise DataError(f"{sample.source}: category {sample.fields.get('category')!r}: "
                            f"{', '.join(unknown)} is not a POPE split ({', '.join(SPLITS)})")
    return check


def _notes(records: list[dict], overall: dict) -> list[str]:
    as_yes = sum(1 for r in records if not r["error"] and (r.get("extra") or {}).get("read")
                 == "yes" and "yes" not in (r["cleaned_prediction"] or "").lower())
    notes = []
    if as_yes:
        notes.append(f"{as_yes} answer(s) without the word yes were read as yes (POPE's "
                     "evaluate.py reads every answer not saying No/not/no as yes)")
    errors = sum(1 for r in records if r["error"])
    if errors:
        notes.append(f"{errors} sample(s) without an answer (errors): wrong in accuracy, left "
                     "out of TP/FP/TN/FN, precision, recall, f1 and yes_ratio")
    return notes


def scorer(task: dict) -> Scorer:
    def score(answer: str, sample) -> SampleScore:
        read = parse_yes_no(answer)
        return SampleScore(float(read == sample.references[0].lower()), read, {"read": read})
    return Scorer("pope", "accuracy", score, "evaluate.py", SOURCE, notes=_notes,
                  check_sample=_scorer_check(task),
                  keep_whitespace=True)   # the rule splits on single spaces


def _table(records: list[dict]) -> dict:
    """The script's counts and ratios (percent) of the answered records."""
    answered = [r for r in records if not r["error"]]
    if not answered:
        return {name: None for name in RATIOS}
    values = pope_metrics([r["cleaned_prediction"] or "" for r in answered],
                          [r["references"][0] for r in answered])
    table = {name: values[name] for name in ("TP", "FP", "TN", "FN")}
    table.update({name: None if values[name] is None else 100.0 * values[name]
                  for name in RATIOS})
    return table


def _entry(records: list[dict]) -> dict:
    scores = [float(r["score"] or 0.0) for r in records]
    return {"total": len(records), "errors": sum(1 for r in records if r["error"]),
            "pass": sum(1 for s in scores if s >= 1.0),
            "accuracy": 100.0 * sum(scores) / len(scores), **_table(records)}


def aggregate(records: list[dict], metrics: dict, task: dict) -> None:
    wanted = [str(s) for s in task["subjects"]] if task["subjects"] else list(SPLITS)
    by_split = {split: [r for r in records
                        if split in _splits(record_field(r, "category"), task)]
                for split in SPLITS if split in wanted}
    overall = metrics["overall"]
    overall.update(_table(records))
    metrics.clear()
    metrics["overall"] = overall
    for split, members in by_split.items():
        if members:
            metrics[split] = _entry(members)
