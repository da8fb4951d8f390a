"""Captioning output and the CLIP comparison of two caption files."""
import csv
import json
from pathlib import Path

import pytest

from modeltest.compare.bootstrap import bootstrap_interval
from modeltest.compare.statistics import compare_paired
from modeltest.scorers.clip_compare import clip_score, compare
from modeltest.tasks.captions import load_captions
from runners.cli import main
from runners.demo import ensure_asset


def test_clip_score_and_verdicts():
    assert clip_score([0.3, -0.2, 0.1]) == pytest.approx((30 + 0 + 10) / 3)
    result = compare([0.30, 0.25, 0.20, 0.10], [0.20, 0.25, 0.10, 0.15], tolerance=0.01)
    assert result["mean_difference"] == pytest.approx(0.0375)
    assert (result["wins"], result["ties"], result["losses"]) == (2, 1, 1)
    low, high = result["ci95"]
    assert low <= result["mean_difference"] <= high
    # |0.0375| is beyond the margin and the paired 95% interval holds 0: neither side is
    # shown better, and more images would not show them equivalent
    assert low < 0 < high and result["verdict"] == "not_equivalent"
    clear = compare([0.30, 0.26, 0.20, 0.12] * 3, [0.20, 0.25, 0.10, 0.10] * 3, tolerance=0.01)
    assert clear["ci95"][0] > 0 and clear["verdict"] == "worse"      # b against a
    # the same statistics as runner=compare, on b - a with cosine differences bounded by 2
    shared = compare_paired([b - a for a, b in zip([0.30, 0.26, 0.20, 0.12] * 3,
                                                   [0.20, 0.25, 0.10, 0.10] * 3)],
                            0.01, 1000, 0, bound=2.0)
    assert clear["delta"] == shared.delta and clear["delta_ci95"] == shared.ci95
    assert clear["ci95"] == [-shared.ci95_bootstrap[1], -shared.ci95_bootstrap[0]]
    # two equal images cannot show equivalence; many equal ones can
    assert compare([0.2, 0.3], [0.2, 0.3], tolerance=0.01)["verdict"] == "inconclusive"
    assert compare([0.2] * 600, [0.2] * 600, tolerance=0.01)["verdict"] == "equivalent"
    assert compare([0.1], [0.3], tolerance=0.01)["verdict"] == "inconclusive"
    assert bootstrap_interval([0.5] * 10, 1000, 0) == (0.5, 0.5)


def test_captions_by_full_path_relative_path_or_basename(tmp_path):
    images = [str((tmp_path / n).resolve()) for n in ("a.jpg", "b.jpg", "c.jpg")]
    captions = tmp_path / "captions.json"
    captions.write_text(json.dumps({images[0]: "full", "b.jpg": "base",
                                    "/elsewhere/zzz.jpg": "stray"}))
    found, unmatched = load_captions(captions, tmp_path, images, "runner.predictions_a")
    assert found == {images[0]: "full", images[1]: "base"}
    assert unmatched == ["/elsewhere/zzz.jpg"]


@pytest.fixture(scope="module")
def two_caption_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("captions")
    assert main(["task=coco_caption", "model=demo_qwen2_vl", f"output_dir={root / 'a'}"]) == 0
    assert main(["task=coco_caption", "model=demo_internvl", f"output_dir={root / 'b'}"]) == 0
    return root


def test_captioning_writes_sorted_predict_result(two_caption_runs):
    path = two_caption_runs / "a" / "results" / "predict_result.json"
    captions = json.loads(path.read_text())
    image_dir = ensure_asset("data", "coco_caption")
    assert list(captions) == sorted(captions) and len(captions) == 6
    assert all(Path(k).parent == image_dir.resolve() and v for k, v in captions.items())


def test_clip_compare_on_the_demo_judge(two_caption_runs, tmp_path):
    a = json.loads((two_caption_runs / "a" / "results" / "predict_result.json").read_text())
    # B keyed by basename, one image left out, one caption far past the judge's context
    b_full = json.loads((two_caption_runs / "b" / "results" / "predict_result.json").read_text())
    keys = sorted(b_full)
    b = {Path(k).name: v for k, v in b_full.items() if k != keys[0]}
    b[Path(keys[1]).name] = "a red sign " * 60
    b_path = tmp_path / "b.json"
    b_path.write_text(json.dumps(b))
    out = tmp_path / "compare"
    assert main(["runner=clip_compare", "task=coco_caption", "runner.judge.model=demo",
                 f"runner.predictions_a={two_caption_runs / 'a' / 'results' / 'predict_result.json'}",
                 f"runner.predictions_b={b_path}", f"output_dir={out}"]) == 0
    result = json.loads((out / "results" / "clip_compare.json").read_text())
    assert result["num_images"] == 6 and result["num_compared"] == 5
    assert result["missing_in_b"] == [keys[0]] and result["missing_in_a"] == []
    assert result["truncated_b"] == 1 and result["truncated_a"] == 0
    assert result["verdict"] in ("equivalent", "better", "worse", "not_equivalent",
                                 "inconclusive")
    for side in ("a", "b"):
        assert set(result[side]) == {"mean_cosine", "clip_score"}
    assert result["wins"] + result["ties"] + result["losses"] == 5
    with open(out / "results" / "clip_compare_per_image.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 5
    mean_a = sum(float(r["cosine_a"]) for r in rows) / 5
    assert mean_a == pytest.approx(result["a"]["mean_cosine"], abs=1e-5)
    assert (out / "results" / "clip_compare.png").read_bytes()[:4] == b"\x89PNG"
    assert "missing in B: 1 image(s)" in (out / "results" / "clip_compare_result.txt").read_text()


def test_same_captions_need_more_images_to_be_equivalent(two_caption_runs, tmp_path):
    a = two_caption_runs / "a" / "results" / "predict_result.json"
    assert main(["runner=clip_compare", "task=coco_caption", "runner.judge.model=demo",
                 f"runner.predictions_a={a}", f"runner.predictions_b={a}",
                 f"output_dir={tmp_path}"]) == 0
    result = json.loads((tmp_path / "results" / "clip_compare.json").read_text())
    # six identical cosines: no difference, but six images cannot show equivalence
    assert result["mean_difference"] == 0 and result["verdict"] == "inconclusive"
    assert result["samples_needed"] == 598 and result["ties"] == 6
    # demo images and the demo judge are said in every report
    assert result["demo_data"] and result["demo_judge"] and len(result["notes"]) == 2
    text = (tmp_path / "results" / "clip_compare_result.txt").read_text()
    assert text.startswith("DEMO DATA: ") and "DEMO JUDGE: " in text
    with open(tmp_path / "results" / "clip_compare_per_image.csv", newline="") as handle:
        assert {row["data"] for row in csv.DictReader(handle)} == {"demo"}


def test_judge_weights_are_required_for_a_real_judge(two_caption_runs, tmp_path, capsys):
    a = two_caption_runs / "a" / "results" / "predict_result.json"
    assert main(["runner=clip_compare", "task=coco_caption", f"runner.predictions_a={a}",
                 f"runner.predictions_b={a}", f"output_dir={tmp_path}"]) == 2
    assert "runner.judge.weights is not set: ViT-H-14" in capsys.readouterr().err


def test_one_command_flow_script(tmp_path):
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    env = dict(os.environ, PYTHON=sys.executable, OUT=str(tmp_path))
    result = subprocess.run(["bash", "scripts/clip_compare.sh", "demo_qwen2_vl", "demo",
                             "model.dtype=fp32", "model.dtype=bf16", "runner.judge.model=demo"],
                            cwd=root, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    compared = json.loads((tmp_path / "compare" / "results" / "clip_compare.json").read_text())
    assert compared["labels"] == ["model.dtype=fp32", "model.dtype=bf16"]
    assert compared["num_compared"] == 6
