"""TextVQA accuracy as MMF's m4c TextVQAAccuracyEvaluator (the EvalAI processor) computes it.

Unlike vqaEval.py, the EvalAI answer processor normalises the prediction *and every
reference*, always: lower-case, commas and question marks removed, "'s" split off, then the
shared punctuation and digit/article/contraction steps. Because commas are gone before the
punctuation step, its digit-comma-digit test never fires (kept as in the original). An empty
prediction is processed like any other string: it matches references that normalise to ""
("a", "(a)", "."). MMF's evaluator requires ten references; with another number the same
leave-one-out mean is taken over what there is (the run's notes list such questions).
"""
from __future__ import annotations

import re

from .answer_normalization import (PERIOD_STRIP, leave_one_out_accuracy,
                                   process_digit_article, process_punctuation)

EVALAI_COMMA_STRIP = re.compile(r"(?<=\d)(\,)+(?=\d)")


def evalai_normalize(answer: str) -> str:
    text = answer.lower().replace(",", "").replace("?", "").replace("'s", " 's").strip()
    text = text.replace("\n", " ").replace("\t", " ").strip()
    text = process_punctuation(text, comma_strip=EVALAI_COMMA_STRIP, period_strip=PERIOD_STRIP)
    return process_digit_article(text)


def textvqa_accuracy(prediction: str, answers: list[str]) -> float:
    """Score in [0, 1]: leave-one-out min(1, matches / 3) over the processed references."""
    return leave_one_out_accuracy(evalai_normalize(prediction),
                                  [evalai_normalize(a) for a in answers])


SOURCE = "facebookresearch/mmf mmf/utils/m4c_evaluators.py TextVQAAccuracyEvaluator"


def _notes(records: list[dict], overall: dict) -> list[str]:
    odd = [str(r["question_id"]) for r in records if len(r["references"]) != 10]
    if not odd:
        return []
    return [f"{len(odd)} question(s) have not ten reference answers (the official evaluator "
            "requires ten; scored over the answers given): " + ", ".join(odd[:20])
            + (" ..." if len(odd) > 20 else "")]


def scorer(task: dict):
    from modeltest.scorers.base import SampleScore, Scorer

    def score(answer: str, sample) -> SampleScore:
        return SampleScore(textvqa_accuracy(answer, sample.references), evalai_normalize(answer))
    return Scorer("textvqa", "accuracy", score, "mmf", SOURCE, notes=_notes)
