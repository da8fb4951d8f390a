"""Original-layout checkpoints load without running their code and match the native classes.
(InternVL: tests/test_internvl_fixtures.py, against references recorded with the original code.)"""
import pytest
import torch
from PIL import Image

from inference.models import create_adapter
from inference.models.base import PreparedRequest
from inference.requests import Request
from runners.cli import main


@pytest.mark.parametrize("model_type", ["multi_modality", "deepseekvl"])
def test_deepseek_vl_original_layout_gives_native_logits(tmp_path, model_type):
    from original_checkpoints import write_deepseek_vl_original

    marker = tmp_path / "remote_code_ran"
    folder = tmp_path / "deepseek-vl-7b-chat"
    native = write_deepseek_vl_original(folder, marker, model_type)
    adapter = create_adapter({"adapter": "deepseek_vl", "model_path": str(folder)}, "cpu",
                             torch.float32)
    images = [Image.new("RGB", (150, 90), (200, 30, 30)), Image.new("RGB", (64, 64), (0, 90, 200))]
    batch = [PreparedRequest(Request(str(i), f"describe {i}"), [image])
             for i, image in enumerate(images)]
    inputs = adapter.build_inputs(batch)
    assert inputs["high_res_pixel_values"].shape[-1] == 128
    with torch.no_grad():
        converted = adapter.model(**inputs).logits
        reference = native(**inputs).logits
    assert torch.allclose(converted, reference, atol=1e-5)
    assert not marker.exists()
    config = adapter.model.config
    assert config.high_res_vision_config.global_attn_indexes == [1]
    assert config.high_res_vision_config.window_size == 4


def test_deepseek_vl_original_layout_runs_end_to_end(tmp_path):
    from original_checkpoints import write_deepseek_vl_original

    folder = tmp_path / "deepseek-vl-7b-chat"
    write_deepseek_vl_original(folder, tmp_path / "marker")
    assert main(["model=deepseek_vl", f"model.model_path={folder}", "model.dtype=fp32",
                 "task=videobench", "task.subjects=[MSVD]", f"output_dir={tmp_path / 'out'}"]) == 0
