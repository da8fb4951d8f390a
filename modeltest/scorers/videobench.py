"""Video-Bench scoring: choice accuracy per subset, the three weighted group means and the
final score (mean of the groups), as the benchmark's own scoring script defines them."""
from __future__ import annotations

# group -> {subset: weight}
GROUPS: dict[str, dict[str, float]] = {
    "Video-exclusive understanding": {"ActivityNet": 1, "MSVD": 1, "MSRVTT": 1, "TGIF": 1,
                                      "Youcook2": 1, "Ucfcrime": 1, "MOT": 0.5},
    "Prior-knowledge question answering": {"TVQA": 1, "MV": 1, "NBA": 1},
    "Comprehension and decision-making": {"Driving-exam": 0.5, "Driving-decision-making": 1,
                                          "SQA3D": 1},
}


def group_scores(subset_accuracy: dict[str, float]) -> dict:
    """Weighted group means over the subsets that were run, and the final score.

    Returns {"groups": {name: score}, "final": score | None, "missing": [subsets not run],
    "ungrouped": [subsets run that belong to no group]}.
    """
    groups = {}
    for group, weights in GROUPS.items():
        present = {s: w for s, w in weights.items() if s in subset_accuracy}
        if present:
            groups[group] = sum(subset_accuracy[s] * w for s, w in present.items()) / sum(
                present.values())
    known = {s for weights in GROUPS.values() for s in weights}
    return {
        "groups": groups,
        "final": sum(groups.values()) / len(groups) if groups else None,
        "missing": sorted(known - set(subset_accuracy)),
        "ungrouped": sorted(set(subset_accuracy) - known),
    }
