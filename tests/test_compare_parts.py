"""The comparison's parts on generated data: KL from top-k against scipy on the full
distributions, the vendor criterion's thresholds, first divergences, input or model, the
input-id compression, image header sizes and the environment manifest."""
import numpy as np
import pytest
from PIL import Image
from scipy import stats

from inference.environment import environment_manifest
from inference.fingerprints import compress_runs, expand_runs, header_sizes
from inference.media import load_image
from modeltest.compare.inputs import cause
from modeltest.compare.logprob_divergence import (sample_divergence, step_divergence,
                                                  vendor_criterion)
from modeltest.compare.tokens import first_divergence, token_summary
from modeltest.reports.compare_files import expand_runs as expand_for_export


def _top(logprobs: np.ndarray, k: int) -> list[list]:
    order = np.argsort(-logprobs)[:k]
    return [[int(t), float(logprobs[t])] for t in order]


def test_kl_from_top_k_against_scipy_on_the_full_distributions():
    rng = np.random.default_rng(0)
    vocabulary = 50
    for _ in range(200):
        logits_a = rng.normal(0, 3, size=vocabulary)
        logits_b = logits_a + rng.normal(0, rng.choice([1e-3, 0.1, 1.0]), size=vocabulary)
        p = np.exp(logits_a - np.logaddexp.reduce(logits_a))
        q = np.exp(logits_b - np.logaddexp.reduce(logits_b))
        full = stats.entropy(p, q)
        # with the whole vocabulary as the top-k, the KL is the full KL
        kl_all, largest = step_divergence(_top(np.log(p), vocabulary), _top(np.log(q), vocabulary))
        assert kl_all == pytest.approx(full, rel=1e-6, abs=1e-12)
        assert largest == pytest.approx(np.max(np.abs(np.log(p) - np.log(q))), rel=1e-9)
        # top-5: the KL of the partition {shared top-5 tokens} + {everything else}, never
        # above the full KL
        k = 5
        top_a, top_b = _top(np.log(p), k), _top(np.log(q), k)
        shared = sorted({t for t, _ in top_a} & {t for t, _ in top_b})
        rest = [t for t in range(vocabulary) if t not in shared]
        coarse_p = np.append(p[shared], p[rest].sum())
        coarse_q = np.append(q[shared], q[rest].sum())
        kl_top, _ = step_divergence(top_a, top_b)
        assert kl_top == pytest.approx(stats.entropy(coarse_p, coarse_q), rel=1e-6, abs=1e-12)
        assert kl_top <= full + 1e-12


def test_steps_compared_stop_at_the_first_divergence():
    step = [[1, -0.1], [2, -2.5]]
    other = [[2, -0.2], [1, -1.8]]
    assert len(sample_divergence([step] * 6, [step] * 6, None)) == 6
    assert len(sample_divergence([step] * 6, [step, step, other, step, step, step], 2)) == 3
    assert sample_divergence([step] * 3, [step] * 2, 2) is not None
    # a server's token texts against ids: not comparable
    assert sample_divergence([[[5, -0.1]]], [[["yes", -0.1]]], None) is None


def test_vendor_criterion_thresholds():
    passing = [0.0] * 995 + [5e-4] * 5               # 0.5% over 1e-4, none over 1e-3
    result = vendor_criterion(passing, 1e-4, 0.005, 1e-3)
    assert result["passed"] and result["over_token_kl"] == 5 and result["tokens"] == 1000
    assert not vendor_criterion([0.0] * 994 + [5e-4] * 6, 1e-4, 0.005, 1e-3)["passed"]
    one_large = vendor_criterion([0.0] * 9999 + [2e-3], 1e-4, 0.005, 1e-3)
    assert not one_large["passed"] and one_large["over_max_kl"] == 1
    assert not vendor_criterion([], 1e-4, 0.005, 1e-3)["passed"]


def test_first_divergence_and_histogram():
    assert first_divergence([1, 2, 3], [1, 2, 3]) is None
    assert first_divergence([1, 2, 3], [1, 5, 3]) == 1
    assert first_divergence([1, 2], [1, 2, 3]) == 2          # one run stopped earlier
    assert first_divergence([], [7]) == 0
    summary = token_summary([None, 0, 2, 0, None], without_ids=1)
    assert summary["identical_ids"] == 2 and summary["identical_ids_share"] == 0.4
    assert summary["first_divergence_histogram"] == {"0": 2, "2": 1}


def test_input_or_model():
    same = {"image_sizes": [[80, 80]], "pixel_sha256": "x", "prompt_ids_sha256": "p"}
    assert cause(same, dict(same)) == ("model", [])
    assert cause(same, {**same, "pixel_sha256": "y"}) == ("inputs", ["pixel_sha256"])
    assert cause(None, same) == ("unknown", [])
    assert cause({"request_sha256": "r"}, same) == ("unknown", [])
    # an embedded run against a served one: equal image sizes do not pin the inputs down
    assert cause({"image_sizes": [[80, 80]], "request_sha256": "r"}, same) == ("unknown", [])
    assert cause({"image_sizes": [[60, 80]], "request_sha256": "r"}, same) == (
        "inputs", ["image_sizes"])


def test_input_ids_runs_round_trip():
    rng = np.random.default_rng(1)
    for _ in range(50):
        ids = [int(x) for x in rng.choice([1, 2, 151655], size=int(rng.integers(0, 60)),
                                          p=[0.2, 0.2, 0.6])]
        compressed = compress_runs(ids)
        assert expand_runs(compressed) == ids == expand_for_export(compressed)
    assert compress_runs([5, 9, 9, 9, 9, 9, 3]) == [5, [9, 5], 3]


def test_header_sizes_follow_exif_rotation(tmp_path):
    image = Image.new("RGB", (40, 20), (200, 10, 10))
    exif = Image.Exif()
    exif[0x0112] = 6                                    # rotate 90 degrees on display
    image.save(tmp_path / "rotated.jpg", exif=exif)
    image.save(tmp_path / "plain.png")
    (tmp_path / "broken.png").write_bytes(b"not an image")
    paths = [str(tmp_path / n) for n in ("rotated.jpg", "plain.png", "broken.png")]
    decoded = [list(load_image(p).size) for p in paths[:2]]
    assert header_sizes(paths) == decoded + [None] and decoded[0] == [20, 40]


def test_environment_manifest_names_the_numerics_settings(monkeypatch):
    monkeypatch.setenv("HCCL_DETERMINISTIC", "true")
    monkeypatch.setenv("ATB_LLM_ENABLE_AUTO_TRANSPOSE", "0")
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    manifest = environment_manifest("cpu")
    assert manifest["numerics_variables"] == {
        "HCCL_DETERMINISTIC": "true", "ATB_LLM_ENABLE_AUTO_TRANSPOSE": "0",
        "CUBLAS_WORKSPACE_CONFIG": ":4096:8", **{k: v for k, v in
                                               manifest["numerics_variables"].items()
                                               if k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}}
    assert manifest["versions"]["torch"] and manifest["versions"]["transformers"]
    assert manifest["device_info"]["name"]
    assert "float32_matmul_precision" in manifest["numerics_flags"]


@pytest.mark.parametrize("overrides,named", [
    ([], "runner.a is not set"),
    (["runner.a=x"], "runner.b is not set"),
    (["runner.a=x", "runner.b=y", "runner.require=perfect"],
     "runner.require=perfect: must be 'not_worse' or 'equivalent'"),
    (["runner.a=x", "runner.b=y", "runner.margin=0"], "runner.margin=0: must be above 0"),
    (["runner.a=x", "runner.b=y", "runner.bootstrap=0"], "runner.bootstrap=0: must be at least 1"),
    (["runner.a=x", "runner.b=y", "runner.power=1.5"],
     "runner.power=1.5: must be above 0 and below 1"),
    (["runner.a=/nowhere", "runner.b=y"], "runner.a=/nowhere: no such folder"),
])
def test_compare_settings_are_checked_first(overrides, named, capsys, tmp_path):
    from runners.cli import main

    assert main(["runner=compare", f"output_dir={tmp_path}", *overrides]) == 2
    error = capsys.readouterr().err.strip()
    assert named in error and "\n" not in error, error
