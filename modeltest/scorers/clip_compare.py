"""Comparing two caption sets judged by CLIP: per-side mean cosine and CLIPScore, win/tie/loss
counts, and the paired interval and verdict of modeltest.compare.statistics (the one
implementation every comparison uses): differences b - a per image, margin runner.tolerance
(cosine units), each difference bounded by 2 (cosines lie in [-1, 1])."""
from __future__ import annotations

from modeltest.compare.statistics import compare_paired

COSINE_DIFFERENCE_BOUND = 2.0


def clip_score(cosines: list[float]) -> float:
    """Mean of 100 * max(cos, 0)."""
    return sum(100.0 * max(c, 0.0) for c in cosines) / len(cosines) if cosines else 0.0


def mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def compare(cos_a: list[float], cos_b: list[float], tolerance: float, tie_margin: float = 0.0,
            resamples: int = 1000, seed: int = 0) -> dict:
    """`mean_difference` and `ci95` (its paired bootstrap interval) are a - b, the seed's
    number; `delta` and the verdict are b against a, as in runner=compare."""
    paired = compare_paired([b - a for a, b in zip(cos_a, cos_b)], tolerance, resamples, seed,
                            bound=COSINE_DIFFERENCE_BOUND)
    low, high = paired.ci95_bootstrap
    differences = [a - b for a, b in zip(cos_a, cos_b)]
    return {
        "a": {"mean_cosine": mean(cos_a), "clip_score": clip_score(cos_a)},
        "b": {"mean_cosine": mean(cos_b), "clip_score": clip_score(cos_b)},
        "mean_difference": -paired.delta,
        "ci95": [-high, -low],
        "delta": paired.delta,
        "delta_ci95": paired.ci95,
        "delta_ci95_bootstrap": paired.ci95_bootstrap,
        "delta_ci90": paired.ci90,
        "p_difference": paired.p_difference,
        "tost_p": paired.tost_p,
        "samples_needed": paired.samples_needed,
        "wins": sum(1 for d in differences if d > tie_margin),
        "ties": sum(1 for d in differences if abs(d) <= tie_margin),
        "losses": sum(1 for d in differences if d < -tie_margin),
        "verdict": paired.verdict,
        "tolerance": tolerance,
    }
