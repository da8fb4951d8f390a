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
