"""An original-layout DeepSeek-VL2 checkpoint (`model_type: deepseek_vl_v2`) read as JSON and
tensors, its Python files never imported: (model, tokenizer, tiling spec)."""
from __future__ import annotations

import json
from pathlib import Path

import torch

from inference.models.base import ModelPathError
from inference.models.deepseek_vl2.convert import (ORIGINAL_MODEL_TYPE, convert_state_dict,
                                                   original_language_config,
                                                   transformers_language_config)
from inference.models.deepseek_vl2.model import DeepseekVL2ForCausalLM
from inference.models.deepseek_vl2.processor import TilingSpec


def load_original(folder: Path, dtype: torch.dtype, device="cpu", tp_mesh=None):
    """(model, tokenizer, tiling spec) of an original-layout DeepSeek-VL2 checkpoint. The model
    is built on the meta device directly in `dtype`, its language model split for tensor
    parallelism while empty (`parallelize`: attention heads, dense MLPs, vocabulary and
    experts), and each rank reads only its slices and its own experts."""
    from transformers import AutoTokenizer, SiglipVisionConfig

    from inference.checkpoint_files import tensor_shapes
    from inference.models.deepseek_vl2.parallelize import parallelize
    from inference.sharded_loading import (converted_entries, default_dtype, fill_original,
                                           parameters_on_meta)

    raw = json.loads((folder / "config.json").read_text())
    if raw.get("model_type") != ORIGINAL_MODEL_TYPE:
        raise ModelPathError(f"{folder}: model_type is {raw.get('model_type')!r}, "
                             f"expected {ORIGINAL_MODEL_TYPE!r}")
    vision = raw["vision_config"]
    if vision.get("ignore_head", True) is not True or vision.get("class_token", False):
        raise ValueError("vision_config: only the original's ignore_head=true, "
                         "class_token=false SigLIP tower is supported")
    if raw.get("tile_tag", "2D") != "2D" or raw.get("global_view_pos", "head") != "head":
        raise ValueError(f"tile_tag={raw.get('tile_tag')!r}, global_view_pos="
                         f"{raw.get('global_view_pos')!r}: only '2D' with the global view at "
                         "the head is supported (as every released DeepSeek-VL2)")
    width, patch = int(vision["width"]), int(vision.get("patch_size", 16))
    vision_config = SiglipVisionConfig(
        hidden_size=width, num_hidden_layers=int(vision["layers"]),
        num_attention_heads=int(vision.get("heads", 16)),
        intermediate_size=int(width * float(vision.get("mlp_ratio", 4.0))),
        image_size=int(vision.get("image_size", 384)), patch_size=patch,
        hidden_act="gelu_pytorch_tanh", layer_norm_eps=1e-6,
        vision_use_head=False)
    projector = raw.get("projector_config", {})
    if projector.get("projector_type", "downsample_mlp_gelu") != "downsample_mlp_gelu" \
            or int(projector.get("depth", 2)) != 2 or projector.get("token_pooling"):
        raise ValueError(f"projector_config {projector}: only downsample_mlp_gelu of depth 2 "
                         "is supported")
    language = original_language_config(raw["language_config"])
    with default_dtype(dtype), parameters_on_meta():
        model = DeepseekVL2ForCausalLM(
            vision_config, transformers_language_config(raw["language_config"]),
            {"downsample_ratio": int(projector.get("downsample_ratio", 2)),
             "mlp_ratio": int(projector.get("mlp_ratio", 1))}, language)
    fc1 = tensor_shapes(folder).get("vision.blocks.0.mlp.fc1.weight")
    if fc1 is not None and fc1[0] != vision_config.intermediate_size:
        raise ValueError(f"{folder}: vision mlp width {fc1[0]} does not match the config")
    slicings, skip = parallelize(model, tp_mesh)
    ignored: list[str] = []
    # the language model's tensors keep their names: each rank reads its slices of them
    # straight from safetensors (never other ranks' experts); the vision tower is converted
    entries = converted_entries(folder, lambda tensors: convert_state_dict(tensors, ignored),
                                lambda key: None if key.startswith("vision.") else key,
                                tuple(skip))
    fill_original(model, entries, device, folder,
                  "weights do not match the DeepSeek-VL2 layout", slicings=slicings,
                  tp_mesh=tp_mesh, error=ModelPathError, ignored=ignored,
                  ignored_note="that the original DeepSeek-VL2 builds but never uses were "
                               "ignored")
    tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=False)
    spec = TilingSpec(int(vision.get("image_size", 384)), patch,
                      int(projector.get("downsample_ratio", 2)),
                      [tuple(c) for c in raw.get("candidate_resolutions", [[384, 384]])])
    model.ignored_tensors = sorted(ignored)
    return model.eval(), tokenizer, spec

