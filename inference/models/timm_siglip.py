"""timm's SigLIP tensor names (as DeepSeek-VL and DeepSeek-VL2 checkpoints store their vision
towers) to transformers' SiglipVisionModel names: packed qkv split, the position table's
leading batch axis dropped, the unused attention-pool head skipped."""
from __future__ import annotations

import re

import torch

# timm's VisionTransformer, as the deepseek-ai towers build it, uses nn.GELU: the exact erf
# form, not the tanh approximation that transformers' SigLIP configs default to.
TIMM_SIGLIP_ACT = "gelu"

_RULES = [(r"patch_embed\.proj\.", "embeddings.patch_embedding."),
          (r"pos_embed$", "embeddings.position_embedding.weight"),
          (r"blocks\.(\d+)\.attn\.proj\.", r"encoder.layers.\1.self_attn.out_proj."),
          (r"blocks\.(\d+)\.attn\.qkv\.", r"encoder.layers.\1.self_attn.qkv."),
          (r"blocks\.(\d+)\.norm(\d)\.", r"encoder.layers.\1.layer_norm\2."),
          (r"blocks\.(\d+)\.mlp\.", r"encoder.layers.\1.mlp."),
          (r"norm\.", "post_layernorm.")]


def convert_timm_siglip(key: str, tensor: torch.Tensor, source: str,
                        target: str) -> list[tuple[str, torch.Tensor]] | None:
    """The transformers tensors for one timm tensor under `source` (placed under `target`),
    [] for tensors that are dropped (the attention-pool head, which the towers never run),
    None when `key` is not under `source`."""
    if not key.startswith(source):
        return None
    rest = key[len(source):]
    if rest.startswith("attn_pool."):
        return []
    for pattern, replacement in _RULES:
        renamed = re.sub("^" + pattern, replacement, rest)
        if renamed != rest:
            rest = renamed
            break
    new = target + rest
    if ".self_attn.qkv." in new:
        return [(new.replace("qkv", name), part.clone())
                for name, part in zip(("q_proj", "k_proj", "v_proj"), tensor.chunk(3, dim=0))]
    if new.endswith("position_embedding.weight"):
        return [(new, tensor.squeeze(0))]
    return [(new, tensor)]
