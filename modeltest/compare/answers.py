"""Answer level: the two runs' scores on the same samples, overall and per subject.

Scores are the per-sample `score` each run stored (0..1), reported in points (x100); a failed
sample counts 0, as in the run's own metric. "Right" is a full score (score >= 1, the `pass`
of the result CSV). With binary scores (every score 0 or 1) the exact McNemar test is on the
samples right in one run only; with continuous scores (VQA and TextVQA soft accuracy, ANLS,
CLIPScore) McNemar does not apply (null) and the flips count full-score changes, beside
`score_down`/`score_up` (any change). The interval, tests and verdict use the paired
differences b - a in either case (modeltest.compare.statistics), clustered by image or video
when several questions share one; scores within 0..1 bound each difference by 100 points,
which decides the intervals when every difference is equal (two runs that agree on every
sample are `equivalent` only with enough samples to say so).
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from modeltest.compare.statistics import compare_paired, mcnemar_exact


@dataclass(frozen=True)
class Settings:
    margin: float
    resamples: int
    seed: int
    power: float


@dataclass
class ScoredPair:
    subject: str
    score_a: float
    score_b: float
    cluster: str                 # the sample's media: questions on one image share it


def _points(value: float) -> float:
    return round(100.0 * value, 10)


def score_block(pairs: list[ScoredPair], settings: Settings) -> dict:
    """Every answer-level figure over `pairs`."""
    scores_a = [p.score_a for p in pairs]
    scores_b = [p.score_b for p in pairs]
    binary = all(s in (0.0, 1.0) for s in scores_a + scores_b)
    right_to_wrong = sum(1 for a, b in zip(scores_a, scores_b) if a >= 1.0 > b)
    wrong_to_right = sum(1 for a, b in zip(scores_a, scores_b) if b >= 1.0 > a)
    differences = [_points(b - a) for a, b in zip(scores_a, scores_b)]
    clusters = [p.cluster for p in pairs]
    shared_media = len(set(clusters)) < len(clusters)
    bounded = all(0.0 <= s <= 1.0 for s in scores_a + scores_b)
    paired = compare_paired(differences, settings.margin, settings.resamples, settings.seed,
                            clusters if shared_media else None, settings.power,
                            bound=100.0 if bounded else None)
    return {
        "samples": len(pairs),
        "score_a": _points(sum(scores_a) / len(pairs)),
        "score_b": _points(sum(scores_b) / len(pairs)),
        "delta": paired.delta,
        "delta_ci95": paired.ci95,
        "delta_ci95_bootstrap": paired.ci95_bootstrap,
        "delta_ci90": paired.ci90,
        "stderr": paired.stderr,
        "clusters": paired.clusters if shared_media else None,
        "p_difference": paired.p_difference,
        "tost_p": paired.tost_p,
        "binary_scores": binary,
        "mcnemar_p": mcnemar_exact(right_to_wrong, wrong_to_right) if binary else None,
        "right_to_wrong": right_to_wrong,
        "wrong_to_right": wrong_to_right,
        "score_down": sum(1 for a, b in zip(scores_a, scores_b) if b < a),
        "score_up": sum(1 for a, b in zip(scores_a, scores_b) if b > a),
        "verdict": paired.verdict,
        "samples_needed": paired.samples_needed,
    }


def answer_level(pairs: list[ScoredPair], settings: Settings) -> dict:
    """{"overall": block, "per_subject": {subject: block}} (blocks as score_block)."""
    by_subject: dict[str, list[ScoredPair]] = defaultdict(list)
    for pair in pairs:
        by_subject[pair.subject].append(pair)
    return {"overall": score_block(pairs, settings),
            "per_subject": {subject: score_block(by_subject[subject], settings)
                            for subject in sorted(by_subject)}}
