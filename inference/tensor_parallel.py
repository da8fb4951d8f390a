"""Tensor parallelism for inference: every rank holds 1/tp of each large matrix as a plain
tensor, and the few places where partial results meet all-reduce or all-gather explicitly.

A plan names, per module, how it is split (Megatron's layout):
- "column": a linear layer's output features (q/k/v, MLP gate/up, vision qkv and fc1); the
  layer's output is this rank's slice of features, which the next layer consumes as is;
- "row": a linear layer's input features (o_proj, MLP down, vision proj and fc2); the partial
  products are all-reduced and the bias added once;
- "vocab": the token embedding split by vocabulary rows; ids outside the rank's rows look up
  zeros and the partial embeddings are all-reduced (exact: one rank contributes each row);
- "gather": the output head split by vocabulary rows; the rank's logits are all-gathered.
Attention modules then run with 1/tp of the heads: transformers' text attention reshapes with
-1 heads, and the vision attention's `num_heads` is set to the rank's count.

`apply_plan` works on a model whose parameters are still on the meta device (the shapes become
the rank's; `inference.sharded_loading` then reads only those slices from the checkpoint) as
well as on a loaded model (its tensors are sliced in place). The vision tower is split where
its layout is known (Qwen2-VL); otherwise it stays whole on every rank.

This module holds the machinery and the plans several families share (language model,
vocabulary, vision MLPs); a family's own plan lives beside its model, as torchtitan keeps
`parallelize` next to each model: inference/models/qwen2_vl/parallelize.py (the vision tower,
which `default_plan` applies where a model has its layout),
inference/models/deepseek_vl2/parallelize.py (latent attention and experts).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.nn import functional as F

from inference.safetensors_reader import Slicing

COLUMN, ROW, VOCAB, GATHER = "column", "row", "vocab", "gather"
PACKED_QKV = "packed_qkv"          # a column split of a fused q|k|v weight: each third split
TEXT_COLUMN = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "mlp.gate_proj",
               "mlp.up_proj")
TEXT_ROW = ("self_attn.o_proj", "mlp.down_proj")


@dataclass(frozen=True)
class TPGroup:
    rank: int
    size: int
    group: object = None

    @classmethod
    def from_mesh(cls, tp_mesh) -> "TPGroup | None":
        if tp_mesh is None or tp_mesh.size() == 1:
            return None
        return cls(tp_mesh.get_local_rank(), tp_mesh.size(), tp_mesh.get_group())


class RowParallelLinear(nn.Linear):
    """The rank's input features only; partial outputs summed over the group, bias once."""
    tp_group = None

    def forward(self, x):
        out = F.linear(x, self.weight)
        dist.all_reduce(out, group=self.tp_group)
        return out if self.bias is None else out + self.bias


class VocabParallelEmbedding(nn.Embedding):
    """Rows [vocab_start, vocab_start + num_embeddings) of the vocabulary."""
    tp_group = None
    vocab_start = 0

    def forward(self, ids):
        local = ids - self.vocab_start
        outside = (local < 0) | (local >= self.num_embeddings)
        out = F.embedding(local.masked_fill(outside, 0), self.weight, self.padding_idx)
        out = out.masked_fill(outside.unsqueeze(-1), 0)
        dist.all_reduce(out, group=self.tp_group)
        return out


class GatheredColumnLinear(nn.Linear):
    """The rank's output features (vocabulary rows of an LM head); gathered on the last dim."""
    tp_group = None
    tp_size = 1

    def forward(self, x):
        local = F.linear(x, self.weight, self.bias).contiguous()
        parts = [torch.empty_like(local) for _ in range(self.tp_size)]
        dist.all_gather(parts, local, group=self.tp_group)
        return torch.cat(parts, dim=-1)


def decoder_layers(model: nn.Module) -> nn.ModuleList:
    """The language model's decoder layers of an image-text-to-text model."""
    language_model = model.get_decoder() if hasattr(model, "get_decoder") else model
    layers = getattr(language_model, "layers", None)
    if layers is None:
        raise ValueError(f"{type(model).__name__}: no decoder layers found to shard")
    return layers


def module_path(model: nn.Module, module: nn.Module) -> str:
    for name, candidate in model.named_modules():
        if candidate is module:
            return name
    raise ValueError(f"{type(module).__name__} is not part of the model")


def language_model_plan(model: nn.Module, size: int) -> dict[str, str]:
    """Decoder layers (attention heads, MLP), token embedding and output head."""
    text_config = model.config.get_text_config()
    for name in ("num_attention_heads", "num_key_value_heads", "intermediate_size"):
        value = getattr(text_config, name, None)
        if value is not None and value % size:
            raise ValueError(f"runtime.tp={size} does not divide the language model's "
                             f"{name}={value}")
    plan: dict[str, str] = {}
    layers = decoder_layers(model)
    prefix = module_path(model, layers)
    for index, layer in enumerate(layers):
        present = {n for n, _ in layer.named_modules()}
        found = [n for n in TEXT_COLUMN + TEXT_ROW if n in present]
        if len(found) != len(TEXT_COLUMN + TEXT_ROW):
            raise ValueError(f"{type(layer).__name__}: unexpected layout for tensor parallelism "
                             f"(found {found})")
        for name in TEXT_COLUMN:
            plan[f"{prefix}.{index}.{name}"] = COLUMN
        for name in TEXT_ROW:
            plan[f"{prefix}.{index}.{name}"] = ROW
    plan.update(vocabulary_plan(model, getattr(text_config, "vocab_size", None), size))
    return plan


def vocabulary_plan(model: nn.Module, vocab: int | None, size: int) -> dict[str, str]:
    """The token embedding by vocabulary rows and the output head gathered, when tp divides
    the vocabulary."""
    plan: dict[str, str] = {}
    if vocab and vocab % size == 0:
        embedding, head = model.get_input_embeddings(), model.get_output_embeddings()
        if isinstance(embedding, nn.Embedding) and type(embedding) is nn.Embedding:
            plan[module_path(model, embedding)] = VOCAB
        if isinstance(head, nn.Linear) and type(head) is nn.Linear:
            plan[module_path(model, head)] = GATHER
    return plan


def vision_mlp_plan(model: nn.Module, size: int, taken: dict[str, str] | None = None
                    ) -> dict[str, str]:
    """Any other two-layer MLP (`fc1` -> activation -> `fc2`, as InternViT's, SigLIP's and
    Qwen2-VL's vision blocks have): fc1 column, fc2 row. Two thirds of a ViT block's weights
    are its MLP, so a tower whose attention stays whole (InternViT normalises q and k over all
    heads at once) still shrinks per rank."""
    taken = taken or {}
    plan: dict[str, str] = {}
    for name, module in model.named_modules():
        fc1, fc2 = getattr(module, "fc1", None), getattr(module, "fc2", None)
        prefix = f"{name}." if name else ""
        if type(fc1) is nn.Linear and type(fc2) is nn.Linear \
                and fc1.out_features == fc2.in_features and fc1.out_features % size == 0 \
                and f"{prefix}fc1" not in taken:
            plan.update({f"{prefix}fc1": COLUMN, f"{prefix}fc2": ROW})
    return plan


# Vision-tower plans of families, each a function (model, tp size) -> plan that finds the
# layout it knows by the modules' structure ({} when there is none): "module:function", imported
# on use, so this module imports no family (each family's plan lives beside its model).
FAMILY_VISION_PLANS = ("inference.models.qwen2_vl.parallelize:qwen2_vl_vision_plan",)


def default_plan(model: nn.Module, size: int) -> dict[str, str]:
    plan = language_model_plan(model, size)
    for spec in FAMILY_VISION_PLANS:
        module, _, function = spec.partition(":")
        plan.update(getattr(importlib.import_module(module), function)(model, size))
    plan.update(vision_mlp_plan(model, size, plan))
    return plan


def _slicings(style: str) -> dict[str, Slicing | None]:
    """How each parameter of a module in `style` is split (None: whole on every rank)."""
    return {COLUMN: {"weight": Slicing(0), "bias": Slicing(0)},
            PACKED_QKV: {"weight": Slicing(0, blocks=3), "bias": Slicing(0, blocks=3)},
            ROW: {"weight": Slicing(1), "bias": None},
            VOCAB: {"weight": Slicing(0)},
            GATHER: {"weight": Slicing(0), "bias": Slicing(0)}}[style]


def local_slice(tensor: torch.Tensor, slicing: Slicing | None, rank: int,
                size: int) -> torch.Tensor:
    """This rank's part of a whole tensor held in memory."""
    if slicing is None or size == 1:
        return tensor
    ranges = slicing.ranges(tensor.shape[slicing.dim], rank, size)
    return torch.cat([tensor.narrow(slicing.dim, a, b - a) for a, b in ranges],
                     dim=slicing.dim).clone()


def apply_plan(model: nn.Module, plan: dict[str, str], tp: TPGroup) -> dict[str, Slicing]:
    """Give every planned module its split shape and its parallel forward; returns how each
    split parameter (by full name) is sliced, for the loader."""
    modules = dict(model.named_modules())
    slicings: dict[str, Slicing] = {}
    # tied weights stay tied (the old parameter is kept in the value so its id stays unique)
    replaced: dict[int, tuple[nn.Parameter, Slicing, nn.Parameter]] = {}
    for name, style in plan.items():
        module = modules[name]
        for param_name, slicing in _slicings(style).items():
            param = getattr(module, param_name, None)
            if param is None or slicing is None:
                continue
            if id(param) in replaced and replaced[id(param)][1] == slicing:
                new = replaced[id(param)][2]
            else:
                local = local_slice(param.data, slicing, tp.rank, tp.size) if not param.is_meta \
                    else torch.empty(_local_shape(param.shape, slicing, tp.size),
                                     dtype=param.dtype, device="meta")
                new = nn.Parameter(local, requires_grad=False)
                replaced[id(param)] = (param, slicing, new)
            setattr(module, param_name, new)
            slicings[f"{name}.{param_name}" if name else param_name] = slicing
        _become_parallel(module, style, tp)
    return slicings


def _local_shape(shape, slicing: Slicing, size: int) -> tuple[int, ...]:
    local = list(shape)
    local[slicing.dim] //= size
    return tuple(local)


def _become_parallel(module: nn.Module, style: str, tp: TPGroup) -> None:
    if style in (COLUMN, PACKED_QKV):
        module.out_features //= tp.size
    elif style == ROW:
        module.__class__ = RowParallelLinear
        module.in_features //= tp.size
        module.tp_group = tp.group
    elif style == VOCAB:
        module.__class__ = VocabParallelEmbedding
        module.num_embeddings //= tp.size
        module.vocab_start = tp.rank * module.num_embeddings
        module.tp_group = tp.group
        module.padding_idx = None      # it only shapes gradients; the index is global anyway
    elif style == GATHER:
        module.__class__ = GatheredColumnLinear
        module.out_features //= tp.size
        module.tp_group, module.tp_size = tp.group, tp.size


def split_attention_heads(model: nn.Module, plan: dict[str, str], size: int) -> None:
    """Vision attention whose forward reshapes by `num_heads`: the rank's share of heads."""
    modules = dict(model.named_modules())
    for name, style in plan.items():
        if style == PACKED_QKV:
            attention = modules[name.rsplit(".", 1)[0]]
            attention.num_heads //= size


def shard_model(model: nn.Module, tp_mesh) -> dict[str, Slicing]:
    """Split a model (on the meta device or loaded) by the default plan; returns the slicings."""
    tp = TPGroup.from_mesh(tp_mesh)
    if tp is None:
        return {}
    plan = default_plan(model, tp.size)
    slicings = apply_plan(model, plan, tp)
    split_attention_heads(model, plan, tp.size)
    return slicings
