"""The keys issue 20 added are checked before anything loads: one line naming the key, exit
code 2 (the config schema, runners/schema.py)."""
from __future__ import annotations

import pytest

from runners.cli import main


@pytest.mark.parametrize("overrides, key", [
    (["runtime.max_image_pixels=0"], "runtime.max_image_pixels=0"),
    (["runtime.verify_weights=maybe"], "runtime.verify_weights=maybe"),
    (["runner=performance", "runner.repeats=0"], "runner.repeats=0"),
    (["runner=performance", "runner.max_latency_ms=-5"], "runner.max_latency_ms=-5"),
    (["runner=performance", "runner.max_batch_size=abc"], "runner.max_batch_size=abc"),
    (["model=served", "model.prepare_as=llava"], "model.prepare_as=llava"),
    (["model.generation.no_repeat_ngram_size=1.5"], "model.generation.no_repeat_ngram_size"),
])
def test_a_bad_value_is_one_line_before_anything_loads(tmp_path, capsys, overrides, key):
    assert main([*overrides, f"output_dir={tmp_path / 'out'}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("modeltest: error: ") and key in err[0]
    assert not (tmp_path / "out").exists()
