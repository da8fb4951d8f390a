"""Every run's metrics carry their standard error and 95% interval, clustered by the image or
video several questions share, checked against statsmodels on generated data."""
import numpy as np
import pytest
import statsmodels.api as sm

from modeltest.scorers import get_scorer
from modeltest.scorers.aggregate import aggregate


def _records(rng, images: int, per_image: int, effect: float):
    records = []
    for image in range(images):
        shared = rng.random() < effect       # questions on one image tend to agree
        for question in range(per_image):
            right = shared if rng.random() < 0.8 else not shared
            records.append({"question_id": f"{image}-{question}", "subject": f"s{image % 3}",
                            "images": [f"/img/{image}.png"], "video": None,
                            "score": float(right), "error": None,
                            "extra": {"exact_match": float(right and question % 2 == 0)}})
    return records


def _statsmodels(values, groups=None):
    model = sm.OLS(np.asarray(values, dtype=float), np.ones((len(values), 1)))
    fit = model.fit(cov_type="cluster", cov_kwds={"groups": np.asarray(groups)}) \
        if groups is not None else model.fit()
    low, high = fit.conf_int(alpha=0.05)[0]
    return fit.bse[0], low, high


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_clustered_stderr_and_interval_match_statsmodels(seed):
    records = _records(np.random.default_rng(seed), images=40, per_image=3, effect=0.6)
    metrics = aggregate(records, get_scorer("vqav2"))
    groups = [r["images"][0] for r in records]
    for name in ("accuracy", "exact_match"):
        values = [100 * (r["score"] if name == "accuracy" else r["extra"][name])
                  for r in records]
        stderr, _, _ = _statsmodels(values, groups)
        overall = metrics["overall"]
        assert overall[f"{name}_stderr"] == pytest.approx(stderr, rel=1e-9)
        # statsmodels' cluster interval uses the normal quantile unless use_t; ours Student's t
        # with G - 1 degrees of freedom, as its OLS with use_t=True gives
        fit = sm.OLS(np.asarray(values), np.ones((len(values), 1))).fit(
            cov_type="cluster", cov_kwds={"groups": np.asarray(groups)}, use_t=True)
        assert overall[f"{name}_ci95"] == pytest.approx(list(fit.conf_int(0.05)[0]), rel=1e-9)


def test_one_question_per_image_is_the_plain_standard_error():
    records = _records(np.random.default_rng(5), images=60, per_image=1, effect=0.5)
    metrics = aggregate(records, get_scorer("textvqa"))
    stderr, low, high = _statsmodels([100 * r["score"] for r in records])
    assert metrics["overall"]["accuracy_stderr"] == pytest.approx(stderr, rel=1e-9)
    assert metrics["overall"]["accuracy_ci95"] == pytest.approx([low, high], rel=1e-9)
    # per subject too
    assert all(metrics[s]["accuracy_stderr"] is not None for s in ("s0", "s1", "s2"))
