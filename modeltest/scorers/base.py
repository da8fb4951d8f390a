"""What a scorer is: a pure per-sample function plus what it adds to the metrics and notes.

A scorer is chosen by `task.scorer` (modeltest/scorers/__init__.py SCORERS, or a task hook's
`module:attr`); it is a factory `(task config) -> Scorer`, so a variant comes from the task's
own options (e.g. `task.vqa_eval`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from modeltest.samples import Sample


@dataclass
class SampleScore:
    score: float | None          # 0..1; None where the task has no per-sample score
    normalized: str              # what was compared with the references
    extra: dict = field(default_factory=dict)


def _no_counts(records: list[dict]) -> dict:
    return {}


def _no_notes(records: list[dict], overall: dict) -> list[str]:
    return []


def _any_sample(sample: Sample) -> None:
    return None


@dataclass(frozen=True)
class Scorer:
    name: str
    metric: str | None            # None: no metric of its own (captions: a judge scores them)
    score_answer: Callable[[str, Sample], SampleScore]
    variant: str = "default"
    source: str = ""
    extra_metrics: tuple[str, ...] = ()   # per-sample extras averaged into metrics too
    error_extra: tuple[tuple[str, object], ...] = ()   # extras of a sample that failed
    # counts over a set of records added to each metrics entry (e.g. unparsed answers)
    counts: Callable[[list[dict]], dict] = _no_counts
    # notes for the reports, from the records and the overall metrics
    notes: Callable[[list[dict], dict], list[str]] = _no_notes
    # a sample this scorer cannot score (e.g. a reference that is not among the options):
    # raises DataError before any model loads
    check_sample: Callable[[Sample], None] = _any_sample
    # True: the scorer has no metric, and a judge model (runner.judge, CLIP) may score it
    judged: bool = False

    def score(self, answer: str, sample: Sample) -> SampleScore:
        """Score an answer already cleaned by clean_prediction (an empty one included)."""
        return self.score_answer(answer, sample)

    def describe(self) -> dict:
        return {"name": self.name, "variant": self.variant, "metric": self.metric,
                "source": self.source}
