"""Tensor parallelism of the language model with torch's own DTensor API (as torchtitan does).

In every decoder layer, attention q/k/v and MLP gate/up projections are split by output
features (column-wise) and o/down projections by input features (row-wise, all-reduced), so
each rank holds 1/tp of the heads and of the MLP. The vision tower stays replicated.
"""
from __future__ import annotations

import torch
from torch.distributed.tensor.parallel import (ColwiseParallel, RowwiseParallel,
                                               parallelize_module)

COLUMN = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "mlp.gate_proj",
          "mlp.up_proj")
ROW = ("self_attn.o_proj", "mlp.down_proj")


def decoder_layers(model: torch.nn.Module) -> torch.nn.ModuleList:
    """The language model's decoder layers of an image-text-to-text model."""
    language_model = model.get_decoder() if hasattr(model, "get_decoder") else model
    layers = getattr(language_model, "layers", None)
    if layers is None:
        raise ValueError(f"{type(model).__name__}: no decoder layers found to shard")
    return layers


def shard_language_model(model: torch.nn.Module, tp_mesh) -> None:
    size = tp_mesh.size()
    text_config = model.config.get_text_config()
    for name in ("num_attention_heads", "num_key_value_heads", "intermediate_size"):
        value = getattr(text_config, name, None)
        if value is not None and value % size:
            raise ValueError(f"runtime.tp={size} does not divide the language model's "
                             f"{name}={value}")
    for layer in decoder_layers(model):
        present = {n for n, _ in layer.named_modules()}
        plan = {n: ColwiseParallel() for n in COLUMN if n in present}
        plan.update({n: RowwiseParallel() for n in ROW if n in present})
        if len(plan) != len(COLUMN) + len(ROW):
            raise ValueError(f"{type(layer).__name__}: unexpected layout for tensor parallelism "
                             f"(found {sorted(plan)})")
        parallelize_module(layer, tp_mesh, plan)


def shard_deepseek_language_model(model: torch.nn.Module, tp_mesh) -> None:
    """DeepSeek-V2 language models (multi-head latent attention, mixture of experts).

    Attention: the per-head projections (q_proj or q_b_proj, and kv_b_proj, which expands the
    shared latent into per-head keys and values) column-wise, o_proj row-wise; the latent
    projections q_a_proj/kv_a_proj_with_mqa and their norms stay replicated, so each rank
    attends with 1/tp of the heads. Dense MLP layers as in `shard_language_model`. MoE layers
    shard themselves by expert (`shard(rank, size, group)`): each rank runs its own experts and
    a slice of the shared experts, and the partial outputs are all-reduced.
    """
    size = tp_mesh.size()
    config = model.config
    if config.num_attention_heads % size:
        raise ValueError(f"runtime.tp={size} does not divide the language model's "
                         f"num_attention_heads={config.num_attention_heads}: attention heads "
                         "cannot be split evenly")
    rank, group = tp_mesh.get_local_rank(), tp_mesh.get_group()
    for layer in decoder_layers(model):
        attention = layer.self_attn
        query = "q_proj" if getattr(attention, "q_proj", None) is not None else "q_b_proj"
        plan = {f"self_attn.{query}": ColwiseParallel(),
                "self_attn.kv_b_proj": ColwiseParallel(),
                "self_attn.o_proj": RowwiseParallel()}
        if hasattr(layer.mlp, "shard"):
            layer.mlp.shard(rank, size, group)
        else:
            width = layer.mlp.gate_proj.out_features
            if width % size:
                raise ValueError(f"runtime.tp={size} does not divide the dense MLP width "
                                 f"intermediate_size={width}")
            plan.update({"mlp.gate_proj": ColwiseParallel(), "mlp.up_proj": ColwiseParallel(),
                         "mlp.down_proj": RowwiseParallel()})
        parallelize_module(layer, tp_mesh, plan)
