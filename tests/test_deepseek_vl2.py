"""DeepSeek-VL2: tiling rules, unsupported variants, batching, end to end on the demo model.
Fidelity to the original code: tests/test_deepseek_vl2_fixtures.py."""
import json
import shutil

import pytest
import torch
from PIL import Image

from runners.models import create_adapter
from inference.models.base import ModelPathError
from inference.models.deepseek_vl2.processor import (TilingSpec, image_token_count,
                                                     select_best_resolution, tile_image)
from inference.requests import Request
from runners.cli import main
from runners.demo import ensure_asset
from conftest import model_config

CANDIDATES = [(384, 384), (384, 768), (768, 384), (768, 768), (1152, 384)]



@pytest.mark.parametrize("size, expected", [((400, 400), (768, 768)), ((1000, 300), (1152, 384)),
                                            ((300, 700), (384, 768)), ((100, 100), (384, 384))])
def test_best_resolution_keeps_most_of_the_image(size, expected):
    assert select_best_resolution(size, CANDIDATES) == expected


def test_tiles_and_token_count():
    spec = TilingSpec(384, 14, 2, CANDIDATES)
    assert spec.tokens_per_side == 14            # ceil(27 / 2)
    views, columns, rows = tile_image(Image.new("RGB", (1000, 300)), spec)
    assert (columns, rows) == (3, 1) and len(views) == 1 + 3
    assert all(v.size == (384, 384) for v in views)
    assert image_token_count(spec, columns, rows) == 14 * 15 + 1 + 14 * (3 * 14 + 1)
    views, columns, rows = tile_image(Image.new("RGB", (1000, 300)), spec, cropping=False)
    assert (columns, rows) == (1, 1) and len(views) == 2     # > 2 images: one local view


def vl2_cfg(path=None):
    return model_config("demo_deepseek_vl2",
                        model_path=str(path or ensure_asset("models", "deepseek_vl2")))


def test_batch_matches_single(tmp_path):
    adapter = create_adapter(vl2_cfg(), "cpu", torch.float32)
    paths = []
    for i, size in enumerate([(56, 56), (150, 60), (60, 150)]):
        paths.append(tmp_path / f"{i}.png")
        Image.new("RGB", size, (40 * i, 100, 200)).save(paths[-1])
    prepared = [adapter.prepare(Request(str(i), f"question {i}?", [str(p)], max_new_tokens=6))
                for i, p in enumerate(paths)]
    together = adapter.generate(prepared, 6).texts
    alone = [adapter.generate([p], 6).texts[0] for p in prepared]
    assert together == alone


def test_unsupported_variants_say_so(tmp_path):
    folder = tmp_path / "vl2"
    shutil.copytree(ensure_asset("models", "deepseek_vl2"), folder)
    config = json.loads((folder / "config.json").read_text())
    config["language_config"]["topk_method"] = "best_guess"
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="topk_method='best_guess' is not one of"):
        create_adapter(vl2_cfg(folder), "cpu", torch.float32)
    config["language_config"]["use_mla"] = False
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="use_mla: false"):
        create_adapter(vl2_cfg(folder), "cpu", torch.float32)
    config["model_type"] = "something_else"
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelPathError, match="expected 'deepseek_vl_v2'"):
        create_adapter(vl2_cfg(folder), "cpu", torch.float32)


def test_textvqa_end_to_end(tmp_path):
    assert main(["task=textvqa", "model=demo_deepseek_vl2", f"output_dir={tmp_path}"]) == 0
    summary = json.loads((tmp_path / "results" / "summary.json").read_text())
    assert summary["num_samples"] == 12 and summary["num_errors"] == 0
