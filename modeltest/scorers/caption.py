"""Captions have no metric of their own: a judge model (runner.judge, CLIP) scores them."""
from __future__ import annotations

from modeltest.samples import Sample
from modeltest.scorers.base import SampleScore, Scorer


def scorer(task: dict) -> Scorer:
    def score(answer: str, sample: Sample) -> SampleScore:
        return SampleScore(None, answer)
    return Scorer("caption", None, score, "none", "no metric without runner.judge", judged=True)
