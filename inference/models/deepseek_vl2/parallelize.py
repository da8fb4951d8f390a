"""DeepSeek-VL2's tensor-parallel plan: the language model's attention heads, dense MLPs,
vocabulary and experts, and the SigLIP tower's MLPs; which experts this rank never reads."""
from __future__ import annotations

import torch

from inference.models.deepseek_vl2.model import DeepseekMoE
from inference.safetensors_reader import Slicing
from inference.tensor_parallel import (COLUMN, ROW, TPGroup, apply_plan, decoder_layers,
                                       module_path, vision_mlp_plan, vocabulary_plan)


def parallelize(model, tp_mesh) -> tuple[dict[str, Slicing], list[str]]:
    """Split a DeepseekVL2ForCausalLM still on the meta device: (how each split parameter is
    sliced, by its full name; the name prefixes of other ranks' experts, which this rank
    never reads)."""
    slicings, skip = {}, []
    if tp_mesh is not None:
        slicings = {f"language.{name}": slicing for name, slicing in
                    shard_deepseek_language_model(model.language, tp_mesh).items()}
        tp = TPGroup.from_mesh(tp_mesh)
        slicings.update({f"vision.{name}": slicing for name, slicing in apply_plan(
            model.vision, vision_mlp_plan(model.vision, tp.size), tp).items()})
        skip = [f"{name}.experts.{index}." for name, module in model.named_modules()
                if isinstance(module, DeepseekMoE) for index in module.other_ranks_experts()]
    return slicings, skip


def shard_deepseek_language_model(model: torch.nn.Module, tp_mesh) -> dict[str, Slicing]:
    """DeepSeek-V2 language models (multi-head latent attention, mixture of experts), split by
    the plain-tensor plan; works on a model still on the meta device (the returned slicings,
    by parameter name under `model`, tell the loader which slice each rank reads).

    Attention: the per-head projections (q_proj or q_b_proj, and kv_b_proj, which expands the
    shared latent into per-head keys and values) column-wise, o_proj row-wise; the latent
    projections q_a_proj/kv_a_proj_with_mqa and their norms stay replicated, so each rank
    attends with 1/tp of the heads. Dense MLP layers column/row as in `language_model_plan`;
    the token embedding and the output head by vocabulary rows. MoE layers shard themselves
    by expert (`shard(rank, size, group)`, which returns its own slicings): each rank keeps
    only its experts and a slice of the shared experts, and the partial outputs are
    all-reduced.
    """
    size = tp_mesh.size()
    config = model.config
    if config.num_attention_heads % size:
        raise ValueError(f"runtime.tp={size} does not divide the language model's "
                         f"num_attention_heads={config.num_attention_heads}: attention heads "
                         "cannot be split evenly")
    tp = TPGroup.from_mesh(tp_mesh)
    if tp is None:
        return {}
    layers = decoder_layers(model)
    prefix = module_path(model, layers)
    plan: dict[str, str] = {}
    expert_slicings: dict[str, Slicing] = {}
    for index, layer in enumerate(layers):
        attention = layer.self_attn
        query = "q_proj" if getattr(attention, "q_proj", None) is not None else "q_b_proj"
        name = f"{prefix}.{index}"
        plan.update({f"{name}.self_attn.{query}": COLUMN, f"{name}.self_attn.kv_b_proj": COLUMN,
                     f"{name}.self_attn.o_proj": ROW})
        if hasattr(layer.mlp, "shard"):
            expert_slicings.update({f"{name}.mlp.{key}": slicing for key, slicing in
                                    layer.mlp.shard(tp.rank, tp.size, tp.group).items()})
        else:
            width = layer.mlp.gate_proj.out_features
            if width % size:
                raise ValueError(f"runtime.tp={size} does not divide the dense MLP width "
                                 f"intermediate_size={width}")
            plan.update({f"{name}.mlp.gate_proj": COLUMN, f"{name}.mlp.up_proj": COLUMN,
                         f"{name}.mlp.down_proj": ROW})
    plan.update(vocabulary_plan(model, getattr(config, "vocab_size", None), size))
    return {**apply_plan(model, plan, tp), **expert_slicings}
