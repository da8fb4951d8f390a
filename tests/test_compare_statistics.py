"""modeltest.compare's statistics against scipy and statsmodels on generated data."""
import numpy as np
import pytest
from scipy import stats
from statsmodels.regression.linear_model import OLS
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.weightstats import ttost_paired

from modeltest.compare.bootstrap import bootstrap_interval, bootstrap_means
from modeltest.compare.distributions import (fair_binomial_lower_tail, normal_quantile,
                                             t_cdf, t_quantile)
from modeltest.compare.statistics import (compare_paired, difference_p, mcnemar_exact,
                                          mean_with_error, metric_uncertainty, samples_needed,
                                          tost)


@pytest.mark.parametrize("df", [1, 2, 5, 11, 30, 199, 10_000])
def test_student_t_against_scipy(df):
    for t in (-40.0, -3.1, -1.0, -1e-3, 0.0, 0.4, 1.96, 2.7, 12.0):
        assert t_cdf(t, df) == pytest.approx(stats.t.cdf(t, df), rel=1e-10, abs=1e-14)
    for p in (1e-6, 0.025, 0.05, 0.3, 0.5, 0.9, 0.95, 0.975, 1 - 1e-6):
        assert t_quantile(p, df) == pytest.approx(stats.t.ppf(p, df), rel=1e-9, abs=1e-12)
    assert normal_quantile(0.975) == pytest.approx(stats.norm.ppf(0.975), rel=1e-12)


def test_binomial_tail_against_scipy():
    for n in (1, 2, 7, 40, 333, 5000, 40_000):
        for k in sorted({0, 1, n // 3, n // 2, n - 1}):
            assert fair_binomial_lower_tail(k, n) == pytest.approx(
                stats.binom.cdf(k, n, 0.5), rel=1e-9, abs=1e-300)


def test_exact_mcnemar_is_the_binomial_test():
    rng = np.random.default_rng(5)
    cases = [(0, 0), (0, 1), (1, 0), (3, 3), (0, 12), (9, 2), (150, 181), (9000, 9350)]
    cases += [tuple(int(x) for x in rng.integers(0, 60, size=2)) for _ in range(30)]
    for b, c in cases:
        ours = mcnemar_exact(b, c)
        if b + c:
            assert ours == pytest.approx(stats.binomtest(b, b + c, 0.5).pvalue, rel=1e-9)
        assert ours == pytest.approx(mcnemar([[5, b], [c, 7]], exact=True).pvalue, rel=1e-9)


def _ols_constant(values, groups=None):
    model = OLS(np.asarray(values, dtype=float), np.ones(len(values)))
    if groups is None:
        return model.fit()
    return model.fit(cov_type="cluster", cov_kwds={"groups": np.asarray(groups)}, use_t=True)


def test_mean_standard_error_against_statsmodels_and_scipy():
    rng = np.random.default_rng(0)
    for n in (2, 3, 17, 400):
        values = rng.binomial(1, 0.4, size=n).astype(float) * rng.uniform(0.3, 1.0, size=n)
        estimate = mean_with_error(list(values))
        fit = _ols_constant(values)
        assert estimate.mean == pytest.approx(fit.params[0], rel=1e-12, abs=1e-15)
        assert estimate.stderr == pytest.approx(fit.bse[0], rel=1e-9)
        assert estimate.stderr == pytest.approx(stats.sem(values), rel=1e-9)
        assert estimate.interval(0.95) == pytest.approx(tuple(fit.conf_int(0.05)[0]), rel=1e-9)


def test_clustered_standard_error_is_statsmodels_cluster_robust_cr1():
    rng = np.random.default_rng(1)
    for clusters, size in ((5, 3), (40, 4), (300, 2)):
        shared = rng.normal(0, 1, size=clusters).repeat(size)   # questions on one image
        values = (shared + rng.normal(0, 1, size=clusters * size) > 0).astype(float)
        groups = np.arange(clusters).repeat(size)
        order = rng.permutation(len(values))                     # groups need not be sorted
        values, groups = values[order], groups[order]
        estimate = mean_with_error(list(values), [f"img{g}.jpg" for g in groups])
        fit = _ols_constant(values, groups)
        assert estimate.clusters == clusters and estimate.df == clusters - 1
        assert estimate.stderr == pytest.approx(fit.bse[0], rel=1e-9)
        assert estimate.interval(0.95) == pytest.approx(tuple(fit.conf_int(0.05)[0]), rel=1e-9)
    # one question per image: the cluster-robust error is the ordinary one
    values = list(rng.uniform(size=50))
    assert mean_with_error(values, list(range(50))).stderr == pytest.approx(
        mean_with_error(values).stderr, rel=1e-12)


def test_tost_and_difference_test_against_statsmodels_and_scipy():
    rng = np.random.default_rng(2)
    for n, shift, margin in ((30, 0.0, 1.0), (200, 0.3, 1.0), (50, 1.5, 1.0), (12, -0.2, 0.5),
                             (1000, -0.9, 1.0)):
        a = rng.normal(60, 10, size=n)
        b = a + shift + rng.normal(0, 2, size=n)
        estimate = mean_with_error(list(b - a))
        ours = tost(estimate, margin)
        p, lower, upper = ttost_paired(b, a, -margin, margin)
        assert ours.p == pytest.approx(p, rel=1e-8)
        assert ours.p_lower == pytest.approx(lower[1], rel=1e-8)
        assert ours.p_upper == pytest.approx(upper[1], rel=1e-8)
        assert difference_p(estimate) == pytest.approx(stats.ttest_rel(b, a).pvalue, rel=1e-8)
        # the TOST decision is the 90% interval inside the margins
        low, high = estimate.interval(0.90)
        assert (ours.p < 0.05) == (-margin < low and high < margin)


def _coverage(draw, truth, datasets, **kwargs):
    covered = 0
    for index in range(datasets):
        differences, clusters = draw(index)
        low, high = bootstrap_interval(differences, 1000, seed=index, clusters=clusters,
                                       **kwargs)
        covered += low <= truth <= high
    return covered / datasets


def test_paired_bootstrap_interval_covers_a_known_effect():
    """Binary scores, B right 5 points more often than A (correlated pairs): the 95% percentile
    interval covers the true +5 in about 95% of 600 simulated datasets of 200 questions."""
    rng = np.random.default_rng(3)

    def draw(_):
        a = rng.binomial(1, 0.60, size=200)
        flip_up = rng.binomial(1, 0.125, size=200) & (1 - a)      # wrong -> right: 0.05
        b = a | flip_up
        return list(100.0 * (b - a)), None

    assert 0.925 <= _coverage(draw, 100 * 0.40 * 0.125, 600) <= 0.975


def test_bootstrap_of_continuous_differences_covers_a_known_effect():
    """Soft scores: 300 distinct differences per dataset (drawn by index rather than by
    multinomial counts), skewed, true mean 2 points."""
    rng = np.random.default_rng(10)
    draw = lambda _: (list(rng.exponential(10.0, size=300) - 8.0), None)  # noqa: E731
    assert 0.925 <= _coverage(draw, 2.0, 500) <= 0.975


def test_cluster_bootstrap_covers_where_the_sample_bootstrap_does_not():
    """Four questions per image share an image effect: resampling images covers the true mean
    about 95% of the time; resampling questions (ignoring the images) under-covers."""
    rng = np.random.default_rng(4)

    def draw(_):
        shared = rng.normal(0, 3, size=60).repeat(4)
        return list(0.7 + shared + rng.normal(0, 1, size=240)), list(np.arange(60).repeat(4))

    clustered = _coverage(draw, 0.7, 400)
    naive = _coverage(lambda i: (draw(i)[0], None), 0.7, 400)
    assert 0.91 <= clustered <= 0.975
    assert naive < 0.80


def test_bootstrap_agrees_with_scipy_and_is_seeded():
    rng = np.random.default_rng(6)
    differences = list(rng.normal(0.5, 4, size=300))
    ours = bootstrap_interval(differences, 20_000, seed=11)
    theirs = stats.bootstrap((np.array(differences),), np.mean, n_resamples=20_000,
                             method="percentile", random_state=12).confidence_interval
    assert ours == pytest.approx((theirs.low, theirs.high), abs=0.04)
    assert bootstrap_interval(differences, 500, seed=1) == bootstrap_interval(differences, 500,
                                                                             seed=1)
    assert bootstrap_interval(differences, 500, seed=1) != bootstrap_interval(differences, 500,
                                                                             seed=2)
    # many identical values are grouped: the resampled means are still those of n draws
    binary = [1.0] * 30 + [0.0] * 70
    means = bootstrap_means(binary, 50_000, seed=0)
    assert means.mean() == pytest.approx(0.3, abs=0.002)
    assert means.std() == pytest.approx(np.sqrt(0.3 * 0.7 / 100), rel=0.02)


def test_samples_needed_gives_the_power_asked_for():
    """At the advised n, statsmodels' TOST passes in about 80% of simulated datasets."""
    rng = np.random.default_rng(7)
    for true_delta in (0.0, 0.4):
        pilot = list(true_delta + rng.normal(0, 5, size=40))
        estimate = mean_with_error(pilot)
        # the advice at the pilot's variance, for the true difference
        n = samples_needed(type(estimate)(true_delta, 5 / np.sqrt(40), 40, 40, 39), 1.0, 0.8)
        passed = 0
        for _ in range(400):
            b = rng.normal(50, 8, size=n)
            a = b - true_delta - rng.normal(0, 5, size=n)
            passed += ttost_paired(b, a, -1.0, 1.0)[0] < 0.05
        assert 0.72 <= passed / 400 <= 0.88, (true_delta, n, passed)


def test_runs_that_agree_everywhere_need_enough_samples():
    """Every difference 0: the interval is the exact Clopper-Pearson bound on the share of
    samples that could differ (each by at most 100 points), not the point 0."""
    few = compare_paired([0.0] * 12, 1.0, 200, 0, bound=100.0)
    cp90 = stats.binomtest(0, 12).proportion_ci(0.90, method="exact")
    cp95 = stats.binomtest(0, 12).proportion_ci(0.95, method="exact")
    assert few.ci90 == pytest.approx((-100 * cp90.high, 100 * cp90.high), rel=1e-9)
    assert few.ci95 == pytest.approx((-100 * cp95.high, 100 * cp95.high), rel=1e-9)
    assert few.verdict == "inconclusive" and few.samples_needed == 299
    assert compare_paired([0.0] * 298, 1.0, 200, 0, bound=100.0).verdict == "inconclusive"
    assert compare_paired([0.0] * 299, 1.0, 200, 0, bound=100.0).verdict == "equivalent"
    flipped = compare_paired([100.0] * 40, 1.0, 200, 0, bound=100.0)    # all wrong -> right
    assert flipped.verdict == "better" and flipped.ci95[1] == 100.0
    # without a bound the constant difference is taken at its word
    assert compare_paired([0.0] * 12, 1.0, 200, 0).verdict == "equivalent"


def test_verdicts():
    rng = np.random.default_rng(8)
    small = list(rng.choice([-100.0, 0.0, 100.0], p=[0.01, 0.98, 0.01], size=20_000))
    assert compare_paired(small, 1.0, 200, 0).verdict == "equivalent"
    worse = list(rng.choice([-100.0, 0.0, 100.0], p=[0.06, 0.92, 0.02], size=4000))
    assert compare_paired(worse, 1.0, 200, 0).verdict == "worse"
    better = [-x for x in worse]
    assert compare_paired(better, 1.0, 200, 0).verdict == "better"
    few = [100.0, -100.0, 0.0, 0.0, 0.0, 100.0, 0.0, -100.0, 0.0, 0.0]
    result = compare_paired(few, 1.0, 200, 0)
    assert result.verdict == "inconclusive" and result.samples_needed > len(few)
    beyond = [100.0, -100.0, 0.0, 100.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    assert compare_paired(beyond, 1.0, 200, 0).verdict == "not_equivalent"
    assert compare_paired([3.0], 1.0, 200, 0).verdict == "inconclusive"


def test_a_metric_in_points_clustered_only_where_media_are_shared():
    rng = np.random.default_rng(9)
    scores = list(rng.binomial(1, 0.55, size=120).astype(float))
    single = metric_uncertainty(scores, [f"img{i}" for i in range(120)])
    fit = _ols_constant(100 * np.array(scores))
    assert single["clusters"] is None and single["value"] == pytest.approx(100 * np.mean(scores))
    assert single["stderr"] == pytest.approx(fit.bse[0], rel=1e-9)
    assert single["ci95"] == pytest.approx(tuple(fit.conf_int(0.05)[0]), rel=1e-9)
    videos = [f"video{i // 6}" for i in range(120)]          # six questions per video
    clustered = metric_uncertainty(scores, videos)
    fit = _ols_constant(100 * np.array(scores), [i // 6 for i in range(120)])
    assert clustered["clusters"] == 20
    assert clustered["stderr"] == pytest.approx(fit.bse[0], rel=1e-9)
    assert clustered["ci95"] == pytest.approx(tuple(fit.conf_int(0.05)[0]), rel=1e-9)
