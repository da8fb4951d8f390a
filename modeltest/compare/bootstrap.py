"""The paired (cluster) bootstrap percentile interval of a mean difference, with a fixed seed.

Resampling units: each sample, or with `clusters` each cluster (the image or video several
questions share) with all its samples, drawn with replacement, as many units as there are.
The resampled statistic is the mean over the drawn samples: sum of the drawn units' sums
divided by the number of drawn samples. The interval is the (1 - level)/2 and (1 + level)/2
quantiles of the `resamples` resampled means (numpy's default linear interpolation).

Drawing n units with replacement gives each unit a Multinomial(n, 1/n) count. Units that are
identical (same sum and size, e.g. every paired difference of -1, 0 or +1 under a binary
score) are interchangeable, so when there are few distinct units (at most MULTINOMIAL_LIMIT)
the draw is made as one Multinomial(n, share of each distinct unit) over them: the same
distribution of the resampled mean, at a cost that does not grow with n (a 200,000-question
VQA v2 run costs as much as a 12-question one). With many distinct units (continuous scores)
the n units are drawn by index, which is faster there. Random numbers: numpy's PCG64 seeded
with `seed`; the same data, resamples and seed give the same interval.
"""
from __future__ import annotations

from collections import Counter

import numpy as np

# resampled means computed per block, so that memory stays at about this many counts
_BLOCK_CELLS = 4_000_000
MULTINOMIAL_LIMIT = 256


def _units(values: list[float], clusters: list | None) -> tuple[np.ndarray, np.ndarray,
                                                                  np.ndarray, int]:
    """(distinct unit sums, their sizes, how many units share each, number of units)."""
    if clusters is None:
        counted = Counter((float(v), 1) for v in values)
    else:
        sums: dict = {}
        sizes: Counter = Counter()
        for value, cluster in zip(values, clusters):
            sums[cluster] = sums.get(cluster, 0.0) + float(value)
            sizes[cluster] += 1
        counted = Counter((sums[c], sizes[c]) for c in sums)
    keys = list(counted)
    unit_sums = np.array([k[0] for k in keys], dtype=np.float64)
    unit_sizes = np.array([k[1] for k in keys], dtype=np.float64)
    shares = np.array([counted[k] for k in keys], dtype=np.float64)
    return unit_sums, unit_sizes, shares, int(shares.sum())


def bootstrap_means(values: list[float], resamples: int, seed: int,
                    clusters: list | None = None) -> np.ndarray:
    """The `resamples` resampled means (see the module's docstring)."""
    if len(values) == 0:
        raise ValueError("bootstrap of no values")
    if clusters is not None and len(clusters) != len(values):
        raise ValueError("values and clusters differ in length")
    unit_sums, unit_sizes, shares, units = _units(values, clusters)
    rng = np.random.Generator(np.random.PCG64(seed))
    means = np.empty(resamples, dtype=np.float64)
    if len(unit_sums) <= MULTINOMIAL_LIMIT:
        probabilities = shares / units
        block = max(1, _BLOCK_CELLS // len(unit_sums))
        for start in range(0, resamples, block):
            stop = min(resamples, start + block)
            counts = rng.multinomial(units, probabilities, size=stop - start).astype(np.float64)
            means[start:stop] = (counts @ unit_sums) / (counts @ unit_sizes)
        return means
    every_sum = np.repeat(unit_sums, shares.astype(np.int64))     # one entry per unit
    every_size = np.repeat(unit_sizes, shares.astype(np.int64))
    block = max(1, _BLOCK_CELLS // units)
    for start in range(0, resamples, block):
        stop = min(resamples, start + block)
        drawn = rng.integers(0, units, size=(stop - start, units))
        means[start:stop] = every_sum[drawn].sum(axis=1) / every_size[drawn].sum(axis=1)
    return means


def bootstrap_interval(values: list[float], resamples: int, seed: int,
                       clusters: list | None = None, level: float = 0.95
                       ) -> tuple[float, float]:
    """Percentile interval of the mean at `level` (see the module's docstring)."""
    means = bootstrap_means(values, resamples, seed, clusters)
    low, high = np.quantile(means, [(1.0 - level) / 2.0, (1.0 + level) / 2.0])
    return float(low), float(high)
