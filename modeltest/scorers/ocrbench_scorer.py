"""`scorer: ocrbench`: each question 1 when a normalized answer is contained in the normalized
prediction, by MultimodalOCR's example.py rules (modeltest/scorers/ocrbench.py). The formula
rule of HME100k applies by the question's `dataset_name` (the authors' file, lmms-lab's
`dataset`) or, in a copy without it (VLMEvalKit's TSV), by its category, as VLMEvalKit
decides: in OCRBench both pick the same 100 questions.

`accuracy` (percent right) comes overall and per category; the aggregation hook adds the
official points: each category's `score`, `text_recognition` (the six recognition
categories) and `final_score` (out of 1000 on the full benchmark), categories in the
official order.
"""
from __future__ import annotations

from modeltest.samples import DataError
from modeltest.scorers.base import SampleScore, Scorer
from modeltest.scorers.ocrbench import (CATEGORIES, HME_DATASET, SOURCE, ocrbench_hit,
                                        ocrbench_scores)
from modeltest.scorers.official_tables import record_field, reorder

HME_CATEGORY = "Handwritten Mathematical Expression Recognition"
FULL_SET = 1000


def dataset_name(fields: dict) -> str:
    name = fields.get("dataset_name")
    if name:
        return str(name)
    return HME_DATASET if fields.get("category") == HME_CATEGORY else ""


def _check(sample) -> None:
    if sample.fields.get("category") not in CATEGORIES:
        raise DataError(f"{sample.source}: category {sample.fields.get('category')!r} is not "
                        f"one of OCRBench's ten ({', '.join(CATEGORIES)})")


def _notes(records: list[dict], overall: dict) -> list[str]:
    notes = []
    if len(records) != FULL_SET:
        notes.append(f"final_score adds the points of the {len(records)} question(s) run; "
                     f"OCRBench's full set has {FULL_SET}")
    unanswered = sum(1 for r in records if not r["references"])
    if unanswered:
        notes.append(f"{unanswered} question(s) have no reference answer: they score 0, as "
                     "in example.py")
    return notes


def scorer(task: dict) -> Scorer:
    def score(answer: str, sample) -> SampleScore:
        hit = ocrbench_hit(answer, sample.references, dataset_name(sample.fields))
        return SampleScore(float(hit), answer)
    return Scorer("ocrbench", "accuracy", score, "example.py", SOURCE, notes=_notes,
                  check_sample=_check,
                  keep_whitespace=True)   # HME100k's rule removes spaces only


def aggregate(records: list[dict], metrics: dict, task: dict) -> None:
    points = ocrbench_scores((record_field(r, "category"), int(r["score"] or 0))
                             for r in records)
    for category in CATEGORIES:
        if category in metrics:
            metrics[category]["score"] = points[category]
    metrics["overall"]["text_recognition"] = points["Text Recognition"]
    metrics["overall"]["final_score"] = points["Final Score"]
    reorder(metrics, CATEGORIES)
