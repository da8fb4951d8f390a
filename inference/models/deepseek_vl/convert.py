"""DeepSeek-VL's original deepseek-ai layout -> transformers' DeepseekVLHybrid: the config made
from the tensors' shapes (the original names its vision towers instead of giving their
sizes), the tensors renamed (SigLIP's from timm's names)."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Iterator

import torch

from inference.models.timm_siglip import TIMM_SIGLIP_ACT, convert_timm_siglip

ORIGINAL_MODEL_TYPES = {"multi_modality", "deepseekvl"}
HEAD_DIM = 64
LOW, HIGH = "vision_model.vision_tower_low.vision_tower.", "vision_model.vision_tower_high.vision_tower."
# Created by the original HybridVisionTower constructor but never used in its forward pass.
UNUSED_PREFIXES = ("vision_model.high_layer_norm.", "vision_model.low_layer_norm.")

_RENAMES = [
    (r"^" + re.escape(HIGH) + r"pos_embed$", "model.high_res_vision_model.vision_encoder.pos_embed"),
    (r"^" + re.escape(HIGH) + r"patch_embed\.proj\.", "model.high_res_vision_model.vision_encoder.patch_embed.projection."),
    (r"^" + re.escape(HIGH) + r"blocks\.(\d+)\.norm(\d)\.", r"model.high_res_vision_model.vision_encoder.layers.\1.layer_norm\2."),
    (r"^" + re.escape(HIGH) + r"blocks\.(\d+)\.attn\.", r"model.high_res_vision_model.vision_encoder.layers.\1.attn."),
    (r"^" + re.escape(HIGH) + r"blocks\.(\d+)\.mlp\.", r"model.high_res_vision_model.vision_encoder.layers.\1.mlp."),
    (r"^" + re.escape(HIGH) + r"neck\.0\.", "model.high_res_vision_model.vision_encoder.neck.conv1."),
    (r"^" + re.escape(HIGH) + r"neck\.1\.", "model.high_res_vision_model.vision_encoder.neck.layer_norm1."),
    (r"^" + re.escape(HIGH) + r"neck\.2\.", "model.high_res_vision_model.vision_encoder.neck.conv2."),
    (r"^" + re.escape(HIGH) + r"neck\.3\.", "model.high_res_vision_model.vision_encoder.neck.layer_norm2."),
    (r"^" + re.escape(HIGH) + r"neck_hd\.0\.", "model.high_res_vision_neck.conv1."),
    (r"^" + re.escape(HIGH) + r"neck_hd\.1\.", "model.high_res_vision_neck.layer_norm1."),
    (r"^" + re.escape(HIGH) + r"neck_hd\.2\.", "model.high_res_vision_neck.conv2."),
    (r"^" + re.escape(HIGH) + r"neck_hd\.3\.", "model.high_res_vision_neck.layer_norm2."),
    (r"^" + re.escape(HIGH) + r"downsamples\.0\.", "model.high_res_vision_proj.conv1."),
    (r"^" + re.escape(HIGH) + r"downsamples\.1\.", "model.high_res_vision_proj.conv2."),
    (r"^" + re.escape(HIGH) + r"hd_alpha_downsamples$", "model.high_res_vision_alpha"),
    (r"^aligner\.layers\.1\.", "model.aligner.proj."),
    (r"^aligner\.low_up_proj\.", "model.aligner.vision_proj."),
    (r"^aligner\.high_up_proj\.", "model.aligner.high_res_vision_proj."),
    (r"^language_model\.model\.", "model.language_model."),
    (r"^language_model\.lm_head\.", "lm_head."),
]


def is_original_layout(folder: Path) -> bool:
    config = json.loads((folder / "config.json").read_text())
    return config.get("model_type") in ORIGINAL_MODEL_TYPES


def _rename(key: str) -> str:
    for pattern, replacement in _RENAMES:
        key = re.sub(pattern, replacement, key)
    return key


def _count_blocks(shapes: dict, prefix: str) -> int:
    return len({int(m.group(1)) for k in shapes
                if (m := re.match(re.escape(prefix) + r"blocks\.(\d+)\.", k))})


def convert_config(raw: dict, shapes: dict[str, tuple], image_token_id: int):
    from transformers import DeepseekVLHybridConfig

    params = raw["vision_config"].get("params", {})
    if raw["vision_config"].get("cls") != "HybridVisionTower":
        raise ValueError("only the hybrid (SigLIP + SAM) DeepSeek-VL 7B layout is supported; "
                         f"this checkpoint has vision tower {raw['vision_config'].get('cls')!r}")
    concat = params.get("concat_type", "tuple")
    if concat != "tuple":
        raise ValueError(f"vision_config.params.concat_type={concat!r}: only 'tuple' (the "
                         "published checkpoints' value) is supported")
    low_res_config, high_res_config = params.get("low_res_cfg", {}), params.get("high_res_cfg", {})
    low_width = shapes[LOW + "patch_embed.proj.weight"][0]
    low_patch = shapes[LOW + "patch_embed.proj.weight"][-1]
    vision = dict(model_type="siglip_vision_model", hidden_size=low_width,
                  intermediate_size=shapes[LOW + "blocks.0.mlp.fc1.weight"][0],
                  num_hidden_layers=_count_blocks(shapes, LOW),
                  num_attention_heads=max(1, low_width // HEAD_DIM),
                  image_size=int(low_res_config.get("image_size", 384)), patch_size=low_patch,
                  hidden_act=TIMM_SIGLIP_ACT, layer_norm_eps=1e-6, vision_use_head=False)
    high_width = shapes[HIGH + "patch_embed.proj.weight"][0]
    high_size = int(high_res_config.get("image_size", 1024))
    high_patch = shapes[HIGH + "patch_embed.proj.weight"][-1]
    grid = high_size // high_patch
    layers = _count_blocks(shapes, HIGH)
    rel = [shapes[f"{HIGH}blocks.{i}.attn.rel_pos_h"][0] for i in range(layers)]
    global_layers = [i for i, size in enumerate(rel) if size == 2 * grid - 1]
    windowed = [size for size in rel if size != 2 * grid - 1]
    high = dict(model_type="sam_vision_model", hidden_size=high_width,
                mlp_dim=shapes[HIGH + "blocks.0.mlp.lin1.weight"][0], num_hidden_layers=layers,
                num_attention_heads=max(1, high_width // HEAD_DIM), image_size=high_size,
                patch_size=high_patch, output_channels=shapes[HIGH + "neck.0.weight"][0],
                global_attn_indexes=global_layers,
                window_size=(windowed[0] + 1) // 2 if windowed else grid)
    language = {k: v for k, v in raw.get("language_config", {}).items()
                if k not in ("torch_dtype", "architectures", "_name_or_path")}
    language["model_type"] = "llama"
    return DeepseekVLHybridConfig(vision_config=vision, high_res_vision_config=high,
                                  text_config=language, image_token_id=image_token_id,
                                  tie_word_embeddings=False)


def renamed(key: str) -> str | None:
    """The model's name for a tensor that only needs a new name, else None (the SigLIP tower's
    tensors, unused or foreign ones: `convert_state_dict` handles those)."""
    if key.startswith(UNUSED_PREFIXES) or key.startswith(LOW):
        return None
    new = _rename(key)
    return new if new != key or key.startswith(("model.", "lm_head.")) else None


def convert_state_dict(tensors, ignored: list[str] | None = None
                       ) -> Iterator[tuple[str, torch.Tensor]]:
    """transformers' tensors, one at a time; names the original creates but never uses go to
    `ignored`, and a name that does not belong to the layout at all is an error naming it."""
    ignored = [] if ignored is None else ignored
    for key, tensor in tensors:
        if key.startswith(UNUSED_PREFIXES):
            ignored.append(key)
            continue
        siglip = convert_timm_siglip(key, tensor, LOW, "model.vision_model.")
        if siglip is not None:
            if not siglip:
                ignored.append(key)
            yield from siglip
            continue
        new = _rename(key)
        if new == key and not key.startswith(("model.", "lm_head.")):
            raise ValueError(f"unexpected tensor {key!r} in a DeepSeek-VL checkpoint")
        yield new, tensor

