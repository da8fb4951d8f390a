"""Scorers: pure functions from (prediction, sample) to a per-sample score, plus aggregation."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from modeltest.samples import Sample
from modeltest.scorers.choice_extraction import extract_choice
from modeltest.scorers.textvqa import evalai_normalize, textvqa_accuracy
from modeltest.scorers.vqav2 import (exact_membership_accuracy, normalize_vqa_prediction,
                                     vqa_v2_accuracy)


@dataclass
class SampleScore:
    score: float                 # 0..1
    normalized: str              # what was compared with the references
    extra: dict = field(default_factory=dict)


def _score_textvqa(answer: str, sample: Sample) -> SampleScore:
    return SampleScore(textvqa_accuracy(answer, sample.references), evalai_normalize(answer))


def _score_vqav2(answer: str, sample: Sample) -> SampleScore:
    return SampleScore(vqa_v2_accuracy(answer, sample.references),
                       normalize_vqa_prediction(answer),
                       {"exact_match": exact_membership_accuracy(answer, sample.references)})


def _score_choice(answer: str, sample: Sample) -> SampleScore:
    choice = extract_choice(answer, sample.choices or {})
    return SampleScore(float(choice is not None and choice == sample.references[0]),
                       choice or "", {"parsed": choice is not None})


def _score_caption(answer: str, sample: Sample) -> SampleScore:
    """Captions are judged by CLIP (runner=clip_compare); here a caption only has to exist."""
    return SampleScore(1.0, answer)


@dataclass(frozen=True)
class Scorer:
    name: str
    metric: str
    score_answer: Callable[[str, Sample], SampleScore]
    extra_metrics: tuple[str, ...] = ()   # per-sample extras averaged into metrics too
    empty_extra: tuple[tuple[str, object], ...] = ()   # extras of an empty answer

    def score(self, answer: str, sample: Sample) -> SampleScore:
        """Score an answer already cleaned by clean_prediction; an empty one scores 0."""
        if not answer:
            return SampleScore(0.0, "", dict(self.empty_extra))
        return self.score_answer(answer, sample)


SCORERS = {
    "textvqa": Scorer("textvqa", "accuracy", _score_textvqa),
    "vqav2": Scorer("vqav2", "accuracy", _score_vqav2, extra_metrics=("exact_match",),
                    empty_extra=(("exact_match", 0.0),)),
    "videobench": Scorer("videobench", "accuracy", _score_choice,
                         empty_extra=(("parsed", False),)),
    "caption": Scorer("caption", "captioned", _score_caption),
}


def get_scorer(name: str) -> Scorer:
    if name not in SCORERS:
        raise KeyError(f"task.scorer={name}: unknown scorer (known: {', '.join(SCORERS)})")
    return SCORERS[name]
