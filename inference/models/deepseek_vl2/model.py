"""The DeepSeek-VL2 model: transformers' SiglipVisionModel and DeepseekV2ForCausalLM, the
original's projector, and the original's mixture of experts in place of transformers' MoE
layers (routing as the original computes it, tensor names as the checkpoint stores them)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


class MlpProjector(nn.Module):
    """downsample_mlp_gelu: 2x2 neighbourhoods concatenated, then Linear-GELU-Linear."""

    def __init__(self, input_dim: int, n_embed: int, downsample: int, mlp_ratio: int = 1):
        super().__init__()
        self.downsample = downsample
        self.layers = nn.Sequential(nn.Linear(input_dim * downsample ** 2, n_embed * mlp_ratio),
                                    nn.GELU(), nn.Linear(n_embed * mlp_ratio, n_embed))

    def forward(self, features):
        batch, length, channels = features.shape
        side = int(math.isqrt(length))
        x = features.transpose(1, 2).reshape(batch, channels, side, side)
        pad = (-side) % self.downsample
        x = F.pad(x, (0, pad, 0, pad))
        x = F.unfold(x, kernel_size=self.downsample, stride=self.downsample).transpose(1, 2)
        return self.layers(x)


# -- the language model's mixture of experts, as the original computes it ------------------
# The original DeepseekV2Config's defaults (configuration_deepseek.py of deepseek-ai/DeepSeek-VL2),
# for keys a checkpoint's language_config leaves out. transformers' own defaults differ.
ORIGINAL_LANGUAGE_DEFAULTS = dict(
    vocab_size=102400, hidden_size=4096, intermediate_size=11008, moe_intermediate_size=1407,
    num_hidden_layers=30, num_attention_heads=32, num_key_value_heads=32, n_shared_experts=None,
    n_routed_experts=None, routed_scaling_factor=1.0, kv_lora_rank=512, q_lora_rank=1536,
    qk_rope_head_dim=64, v_head_dim=128, qk_nope_head_dim=128, topk_method="gready",
    n_group=None, topk_group=None, num_experts_per_tok=None, moe_layer_freq=1,
    first_k_dense_replace=0, norm_topk_prob=False, scoring_func="softmax", hidden_act="silu",
    max_position_embeddings=2048, rms_norm_eps=1e-6, bos_token_id=100000, eos_token_id=100001,
    pad_token_id=None, tie_word_embeddings=False, rope_theta=10000.0, rope_scaling=None,
    attention_bias=False, attention_dropout=0.0, use_mla=True, ep_size=1)
TOPK_METHODS = ("greedy", "group_limited_greedy", "noaux_tc")


@dataclass
class MoESettings:
    """The original MoEGate's parameters (language_config keys of the same names)."""
    n_routed_experts: int
    num_experts_per_tok: int
    moe_intermediate_size: int
    n_shared_experts: int | None
    topk_method: str = "greedy"
    scoring_func: str = "softmax"
    n_group: int | None = None
    topk_group: int | None = None
    norm_topk_prob: bool = False
    routed_scaling_factor: float = 1.0
    hidden_act: str = "silu"

    @classmethod
    def from_original(cls, language: dict) -> "MoESettings":
        settings = cls(**{k: language[k] for k in cls.__dataclass_fields__})
        if settings.topk_method not in TOPK_METHODS:
            raise ValueError(f"language_config.topk_method={settings.topk_method!r} is not one of "
                             f"{', '.join(TOPK_METHODS)}")
        if settings.scoring_func not in ("softmax", "sigmoid"):
            raise ValueError(f"language_config.scoring_func={settings.scoring_func!r} is not "
                             "softmax or sigmoid")
        if settings.topk_method != "greedy":
            groups = settings.n_group or 0
            if groups < 1 or settings.n_routed_experts % groups or not settings.topk_group:
                raise ValueError(f"language_config: topk_method {settings.topk_method} needs "
                                 f"n_group dividing n_routed_experts={settings.n_routed_experts} "
                                 f"and topk_group (got {settings.n_group}, {settings.topk_group})")
        return settings


class GatedMLP(nn.Module):
    def __init__(self, hidden: int, intermediate: int, act: str):
        from transformers.activations import ACT2FN

        super().__init__()
        self.gate_proj = nn.Linear(hidden, intermediate, bias=False)
        self.up_proj = nn.Linear(hidden, intermediate, bias=False)
        self.down_proj = nn.Linear(intermediate, hidden, bias=False)
        self.act_fn = ACT2FN[act]

    def forward(self, x):
        return self.down_proj(self.act_fn(self.gate_proj(x)) * self.up_proj(x))


class MoEGate(nn.Module):
    """Top-k expert selection with the original's scores, groups and weights (in fp32)."""

    def __init__(self, hidden: int, moe: MoESettings):
        super().__init__()
        self.moe = moe
        self.weight = nn.Parameter(torch.zeros(moe.n_routed_experts, hidden))
        if moe.topk_method == "noaux_tc":
            self.e_score_correction_bias = nn.Parameter(torch.zeros(moe.n_routed_experts))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        moe, tokens = self.moe, x.shape[0]
        logits = F.linear(x.float(), self.weight.float())
        scores = logits.softmax(dim=-1) if moe.scoring_func == "softmax" else logits.sigmoid()
        if moe.topk_method == "greedy":
            weights, index = torch.topk(scores, k=moe.num_experts_per_tok, dim=-1, sorted=False)
        else:
            choice = scores + self.e_score_correction_bias[None] \
                if moe.topk_method == "noaux_tc" else scores
            grouped = choice.view(tokens, moe.n_group, -1)
            group_scores = grouped.topk(2, dim=-1)[0].sum(dim=-1) \
                if moe.topk_method == "noaux_tc" else grouped.max(dim=-1).values
            keep = torch.zeros_like(group_scores).scatter_(
                1, torch.topk(group_scores, k=moe.topk_group, dim=-1, sorted=False)[1], 1)
            keep = keep[:, :, None].expand_as(grouped).reshape(tokens, -1).bool()
            masked = choice.masked_fill(~keep, 0.0)      # 0, not -inf, as the original
            weights, index = torch.topk(masked, k=moe.num_experts_per_tok, dim=-1, sorted=False)
            if moe.topk_method == "noaux_tc":
                weights = scores.gather(1, index)
        if moe.num_experts_per_tok > 1 and moe.norm_topk_prob:
            weights = weights / (weights.sum(dim=-1, keepdim=True) + 1e-20)
        return index, weights * moe.routed_scaling_factor


class DeepseekMoE(nn.Module):
    """Routed experts (per-expert MLPs, original names) weighted in fp32, plus shared experts.
    Under tensor parallelism each rank keeps a contiguous range of experts and a slice of the
    shared experts' width; the partial sums are all-reduced over the tp group."""

    def __init__(self, hidden: int, moe: MoESettings):
        super().__init__()
        self.experts = nn.ModuleList(GatedMLP(hidden, moe.moe_intermediate_size, moe.hidden_act)
                                     for _ in range(moe.n_routed_experts))
        self.gate = MoEGate(hidden, moe)
        if moe.n_shared_experts:
            self.shared_experts = GatedMLP(hidden, moe.moe_intermediate_size * moe.n_shared_experts,
                                           moe.hidden_act)
        self.local = range(moe.n_routed_experts)
        self.group = None
        self.shared_here = True

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        shape = hidden_states.shape
        x = hidden_states.reshape(-1, shape[-1])
        index, weights = self.gate(x)
        per_slot = x.new_zeros(*index.shape, x.shape[-1])
        if torch.compiler.is_compiling():
            # a compiled decode step (inference/compiled_decode.py) needs shapes that do not
            # depend on the routing: every local expert runs on the step's few tokens, and
            # each slot keeps its own expert's output (same sums, in the same slot order)
            for expert in self.local:
                chosen = (index == expert).unsqueeze(-1)
                per_slot = torch.where(chosen, self.experts[expert](x).unsqueeze(1), per_slot)
        else:
            for expert in self.local:
                token, slot = torch.nonzero(index == expert, as_tuple=True)
                if token.numel():
                    per_slot[token, slot] = self.experts[expert](x[token])
        y = (per_slot.float() * weights[..., None]).sum(dim=1).to(x.dtype)
        if hasattr(self, "shared_experts") and self.shared_here:
            y = y + self.shared_experts(x)
        if self.group is not None:
            torch.distributed.all_reduce(y, group=self.group)
        return y.view(shape)

    def shard(self, rank: int, size: int, group) -> dict:
        """Keep experts [rank*E/size, (rank+1)*E/size) and 1/size of the shared experts' width
        (all of it on rank 0 when size does not divide it); returns how each kept parameter
        that is split is sliced (names under this module), for a loader filling the module
        while it is still on the meta device."""
        from inference.safetensors_reader import Slicing
        from inference.tensor_parallel import local_slice

        count = len(self.experts)
        self.local = range(rank * count // size, (rank + 1) * count // size)
        for index in range(count):
            if index not in self.local:
                self.experts[index] = nn.Module()       # other ranks' experts: no weights here
        self.group = group
        slicings = {}
        shared = getattr(self, "shared_experts", None)
        if shared is not None:
            width = shared.gate_proj.out_features
            if width % size:
                self.shared_here = rank == 0
                return slicings
            for name, dim in (("gate_proj", 0), ("up_proj", 0), ("down_proj", 1)):
                linear = getattr(shared, name)
                weight, slicing = linear.weight, Slicing(dim)
                if weight.is_meta:
                    shape = list(weight.shape)
                    shape[dim] //= size
                    local = torch.empty(shape, dtype=weight.dtype, device="meta")
                else:
                    local = local_slice(weight.data, slicing, rank, size)
                linear.weight = nn.Parameter(local, requires_grad=False)
                if dim == 0:
                    linear.out_features //= size
                else:
                    linear.in_features //= size
                slicings[f"shared_experts.{name}.weight"] = slicing
        return slicings

    def other_ranks_experts(self) -> list[int]:
        """The experts whose weights this rank does not hold."""
        return [i for i in range(len(self.experts)) if i not in self.local]


def is_moe_layer(index: int, language: dict) -> bool:
    return (language["n_routed_experts"] is not None
            and index >= language["first_k_dense_replace"]
            and index % language["moe_layer_freq"] == 0)


class DeepseekVL2ForCausalLM(nn.Module):
    def __init__(self, vision_config, language_config, projector: dict,
                 original_language: dict | None = None):
        """`original_language`: the checkpoint's language_config with the original defaults
        filled in (which layers are MoE and how they route); without it, taken from
        `language_config` (a transformers DeepseekV2Config)."""
        super().__init__()
        from transformers import DeepseekV2ForCausalLM, SiglipVisionModel

        self.vision = SiglipVisionModel(vision_config)
        self.projector = MlpProjector(vision_config.hidden_size, language_config.hidden_size,
                                      projector["downsample_ratio"], projector.get("mlp_ratio", 1))
        n_embed = language_config.hidden_size
        self.image_newline = nn.Parameter(torch.zeros(n_embed))
        self.view_seperator = nn.Parameter(torch.zeros(n_embed))   # (sic) as in the checkpoint
        self.language = DeepseekV2ForCausalLM(language_config)
        if original_language is None:
            original_language = dict(ORIGINAL_LANGUAGE_DEFAULTS)
            original_language.update({k: getattr(language_config, k) for k in original_language
                                      if hasattr(language_config, k)})
        from transformers.models.deepseek_v2.modeling_deepseek_v2 import DeepseekV2MLP

        moe = MoESettings.from_original(original_language) \
            if original_language["n_routed_experts"] is not None else None
        for index, layer in enumerate(self.language.model.layers):
            if is_moe_layer(index, original_language):
                layer.mlp = DeepseekMoE(n_embed, moe)
            elif not isinstance(layer.mlp, DeepseekV2MLP):
                layer.mlp = DeepseekV2MLP(language_config)

    def image_embeddings(self, pixels: torch.Tensor, columns: int, rows: int) -> torch.Tensor:
        """Embeddings of one image's [global, tiles...] in the original token order."""
        features = self.projector(self.vision(pixel_values=pixels).last_hidden_state)
        side = int(math.isqrt(features.shape[1]))
        dim = features.shape[-1]
        features = features.reshape(-1, side, side, dim)
        newline = self.image_newline.to(features.dtype)
        global_rows = torch.cat([features[0], newline.expand(side, 1, dim)], dim=1)
        local = features[1:].reshape(rows, columns, side, side, dim).permute(0, 2, 1, 3, 4)
        local = local.reshape(rows * side, columns * side, dim)
        local_rows = torch.cat([local, newline.expand(rows * side, 1, dim)], dim=1)
        return torch.cat([global_rows.reshape(-1, dim),
                          self.view_seperator.to(features.dtype)[None],
                          local_rows.reshape(-1, dim)])
