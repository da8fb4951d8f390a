"""Original-layout checkpoints load without running their code and match the native classes."""
import pytest
import torch
from PIL import Image

from inference.models import create_adapter
from inference.models.base import PreparedRequest
from inference.requests import Request
from runners.cli import main

from original_checkpoints import write_internvl_original


@pytest.mark.parametrize("llm", ["internlm2", "qwen2"])
def test_internvl_original_layout_gives_native_logits(tmp_path, llm):
    marker = tmp_path / "remote_code_ran"
    folder = tmp_path / f"InternVL2-{llm}"
    native = write_internvl_original(folder, llm, marker)
    adapter = create_adapter({"adapter": "internvl", "model_path": str(folder),
                              "vision": {"max_num": 4}}, "cpu", torch.float32)
    images = [Image.new("RGB", (150, 90), (200, 30, 30)), Image.new("RGB", (64, 64), (0, 90, 200))]
    batch = [PreparedRequest(Request(str(i), f"what color is it {i}?"), [image])
             for i, image in enumerate(images)]
    inputs = adapter.build_inputs(batch)
    assert inputs["pixel_values"].shape[0] == 2 + 1 + 1   # 2x1 tiles + thumbnail, then 1 tile
    with torch.no_grad():
        converted = adapter.model(**inputs).logits
        reference = native(**inputs).logits
    assert torch.allclose(converted, reference, atol=1e-5)
    assert not marker.exists()


def test_internvl_original_layout_runs_end_to_end(tmp_path):
    folder = tmp_path / "InternVL2-1B"
    write_internvl_original(folder, "qwen2", tmp_path / "marker")
    assert main(["model=internvl", f"model.model_path={folder}", "model.dtype=fp32",
                 "task=textvqa", f"output_dir={tmp_path / 'out'}"]) == 0
    assert not (tmp_path / "marker").exists()
