"""The majority-answer baseline: what always giving the most common answer scores, beside a
model's score (a model that learned nothing beats chance by knowing the answers' prior)."""
from __future__ import annotations

from collections import Counter

from modeltest.samples import Sample
from modeltest.scorers import Scorer


def majority_baseline(scorer: Scorer, samples: list[Sample]) -> dict | None:
    """{"answer", "score"}: the answer that is most often a sample's most frequent reference,
    scored on every sample by the task's own scorer (percent); None without a metric."""
    if scorer.metric is None or not samples:
        return None
    firsts = []
    for sample in samples:
        if sample.references:
            counts = Counter(sample.references)
            firsts.append(max(counts, key=lambda a: (counts[a], -sample.references.index(a))))
    if not firsts:
        return None
    answer = Counter(firsts).most_common(1)[0][0]
    scores = [scorer.score(answer, sample).score or 0.0 for sample in samples]
    return {"answer": answer, "score": 100.0 * sum(scores) / len(samples)}
