"""Token level: where two runs' generated ids part (`output_ids`, cut before the end of
sequence). The first divergent position is the first index at which the ids differ, or the
shorter length when one is a prefix of the other (one run stopped where the other went on);
the common prefix is that many tokens."""
from __future__ import annotations

from collections import Counter


def first_divergence(a: list[int], b: list[int]) -> int | None:
    """None when the ids are identical."""
    for index, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return index
    return None if len(a) == len(b) else min(len(a), len(b))


def token_summary(divergences: list[int | None], without_ids: int) -> dict:
    """Counts over the samples whose ids both runs recorded: identical, first divergence
    histogram {position: samples}."""
    compared = len(divergences)
    identical = sum(1 for d in divergences if d is None)
    histogram = Counter(d for d in divergences if d is not None)
    return {"samples_with_ids": compared,
            "samples_without_ids": without_ids,
            "identical_ids": identical if compared else None,
            "identical_ids_share": identical / compared if compared else None,
            "first_divergence_histogram": {str(k): histogram[k] for k in sorted(histogram)}}
