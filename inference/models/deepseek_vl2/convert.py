"""The original DeepSeek-VL2 checkpoint layout and the model's: tensor names both ways (timm
SigLIP <-> transformers' SigLIP; the language model keeps its names) and the language config
with the original's defaults."""
from __future__ import annotations

from typing import Iterator

import torch

from inference.models.deepseek_vl2.model import ORIGINAL_LANGUAGE_DEFAULTS, MoESettings
from inference.models.timm_siglip import convert_timm_siglip

ORIGINAL_MODEL_TYPE = "deepseek_vl_v2"


def convert_state_dict(tensors, ignored: list[str] | None = None
                       ) -> Iterator[tuple[str, torch.Tensor]]:
    """Original names -> this module's (timm SigLIP -> transformers' SigLIP; the language model
    keeps its names), one tensor at a time; the names of tensors the original builds but never
    uses (the SigLIP attention-pool head, which the original's `ignore_head` skips) go to
    `ignored`."""
    ignored = [] if ignored is None else ignored
    for key, tensor in tensors:
        siglip = convert_timm_siglip(key, tensor, "vision.", "vision.")
        if siglip is None:
            yield key, tensor
        elif siglip:
            yield from siglip
        else:
            ignored.append(key)


def original_state_dict(state: dict) -> dict:
    """This module's tensor names -> the original deepseek-vl2 checkpoint's (the inverse of
    convert_state_dict: transformers' SigLIP back to timm's, fused qkv; experts stacked by
    transformers' own MoE split per expert)."""
    out = {}
    for key, tensor in state.items():
        new = (key.replace("vision.embeddings.patch_embedding.", "vision.patch_embed.proj.")
               .replace("vision.encoder.layers.", "vision.blocks.")
               .replace("vision.post_layernorm.", "vision.norm.")
               .replace(".self_attn.out_proj.", ".attn.proj.")
               .replace(".layer_norm1.", ".norm1.").replace(".layer_norm2.", ".norm2."))
        if new == "vision.embeddings.position_embedding.weight":
            out["vision.pos_embed"] = tensor.unsqueeze(0)
        elif new.startswith("vision.blocks.") and ".self_attn.q_proj." in new:
            kind = new.rsplit(".", 1)[1]
            out[new.replace(f"self_attn.q_proj.{kind}", f"attn.qkv.{kind}")] = torch.cat(
                [tensor, state[key.replace("q_proj", "k_proj")], state[key.replace("q_proj", "v_proj")]])
        elif new.startswith("vision.blocks.") and (".self_attn.k_proj." in new or ".self_attn.v_proj." in new):
            continue
        elif new.endswith("mlp.experts.gate_up_proj"):
            prefix = new[:-len(".gate_up_proj")]
            for index, stacked in enumerate(tensor):
                gate, up = stacked.chunk(2, dim=0)
                out[f"{prefix}.{index}.gate_proj.weight"] = gate.clone()
                out[f"{prefix}.{index}.up_proj.weight"] = up.clone()
        elif new.endswith("mlp.experts.down_proj"):
            prefix = new[:-len(".down_proj")]
            for index, stacked in enumerate(tensor):
                out[f"{prefix}.{index}.down_proj.weight"] = stacked.clone()
        else:
            out[new] = tensor
    return out


def original_language_config(raw: dict) -> dict:
    """The checkpoint's language_config with the original DeepseekV2Config defaults filled in."""
    language = dict(ORIGINAL_LANGUAGE_DEFAULTS)
    language.update({k: v for k, v in raw.items() if k in ORIGINAL_LANGUAGE_DEFAULTS})
    if language["num_key_value_heads"] is None:
        language["num_key_value_heads"] = language["num_attention_heads"]
    return language


def transformers_language_config(raw: dict):
    """transformers' DeepseekV2Config for the attention and dense layers of the original."""
    from transformers import DeepseekV2Config

    language = original_language_config(raw)
    if language["use_mla"] is False:
        raise ValueError("DeepSeek-VL2 checkpoints without multi-head latent attention "
                         "(use_mla: false, deepseek-vl2-tiny) are not supported")
    if language["ep_size"] != 1:
        raise ValueError(f"language_config.ep_size={language['ep_size']}: expert parallelism "
                         "inside the checkpoint config is not supported; use runtime.tp")
    if language["n_routed_experts"] is not None:
        MoESettings.from_original(language)      # fail early on settings it cannot honour
    if int(language["moe_layer_freq"]) < 1:
        raise ValueError("language_config.moe_layer_freq must be at least 1")
    rope = {"rope_type": "default", "rope_theta": float(language["rope_theta"])}
    if language["rope_scaling"]:
        scaling = dict(language["rope_scaling"])
        rope.update(scaling, rope_type=scaling.pop("type", scaling.get("rope_type", "default")))
    fields = ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
              "num_attention_heads", "num_key_value_heads", "hidden_act",
              "max_position_embeddings", "rms_norm_eps", "pad_token_id", "bos_token_id",
              "eos_token_id", "tie_word_embeddings", "attention_bias", "attention_dropout",
              "kv_lora_rank", "q_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim",
              "v_head_dim")
    dense = language["first_k_dense_replace"] if language["n_routed_experts"] is not None \
        else language["num_hidden_layers"]
    # transformers' MoE layers are replaced by DeepseekMoE: build them one expert wide
    return DeepseekV2Config(**{k: language[k] for k in fields}, rope_parameters=rope,
                            first_k_dense_replace=dense, n_routed_experts=1, n_shared_experts=1,
                            num_experts_per_tok=1, moe_intermediate_size=1)
