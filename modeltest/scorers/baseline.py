"""Answer baselines: what a model that never looks at the input scores, printed beside a run's
score (a model that learned nothing about the images still beats chance by knowing the
answers' prior). A task declares the ones it wants (`task.answer_baselines`, `module:attr`
entries f(scorer, samples) -> {name, description, answer, score} or None)."""
from __future__ import annotations

from collections import Counter

from modeltest.registry import RegistryError, import_attribute
from modeltest.samples import DataError, Sample
from modeltest.scorers.base import Scorer


def majority_answer(scorer: Scorer, samples: list[Sample]) -> dict | None:
    """Always the answer that is most often a sample's most frequent reference, scored on
    every sample by the task's own scorer (percent); None without references."""
    firsts = []
    for sample in samples:
        if sample.references:
            counts = Counter(sample.references)
            firsts.append(max(counts, key=lambda a: (counts[a], -sample.references.index(a))))
    if not firsts:
        return None
    answer = Counter(firsts).most_common(1)[0][0]
    scores = [scorer.score(answer, sample).score or 0.0 for sample in samples]
    return {"name": "majority-answer", "description": f"always answering {answer!r}",
            "answer": answer, "score": 100.0 * sum(scores) / len(samples)}


def task_baselines(task: dict, scorer: Scorer, samples: list[Sample]) -> list[dict]:
    """The task's answer baselines on these samples (none without a metric or samples)."""
    if scorer.metric is None or not samples:
        return []
    found = []
    for spec in task["answer_baselines"]:
        try:
            baseline = import_attribute(str(spec), "task.answer_baselines")
        except RegistryError as err:
            raise DataError(str(err)) from None
        result = baseline(scorer, samples)
        if result is not None:
            found.append(result)
    return found
