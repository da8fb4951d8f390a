"""The statistics of one run's metric and of two runs' paired difference.

Notation: y_1..y_n per-sample scores (or paired differences d_i = b_i - a_i), their mean ybar;
with clusters (the image or video several questions share), G clusters g holding the samples
i in g. t_{q,df} is Student's t quantile (modeltest.compare.distributions).

**A metric's mean with its standard error** (`mean_with_error`), as lmms-eval reports a
metric's `stderr_clt` and `stderr_clustered`:
- no clusters: SE = s / sqrt(n), s^2 = sum (y_i - ybar)^2 / (n - 1);
- clusters: the cluster-robust (sandwich) variance of a mean with the CR1 small-sample
  correction, SE^2 = G / (G - 1) * (1 / n^2) * sum_g (sum_{i in g} (y_i - ybar))^2. This is
  exactly what statsmodels gives for OLS on a constant with cov_type="cluster" and its default
  use_correction=True (whose second factor (n - 1)/(n - k) is 1 for k = 1 regressor), and it
  equals the unclustered SE when every cluster holds one sample. lmms-eval's
  `clustered_stderr` (Miller 2024, eq. 4) computes s^2/n + (1/n^2) sum_g sum_{i != j in g}
  (y_i - ybar)(y_j - ybar), i.e. the uncorrected sandwich plus sum (y_i - ybar)^2 / (n^2 (n-1)):
  both agree to O(1/n) in the samples' term, and CR1 also corrects for few clusters.
- the interval at level L: ybar -+ t_{(1+L)/2, df} * SE with df = n - 1, or G - 1 with
  clusters (statsmodels' use_t=True for clustered fits).

**A paired comparison** (`compare_paired`, differences d_i = b_i - a_i in points, margin m):
- delta = dbar; the analytic 95% interval dbar -+ t_{0.975, df} * SE(d) with SE and df as above
  (clustered when several questions share a medium);
- the paired bootstrap percentile interval (modeltest.compare.bootstrap), fixed seed;
- the two-sided test of no difference: p = 2 * P(T_df > |dbar| / SE);
- two one-sided tests (TOST) for equivalence within (-m, +m): p_lower = P(T_df > (dbar + m)/SE)
  against H0 delta <= -m, p_upper = P(T_df < (dbar - m)/SE) against H0 delta >= +m,
  p_tost = max(p_lower, p_upper); p_tost < alpha (0.05) exactly when the 90% interval
  dbar -+ t_{0.95, df} * SE lies strictly inside (-m, +m) (statsmodels' `ttost_paired`).
- the verdict, in this order:
  `equivalent`      the 90% interval lies inside (-m, +m), i.e. p_tost < 0.05 (a difference
                    may still be significant, and is reported);
  `better`/`worse`  not equivalent and the 95% interval excludes 0 (p < 0.05), by the sign of
                    delta: b is significantly better/worse than a, by an amount not shown to
                    lie within the margin;
  `not_equivalent`  neither, and |delta| >= m: the observed difference is itself at or beyond
                    the margin, so more samples would not show equivalence;
  `inconclusive`    neither, and |delta| < m: too few samples. `samples_needed` is the n at
                    which TOST reaches `power` (default 0.8) if the true difference were the
                    observed one and the per-sample variance n * SE^2 (so clustering counts):
                    n = (z_{1-alpha} + z_{power})^2 * n SE^2 / (m - |delta|)^2, and with
                    delta = 0 exactly z_{(1+power)/2} in place of z_{power} (both one-sided
                    tests must pass; Chow, Shao & Wang, Sample Size Calculations in Clinical
                    Research, 2nd ed., section 3.1.3, normal approximation).
  Every difference equal (a standard error of 0, e.g. two runs that agree on every sample)
  says nothing about how often they would disagree on other samples, so the t interval (a
  point) is not used. With differences known to lie in [-B, +B] (`bound`; B = 100 points for
  scores in 0..1), if all n equal c, the share of the population that differs from c is
  below u = 1 - ((1 - L)/2)^(1/n) at level L (the exact Clopper-Pearson bound for 0 events in
  n trials), so delta lies in [c - u (c + B), c + u (B - c)]; these are the intervals (95% for
  the difference, 90% for equivalence), the verdict follows the same rules, and the test
  p-values are null. With c = 0 and B = 100, equivalence at m = 1 needs n >= 299 samples
  (n >= ln 0.05 / ln(1 - m/B)), which `samples_needed` gives. Without a bound the interval is
  the point c. Fewer than 2 samples (or clusters) give no standard error and the verdict
  `inconclusive` with no sample count.

**McNemar's exact test** (`mcnemar_exact`): with b = right in a only (right to wrong) and
c = right in b only (wrong to right), under H0 b ~ Binomial(b + c, 1/2); the two-sided p-value
is min(1, 2 * P(X <= min(b, c))), which for p = 1/2 equals scipy's binomtest (its two-sided
p sums the outcomes no more likely than the observed one) and statsmodels'
mcnemar(exact=True); b + c = 0 gives 1.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from modeltest.compare.bootstrap import bootstrap_interval
from modeltest.compare.distributions import (fair_binomial_lower_tail, normal_quantile,
                                             t_cdf, t_quantile, t_sf)

ALPHA = 0.05
VERDICTS = ("equivalent", "better", "worse", "not_equivalent", "inconclusive")


@dataclass(frozen=True)
class MeanEstimate:
    """A mean with its standard error; `stderr` and `df` are None below 2 samples/clusters."""
    mean: float
    stderr: float | None
    n: int
    clusters: int               # G; n when no clusters were given
    df: int | None

    def interval(self, level: float = 0.95) -> tuple[float, float] | None:
        if self.stderr is None:
            return None
        if self.stderr == 0.0:
            return (self.mean, self.mean)
        half = t_quantile((1.0 + level) / 2.0, self.df) * self.stderr
        return (self.mean - half, self.mean + half)


def mean_with_error(values: list[float], clusters: list | None = None) -> MeanEstimate:
    """The mean, its (cluster-robust, CR1) standard error and degrees of freedom."""
    n = len(values)
    if n == 0:
        raise ValueError("the mean of no values")
    if clusters is not None and len(clusters) != n:
        raise ValueError("values and clusters differ in length")
    mean = math.fsum(values) / n
    if clusters is None:
        if n < 2:
            return MeanEstimate(mean, None, n, n, None)
        variance = math.fsum((v - mean) ** 2 for v in values) / (n - 1)
        return MeanEstimate(mean, math.sqrt(variance / n), n, n, n - 1)
    residual_sums: dict = {}
    for value, cluster in zip(values, clusters):
        residual_sums[cluster] = residual_sums.get(cluster, 0.0) + (value - mean)
    groups = len(residual_sums)
    if groups < 2:
        return MeanEstimate(mean, None, n, groups, None)
    meat = math.fsum(s * s for s in residual_sums.values())
    variance = groups / (groups - 1) * meat / (n * n)
    return MeanEstimate(mean, math.sqrt(variance), n, groups, groups - 1)


def metric_uncertainty(scores: list[float], clusters: list | None = None,
                       scale: float = 100.0) -> dict:
    """A single run's metric as lmms-eval reports it, for summary.json, the result CSV and the
    txt table: the mean of the per-sample scores times `scale` (points), its standard error
    and 95% interval (`mean_with_error`), clustered when `clusters` (each sample's image or
    video) has samples that share one; `clusters` in the result is then their number."""
    shared = clusters is not None and len(set(clusters)) < len(clusters)
    estimate = mean_with_error([scale * s for s in scores], clusters if shared else None)
    return {"value": estimate.mean, "stderr": estimate.stderr,
            "ci95": estimate.interval(0.95), "clusters": estimate.clusters if shared else None}


def mcnemar_exact(right_to_wrong: int, wrong_to_right: int) -> float:
    """Two-sided exact McNemar p-value (see the module's docstring)."""
    discordant = right_to_wrong + wrong_to_right
    if discordant == 0:
        return 1.0
    return min(1.0, 2.0 * fair_binomial_lower_tail(min(right_to_wrong, wrong_to_right),
                                                  discordant))


@dataclass(frozen=True)
class Tost:
    p: float
    p_lower: float
    p_upper: float


def tost(estimate: MeanEstimate, margin: float) -> Tost | None:
    """Two one-sided t-tests of the mean against -margin and +margin."""
    if estimate.stderr is None:
        return None
    if estimate.stderr == 0.0:
        lower = 0.0 if estimate.mean > -margin else 1.0
        upper = 0.0 if estimate.mean < margin else 1.0
    else:
        lower = t_sf((estimate.mean + margin) / estimate.stderr, estimate.df)
        upper = t_cdf((estimate.mean - margin) / estimate.stderr, estimate.df)
    return Tost(max(lower, upper), lower, upper)


def difference_p(estimate: MeanEstimate) -> float | None:
    """Two-sided p-value of the t-test of mean 0."""
    if estimate.stderr is None:
        return None
    if estimate.stderr == 0.0:
        return 0.0 if estimate.mean != 0.0 else 1.0
    return min(1.0, 2.0 * t_sf(abs(estimate.mean) / estimate.stderr, estimate.df))


def samples_needed(estimate: MeanEstimate, margin: float, power: float) -> int | None:
    """Samples at which TOST would reach `power` (see the module's docstring); None when the
    observed difference is at or beyond the margin, or there is no standard error."""
    if estimate.stderr is None or abs(estimate.mean) >= margin:
        return None
    variance = estimate.n * estimate.stderr ** 2
    beta_quantile = normal_quantile((1.0 + power) / 2.0) if estimate.mean == 0.0 \
        else normal_quantile(power)
    z = normal_quantile(1.0 - ALPHA) + beta_quantile
    return max(2, math.ceil(z * z * variance / (margin - abs(estimate.mean)) ** 2))


def constant_interval(value: float, n: int, bound: float, level: float) -> tuple[float, float]:
    """All n differences equal `value`, every difference within [-bound, bound]: the interval
    of the mean from the exact bound on the share that differs (module docstring)."""
    share = 1.0 - ((1.0 - level) / 2.0) ** (1.0 / n)
    return (value - share * (value + bound), value + share * (bound - value))


def constant_samples_needed(value: float, bound: float, margin: float) -> int | None:
    """Samples, all equal to `value`, for the 90% constant interval to lie inside the margin."""
    if abs(value) >= margin:
        return None
    share = min((margin - value) / (bound - value), (margin + value) / (bound + value))
    return math.floor(math.log(ALPHA) / math.log(1.0 - share)) + 1


def verdict(delta: float, ci95: tuple[float, float] | None, ci90: tuple[float, float] | None,
            margin: float) -> str:
    """equivalent / better / worse / not_equivalent / inconclusive (module docstring)."""
    if ci95 is None or ci90 is None:
        return "inconclusive"
    if -margin < ci90[0] and ci90[1] < margin:
        return "equivalent"
    if ci95[0] > 0.0 or ci95[1] < 0.0:
        return "better" if delta > 0 else "worse"
    if abs(delta) >= margin:
        return "not_equivalent"
    return "inconclusive"


@dataclass(frozen=True)
class PairedComparison:
    samples: int
    clusters: int
    delta: float
    stderr: float | None
    df: int | None
    ci95: tuple[float, float] | None
    ci90: tuple[float, float] | None
    ci95_bootstrap: tuple[float, float]
    p_difference: float | None
    tost_p: float | None
    tost_p_lower: float | None
    tost_p_upper: float | None
    margin: float
    verdict: str
    samples_needed: int | None
    bootstrap_resamples: int
    bootstrap_seed: int

    def as_dict(self) -> dict:
        return asdict(self)


def compare_paired(differences: list[float], margin: float, resamples: int, seed: int,
                   clusters: list | None = None, power: float = 0.8,
                   bound: float | None = None) -> PairedComparison:
    """Every statistic of a paired difference b - a (module docstring); `differences`,
    `margin` and `bound` (the largest possible |difference|, if known) in the same unit."""
    if margin <= 0:
        raise ValueError(f"margin={margin}: must be positive")
    estimate = mean_with_error(differences, clusters)
    constant = estimate.stderr == 0.0 and bound is not None
    if constant:       # every difference equal: the exact bound, not a point
        ci95 = constant_interval(estimate.mean, estimate.clusters, bound, 0.95)
        ci90 = constant_interval(estimate.mean, estimate.clusters, bound, 0.90)
        tests, p_difference = None, None
    else:
        ci95, ci90 = estimate.interval(0.95), estimate.interval(0.90)
        tests, p_difference = tost(estimate, margin), difference_p(estimate)
    decided = verdict(estimate.mean, ci95, ci90, margin)
    needed = None
    if decided == "inconclusive":
        needed = constant_samples_needed(estimate.mean, bound, margin) if constant \
            else samples_needed(estimate, margin, power)
    return PairedComparison(
        samples=estimate.n, clusters=estimate.clusters, delta=estimate.mean,
        stderr=estimate.stderr, df=estimate.df, ci95=ci95, ci90=ci90,
        ci95_bootstrap=bootstrap_interval(differences, resamples, seed, clusters),
        p_difference=p_difference,
        tost_p=tests.p if tests else None, tost_p_lower=tests.p_lower if tests else None,
        tost_p_upper=tests.p_upper if tests else None, margin=margin, verdict=decided,
        samples_needed=needed, bootstrap_resamples=resamples, bootstrap_seed=seed)
