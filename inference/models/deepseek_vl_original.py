"""DeepSeek-VL 7B checkpoints in the original deepseek-ai layout (`model_type:
multi_modality`, or `deepseekvl` as the seed harness tells users to edit it): SigLIP-L low-res
and SAM-B high-res towers, the hybrid MLP aligner and a Llama language model. Converted at load
time into transformers' DeepseekVLHybrid classes without importing the checkpoint's code.

The original config names the vision towers (`siglip_large_patch16_384`, `sam_b_downsample`)
instead of giving their sizes, so the sizes are read off the tensors: widths, depths, window
and global-attention layers; heads are width / 64 as in both published towers.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import torch

from inference.checkpoint_files import iter_tensors
from inference.models.timm_siglip import convert_timm_siglip

ORIGINAL_MODEL_TYPES = {"multi_modality", "deepseekvl"}
HEAD_DIM = 64
LOW, HIGH = "vision_model.vision_tower_low.vision_tower.", "vision_model.vision_tower_high.vision_tower."

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
    low_cfg, high_cfg = params.get("low_res_cfg", {}), params.get("high_res_cfg", {})
    low_width = shapes[LOW + "patch_embed.proj.weight"][0]
    low_patch = shapes[LOW + "patch_embed.proj.weight"][-1]
    vision = dict(model_type="siglip_vision_model", hidden_size=low_width,
                  intermediate_size=shapes[LOW + "blocks.0.mlp.fc1.weight"][0],
                  num_hidden_layers=_count_blocks(shapes, LOW),
                  num_attention_heads=max(1, low_width // HEAD_DIM),
                  image_size=int(low_cfg.get("image_size", 384)), patch_size=low_patch,
                  hidden_act="gelu_pytorch_tanh", layer_norm_eps=1e-6, vision_use_head=False)
    high_width = shapes[HIGH + "patch_embed.proj.weight"][0]
    high_size = int(high_cfg.get("image_size", 1024))
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


def convert_state_dict(tensors) -> dict[str, torch.Tensor]:
    converted = {}
    for key, tensor in tensors:
        siglip = convert_timm_siglip(key, tensor, LOW, "model.vision_model.")
        if siglip is not None:
            converted.update(siglip)
            continue
        new = _rename(key)
        if new == key and not key.startswith(("model.", "lm_head.")):
            raise ValueError(f"unexpected tensor {key!r} in a DeepSeek-VL checkpoint")
        converted[new] = tensor
    return converted


SYSTEM_PROMPT = ("You are a helpful language and vision assistant. You are able to understand "
                 "the visual content that the user provides, and assist the user with a "
                 "variety of tasks using natural language.")


def chat_template() -> str:
    return ("{{ '" + SYSTEM_PROMPT + "\\n\\n' }}{% for message in messages %}"
            "{% if message['role'] == 'user' %}User: {% else %}Assistant: {% endif %}"
            "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
            "{% for c in message['content'] %}{% if c['type'] == 'image' %}<image_placeholder>"
            "{% else %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}"
            "{% if message['role'] == 'user' %}\n\n{% else %}<｜end▁of▁sentence｜>{% endif %}"
            "{% endfor %}{% if add_generation_prompt %}Assistant:{% endif %}")


def load_original(folder: Path, dtype: torch.dtype):
    """(processor, model) for an original-layout DeepSeek-VL 7B checkpoint."""
    from transformers import (AutoTokenizer, DeepseekVLHybridForConditionalGeneration,
                              DeepseekVLHybridImageProcessor, DeepseekVLHybridProcessor)

    raw = json.loads((folder / "config.json").read_text())
    tokenizer = AutoTokenizer.from_pretrained(
        folder, trust_remote_code=False, extra_special_tokens={"image_token": "<image_placeholder>"})
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tensors = dict(iter_tensors(folder))
    config = convert_config(raw, {k: tuple(v.shape) for k, v in tensors.items()},
                            tokenizer.convert_tokens_to_ids("<image_placeholder>"))
    model = DeepseekVLHybridForConditionalGeneration._from_config(config, dtype=dtype)
    missing, unexpected = model.load_state_dict(convert_state_dict(tensors.items()), strict=False)
    if missing or unexpected:
        raise ValueError(f"{folder}: weights do not match the DeepSeek-VL layout "
                         f"(missing {missing[:5]}, unexpected {unexpected[:5]})")
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    params = raw["vision_config"]["params"]
    low, high = params.get("low_res_cfg", {}), params.get("high_res_cfg", {})
    high_res_norm = {f"high_res_image_{k}": high[f"pixel_{k}"] for k in ("mean", "std")
                     if high.get(f"pixel_{k}")}
    image_processor = DeepseekVLHybridImageProcessor(
        size={"height": config.vision_config.image_size, "width": config.vision_config.image_size},
        high_res_size={"height": config.high_res_vision_config.image_size,
                       "width": config.high_res_vision_config.image_size},
        image_mean=low.get("pixel_mean", [0.5] * 3), image_std=low.get("pixel_std", [0.5] * 3),
        **high_res_norm)
    tokens = (config.vision_config.image_size // config.vision_config.patch_size) ** 2
    processor = DeepseekVLHybridProcessor(image_processor=image_processor, tokenizer=tokenizer,
                                          chat_template=chat_template(), num_image_tokens=tokens)
    return processor, model.eval()
