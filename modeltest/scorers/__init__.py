"""Scorers: pure functions from (prediction, sample) to a per-sample score, plus aggregation.

A scorer is chosen by `task.scorer`; its variant by task options (`task.vqa_eval` for VQA v2,
`task.choice_fallback` for multiple choice). `Scorer.describe()` names both, with the official
code each follows, for summary.json and the reports.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from modeltest.samples import Sample
from modeltest.scorers import textvqa as _textvqa
from modeltest.scorers import vqav2 as _vqav2
from modeltest.scorers.choice_extraction import (DEFAULT_SIMILARITY_THRESHOLD, FALLBACKS,
                                                 read_choice)


@dataclass
class SampleScore:
    score: float | None          # 0..1; None where the task has no per-sample score
    normalized: str              # what was compared with the references
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Scorer:
    name: str
    metric: str | None            # None: the task has no metric of its own (captions)
    score_answer: Callable[[str, Sample], SampleScore]
    variant: str = "default"
    source: str = ""
    extra_metrics: tuple[str, ...] = ()   # per-sample extras averaged into metrics too
    error_extra: tuple[tuple[str, object], ...] = ()   # extras of a sample that failed

    def score(self, answer: str, sample: Sample) -> SampleScore:
        """Score an answer already cleaned by clean_prediction (an empty one included)."""
        return self.score_answer(answer, sample)

    def describe(self) -> dict:
        return {"name": self.name, "variant": self.variant, "metric": self.metric,
                "source": self.source}


def _textvqa_scorer(_: dict) -> Scorer:
    def score(answer: str, sample: Sample) -> SampleScore:
        return SampleScore(_textvqa.textvqa_accuracy(answer, sample.references),
                           _textvqa.evalai_normalize(answer))
    return Scorer("textvqa", "accuracy", score, "mmf", _textvqa.SOURCE)


def _vqav2_scorer(task: dict) -> Scorer:
    variant = str(task.get("vqa_eval") or "current")
    if variant not in _vqav2.VARIANTS:
        raise KeyError(f"task.vqa_eval={variant}: unknown (known: {', '.join(_vqav2.VARIANTS)})")

    def score(answer: str, sample: Sample) -> SampleScore:
        normalized, references = _vqav2.normalize_vqa(answer, sample.references, variant)
        return SampleScore(_vqav2.vqa_v2_accuracy(answer, sample.references, variant),
                           normalized, {"exact_match": float(normalized in references)})
    return Scorer("vqav2", "accuracy", score, variant, _vqav2.SOURCES[variant],
                  extra_metrics=("exact_match",), error_extra=(("exact_match", 0.0),))


def _choice_scorer(task: dict) -> Scorer:
    fallback = str(task.get("choice_fallback") or "none")
    if fallback not in FALLBACKS:
        raise KeyError(f"task.choice_fallback={fallback}: unknown (known: {', '.join(FALLBACKS)})")
    threshold = float(task.get("choice_similarity_threshold") or DEFAULT_SIMILARITY_THRESHOLD)

    def score(answer: str, sample: Sample) -> SampleScore:
        choice, how = read_choice(answer, sample.choices or {}, fallback, threshold)
        return SampleScore(float(choice is not None and choice == sample.references[0]),
                           choice or "", {"parsed": choice is not None, "read": how})
    variant = "strict" if fallback == "none" else f"similarity>={threshold:g}"
    return Scorer("videobench", "accuracy", score, variant,
                  "letter and option-text reader; Video-Bench groups from its "
                  "Step3_compute_scores.py", error_extra=(("parsed", False), ("read", None)))


def _caption_scorer(_: dict) -> Scorer:
    """Captions have no metric of their own: runner.judge gives their CLIPScore."""
    def score(answer: str, sample: Sample) -> SampleScore:
        return SampleScore(None, answer)
    return Scorer("caption", None, score, "none", "no metric without runner.judge")


SCORERS = {"textvqa": _textvqa_scorer, "vqav2": _vqav2_scorer, "videobench": _choice_scorer,
           "caption": _caption_scorer}


def get_scorer(name: str, task: dict | None = None) -> Scorer:
    """The scorer `task.scorer=name`, in the variant the task's options choose."""
    if name not in SCORERS:
        raise KeyError(f"task.scorer={name}: unknown scorer (known: {', '.join(SCORERS)})")
    return SCORERS[name](task or {})
