"""Comparing two caption sets judged by CLIP: per-side mean cosine and CLIPScore, the paired
mean difference with a bootstrap 95% interval, win/tie/loss counts and a verdict."""
from __future__ import annotations

import random


def clip_score(cosines: list[float]) -> float:
    """Mean of 100 * max(cos, 0)."""
    return sum(100.0 * max(c, 0.0) for c in cosines) / len(cosines) if cosines else 0.0


def mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def paired_bootstrap_ci(differences: list[float], resamples: int = 1000,
                        seed: int = 0) -> tuple[float, float]:
    """Percentile 95% interval of the mean difference, resampling images with replacement."""
    if not differences:
        return (0.0, 0.0)
    rng = random.Random(seed)
    n = len(differences)
    means = sorted(sum(differences[rng.randrange(n)] for _ in range(n)) / n
                   for _ in range(resamples))
    return (means[int(0.025 * (resamples - 1))], means[int(round(0.975 * (resamples - 1)))])


def compare(cos_a: list[float], cos_b: list[float], tolerance: float, tie_margin: float = 0.0,
            resamples: int = 1000, seed: int = 0) -> dict:
    differences = [a - b for a, b in zip(cos_a, cos_b)]
    difference = mean(differences)
    low, high = paired_bootstrap_ci(differences, resamples, seed)
    # no side is better when the paired 95% interval holds 0, whatever the tolerance says
    if abs(difference) <= tolerance or low <= 0.0 <= high:
        verdict = "equivalent"
    else:
        verdict = "a_better" if difference > 0 else "b_better"
    return {
        "a": {"mean_cosine": mean(cos_a), "clip_score": clip_score(cos_a)},
        "b": {"mean_cosine": mean(cos_b), "clip_score": clip_score(cos_b)},
        "mean_difference": difference,
        "ci95": [low, high],
        "wins": sum(1 for d in differences if d > tie_margin),
        "ties": sum(1 for d in differences if abs(d) <= tie_margin),
        "losses": sum(1 for d in differences if d < -tie_margin),
        "verdict": verdict,
        "tolerance": tolerance,
    }
