"""Scorers: pure functions from (prediction, sample) to a per-sample score, plus aggregation.

A scorer is chosen by `task.scorer` (a name below, or a task hook's `module:attr`); its
variant by task options (`task.vqa_eval` for VQA v2, `task.choice_fallback` for multiple
choice). `Scorer.describe()` names both, with the official code each follows, for
summary.json and the reports.
"""
from __future__ import annotations

from modeltest.registry import Registry
from modeltest.scorers.base import SampleScore, Scorer

SCORERS = Registry("task.scorer", {
    "textvqa": "modeltest.scorers.textvqa:scorer",
    "vqav2": "modeltest.scorers.vqav2:scorer",
    "choice": "modeltest.scorers.choice:scorer",
    "caption": "modeltest.scorers.caption:scorer",
})


def get_scorer(name: str, task: dict | None = None) -> Scorer:
    """The scorer `task.scorer=name`, in the variant the task's options choose; KeyError
    (RegistryError) naming the key when unknown or when an option is invalid."""
    return SCORERS.get(name)(task or {})


__all__ = ["SCORERS", "SampleScore", "Scorer", "get_scorer"]
