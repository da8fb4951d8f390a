"""InternVL's original OpenGVLab layout (`model_type: internvl_chat`) -> transformers' InternVL:
the config read as JSON, the tensors renamed (InternLM2's packed `wqkv` split into q/k/v,
InternViT's `qkv` likewise)."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Iterator

import torch

ORIGINAL_MODEL_TYPE = "internvl_chat"

_VISION_RENAMES = [
    (r"^vision_model\.", "model.vision_tower."),
    (r"embeddings\.class_embedding$", "embeddings.cls_token"),
    (r"embeddings\.position_embedding$", "embeddings.position_embeddings"),
    (r"embeddings\.patch_embedding\.", "embeddings.patch_embeddings.projection."),
    (r"encoder\.layers\.", "encoder.layer."),
    (r"\.ls(\d)$", r".lambda_\1"),
    (r"\.attn\.proj\.", ".attention.projection_layer."),
    (r"\.attn\.", ".attention."),
    (r"\.norm1\.", ".layernorm_before."),
    (r"\.norm2\.", ".layernorm_after."),
]
_PROJECTOR_RENAMES = [(r"^mlp1\.0\.", "model.multi_modal_projector.layer_norm."),
                      (r"^mlp1\.1\.", "model.multi_modal_projector.linear_1."),
                      (r"^mlp1\.3\.", "model.multi_modal_projector.linear_2.")]
_INTERNLM2_RENAMES = [
    (r"^language_model\.output\.", "lm_head."),
    (r"\.tok_embeddings\.", ".embed_tokens."),
    (r"\.attention\.wo\.", ".self_attn.o_proj."),
    (r"\.feed_forward\.w1\.", ".mlp.gate_proj."),
    (r"\.feed_forward\.w2\.", ".mlp.down_proj."),
    (r"\.feed_forward\.w3\.", ".mlp.up_proj."),
    (r"\.attention_norm\.", ".input_layernorm."),
    (r"\.ffn_norm\.", ".post_attention_layernorm."),
]
_LANGUAGE_RENAMES = [(r"^language_model\.lm_head\.", "lm_head."),
                     (r"^language_model\.model\.", "model.language_model.")]


def is_original_layout(folder: Path) -> bool:
    config = json.loads((folder / "config.json").read_text())
    return config.get("model_type") == ORIGINAL_MODEL_TYPE


def _rename(key: str, rules) -> str:
    for pattern, replacement in rules:
        key = re.sub(pattern, replacement, key)
    return key


def _language_family(llm: dict) -> str:
    architecture = (llm.get("architectures") or [""])[0]
    if architecture.startswith("InternLM2") or llm.get("model_type") == "internlm2":
        return "internlm2"
    if architecture.startswith("Qwen2") or llm.get("model_type") == "qwen2":
        return "qwen2"
    if architecture.startswith("Llama") or llm.get("model_type") == "llama":
        return "llama"
    raise ValueError(f"InternVL language model {architecture or llm.get('model_type')!r} is not "
                     "supported (InternLM2, Qwen2, Llama/Yi are)")


def _text_config(llm: dict):
    from transformers import LlamaConfig, Qwen2Config

    family = _language_family(llm)
    fields = ["vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
              "num_attention_heads", "num_key_value_heads", "max_position_embeddings",
              "rms_norm_eps", "hidden_act", "bos_token_id", "eos_token_id", "pad_token_id",
              "tie_word_embeddings", "rope_scaling", "rope_theta", "sliding_window",
              "use_sliding_window", "max_window_layers", "attention_dropout"]
    values = {k: llm[k] for k in fields if k in llm and llm[k] is not None}
    if family == "qwen2":
        return Qwen2Config(**values)
    if family == "internlm2":
        values["attention_bias"] = bool(llm.get("bias", False))
        values["mlp_bias"] = False
    return LlamaConfig(**values)


def convert_config(raw: dict, image_token_id: int):
    from transformers import InternVLConfig, InternVLVisionConfig

    vision, llm = raw["vision_config"], raw["llm_config"]
    image_size = int(raw.get("force_image_size") or vision["image_size"])
    vision_config = InternVLVisionConfig(
        hidden_size=vision["hidden_size"], intermediate_size=vision["intermediate_size"],
        num_hidden_layers=vision["num_hidden_layers"],
        num_attention_heads=vision["num_attention_heads"],
        image_size=[image_size, image_size], patch_size=[vision["patch_size"]] * 2,
        attention_bias=bool(vision.get("qkv_bias", True)),
        use_qk_norm=bool(vision.get("qk_normalization", False)),
        norm_type=vision.get("norm_type", "layer_norm"),
        layer_norm_eps=vision.get("layer_norm_eps", 1e-6),
        hidden_act=vision.get("hidden_act", "gelu"),
        use_absolute_position_embeddings=True)
    select_layer = int(raw.get("select_layer", -1))
    text_config = _text_config(llm)
    return InternVLConfig(vision_config=vision_config, text_config=text_config,
                          tie_word_embeddings=bool(llm.get("tie_word_embeddings", False)),
                          image_token_id=image_token_id,
                          downsample_ratio=float(raw.get("downsample_ratio", 0.5)),
                          vision_feature_layer=select_layer, projector_hidden_act="gelu")


def renamed(key: str) -> str | None:
    """The model's name for a tensor that only needs a new name (no split), else None."""
    if key.startswith("vision_model.") and ".attn.qkv." not in key:
        return _rename(key, _VISION_RENAMES)
    if key.startswith("mlp1."):
        return _rename(key, _PROJECTOR_RENAMES)
    if key.startswith("language_model.") and ".attention.wqkv." not in key:
        return _rename(_rename(key, _INTERNLM2_RENAMES), _LANGUAGE_RENAMES)
    return None


def convert_state_dict(tensors, config) -> Iterator[tuple[str, torch.Tensor]]:
    """Original tensor names and layouts -> transformers' InternVL ones, one tensor at a time
    (a packed qkv / wqkv becomes its q, k and v)."""
    text = config.text_config
    head_dim = text.hidden_size // text.num_attention_heads
    groups = text.num_attention_heads // text.num_key_value_heads
    vision_dim = config.vision_config.hidden_size
    for key, tensor in tensors:
        if key.startswith("vision_model."):
            new = _rename(key, _VISION_RENAMES)
            if ".attention.qkv." in new:
                for name, part in zip(("q_proj", "k_proj", "v_proj"),
                                      tensor.split(vision_dim, dim=0)):
                    yield new.replace("qkv", name), part.clone()
                continue
            yield new, tensor
        elif key.startswith("mlp1."):
            yield _rename(key, _PROJECTOR_RENAMES), tensor
        elif key.startswith("language_model."):
            # InternLM2 names are renamed to Llama's; Qwen2 and Llama names pass unchanged
            new = _rename(_rename(key, _INTERNLM2_RENAMES), _LANGUAGE_RENAMES)
            if ".attention.wqkv." in new:
                # rows grouped per key/value head: [q x groups, k, v] of head_dim each
                packed = tensor.reshape(text.num_key_value_heads, groups + 2, head_dim,
                                        *tensor.shape[1:])
                base = new.replace(".attention.wqkv.", ".self_attn.{}.")
                rows = (-1, *tensor.shape[1:])
                yield base.format("q_proj"), packed[:, :groups].reshape(rows).clone()
                yield base.format("k_proj"), packed[:, -2].reshape(rows).clone()
                yield base.format("v_proj"), packed[:, -1].reshape(rows).clone()
                continue
            yield new, tensor
        else:
            raise ValueError(f"unexpected tensor {key!r} in an InternVL checkpoint")

