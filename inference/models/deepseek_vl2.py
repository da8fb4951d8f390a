"""DeepSeek-VL2 (deepseek-ai/deepseek-vl2, -small): SigLIP-so400m vision, a 2x2-downsampling
MLP projector, dynamic tiling with a global view, and a DeepSeekMoE language model with
multi-head latent attention. Built from transformers' own SiglipVisionModel and
DeepseekV2/V3ForCausalLM; the original checkpoint (`model_type: deepseek_vl_v2`) is read as
JSON and tensors, its Python files never imported.

Image tokens, as the original processor lays them out: the global view's h rows of w tokens
plus a newline each, a view separator, then the local tiles as one (rows*h) x (cols*w) grid
with a newline per row. A request with more than two images (video frames) is not tiled: each
image is one padded global view plus one local view, as the original processor does
(`cropping=len(images) <= 2`). A question holding `<image>` gets the image there.

The mixture-of-experts layers are this module's own (`DeepseekMoE`), with the original
routing (softmax or sigmoid scores; `greedy`, `group_limited_greedy` or `noaux_tc` top-k with
e_score_correction_bias; weights normalised only when top_k > 1 and norm_topk_prob, scaled by
routed_scaling_factor) and the original tensor names, so that a checkpoint's experts load as
they are and tensor parallelism can split them by expert.
"""
from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import torch
import torch.nn.functional as F
from PIL import Image, ImageOps
from torch import nn

from inference import image_markers
from inference.fingerprints import decoded_media, hash_tensors, prompt_fields
from inference.generation import hf_generate_kwargs, resolve_generation, stop_ids, \
    token_ids_only
from inference.media import load_image
from inference.models.timm_siglip import convert_timm_siglip
from inference.models.base import ModelPathError, check_model_path, cut_at_eos, trim_padding
from inference.models.protocol import Generation, ModelAdapter, PreparedRequest
from inference.requests import Request
from inference.video_reading import frames_for_model

log = logging.getLogger(__name__)

ORIGINAL_MODEL_TYPE = "deepseek_vl_v2"
IMAGE_TOKEN = "<image>"


@dataclass
class TilingSpec:
    tile_size: int
    patch_size: int
    downsample: int
    candidates: list[tuple[int, int]]
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)

    @property
    def tokens_per_side(self) -> int:
        return math.ceil((self.tile_size // self.patch_size) / self.downsample)


def select_best_resolution(size: tuple[int, int], candidates) -> tuple[int, int]:
    """The candidate (width, height) keeping the most of the image, then wasting the least."""
    width, height = size
    best, best_effective, best_wasted = None, -1, float("inf")
    for cand_w, cand_h in candidates:
        scale = min(cand_w / width, cand_h / height)
        effective = min(int(width * scale) * int(height * scale), width * height)
        wasted = cand_w * cand_h - effective
        if effective > best_effective or (effective == best_effective and wasted < best_wasted):
            best, best_effective, best_wasted = (cand_w, cand_h), effective, wasted
    return best


def tile_image(image: Image.Image, spec: TilingSpec,
               cropping: bool = True) -> tuple[list[Image.Image], int, int]:
    """[global view, tiles row by row], tile columns, tile rows. Without cropping (more than
    two images in a request) the local view is the image padded to one tile."""
    fill = tuple(int(m * 255) for m in spec.mean)
    width, height = select_best_resolution(image.size, spec.candidates) if cropping \
        else (spec.tile_size, spec.tile_size)
    global_view = ImageOps.pad(image, (spec.tile_size, spec.tile_size), color=fill)
    canvas = ImageOps.pad(image, (width, height), color=fill)
    tiles = [canvas.crop((x, y, x + spec.tile_size, y + spec.tile_size))
             for y in range(0, height, spec.tile_size) for x in range(0, width, spec.tile_size)]
    return [global_view, *tiles], width // spec.tile_size, height // spec.tile_size


def image_token_count(spec: TilingSpec, columns: int, rows: int) -> int:
    side = spec.tokens_per_side
    return side * (side + 1) + 1 + (rows * side) * (columns * side + 1)


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


# -- original checkpoint layout ------------------------------------------------------------
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


def _language_config(raw: dict):
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


def load_original(folder: Path, dtype: torch.dtype, device="cpu", tp_mesh=None):
    """(model, tokenizer, tiling spec) of an original-layout DeepSeek-VL2 checkpoint. The model
    is built on the meta device directly in `dtype`, its language model split for tensor
    parallelism while empty (`shard_deepseek_language_model`: attention heads, dense MLPs,
    vocabulary and experts), and each rank reads only its slices and its own experts."""
    from transformers import AutoTokenizer, SiglipVisionConfig

    from inference.checkpoint_files import tensor_shapes
    from inference.sharded_loading import (converted_entries, default_dtype, empty_parameters,
                                           fill, move_buffers, parameters_on_meta)
    from inference.tensor_parallel import (TPGroup, apply_plan, shard_deepseek_language_model,
                                           vision_mlp_plan)

    raw = json.loads((folder / "config.json").read_text())
    if raw.get("model_type") != ORIGINAL_MODEL_TYPE:
        raise ModelPathError(f"{folder}: model_type is {raw.get('model_type')!r}, "
                             f"expected {ORIGINAL_MODEL_TYPE!r}")
    vision = raw["vision_config"]
    if vision.get("ignore_head", True) is not True or vision.get("class_token", False):
        raise ValueError("vision_config: only the original's ignore_head=true, "
                         "class_token=false SigLIP tower is supported")
    if raw.get("tile_tag", "2D") != "2D" or raw.get("global_view_pos", "head") != "head":
        raise ValueError(f"tile_tag={raw.get('tile_tag')!r}, global_view_pos="
                         f"{raw.get('global_view_pos')!r}: only '2D' with the global view at "
                         "the head is supported (as every released DeepSeek-VL2)")
    width, patch = int(vision["width"]), int(vision.get("patch_size", 16))
    vision_config = SiglipVisionConfig(
        hidden_size=width, num_hidden_layers=int(vision["layers"]),
        num_attention_heads=int(vision.get("heads", 16)),
        intermediate_size=int(width * float(vision.get("mlp_ratio", 4.0))),
        image_size=int(vision.get("image_size", 384)), patch_size=patch,
        hidden_act="gelu_pytorch_tanh", layer_norm_eps=1e-6,
        vision_use_head=False)
    projector = raw.get("projector_config", {})
    if projector.get("projector_type", "downsample_mlp_gelu") != "downsample_mlp_gelu" \
            or int(projector.get("depth", 2)) != 2 or projector.get("token_pooling"):
        raise ValueError(f"projector_config {projector}: only downsample_mlp_gelu of depth 2 "
                         "is supported")
    language = original_language_config(raw["language_config"])
    with default_dtype(dtype), parameters_on_meta():
        model = DeepseekVL2ForCausalLM(
            vision_config, _language_config(raw["language_config"]),
            {"downsample_ratio": int(projector.get("downsample_ratio", 2)),
             "mlp_ratio": int(projector.get("mlp_ratio", 1))}, language)
    fc1 = tensor_shapes(folder).get("vision.blocks.0.mlp.fc1.weight")
    if fc1 is not None and fc1[0] != vision_config.intermediate_size:
        raise ValueError(f"{folder}: vision mlp width {fc1[0]} does not match the config")
    slicings, skip = {}, []
    if tp_mesh is not None:
        slicings = {f"language.{name}": slicing for name, slicing in
                    shard_deepseek_language_model(model.language, tp_mesh).items()}
        tp = TPGroup.from_mesh(tp_mesh)
        slicings.update({f"vision.{name}": slicing for name, slicing in apply_plan(
            model.vision, vision_mlp_plan(model.vision, tp.size), tp).items()})
        skip = [f"{name}.experts.{index}." for name, module in model.named_modules()
                if isinstance(module, DeepseekMoE) for index in module.other_ranks_experts()]
    tp = TPGroup.from_mesh(tp_mesh)
    ignored: list[str] = []
    # the language model's tensors keep their names: each rank reads its slices of them
    # straight from safetensors (never other ranks' experts); the vision tower is converted
    entries = converted_entries(folder, lambda tensors: convert_state_dict(tensors, ignored),
                                lambda key: None if key.startswith("vision.") else key,
                                tuple(skip))
    unexpected = fill(model, entries, device, slicings, tp, source=str(folder),
                      progress=tp is None or tp.rank == 0, check_empty=False)
    missing = empty_parameters(model)
    if missing or unexpected:
        raise ModelPathError(f"{folder}: weights do not match the DeepSeek-VL2 layout "
                             f"(missing {missing[:5]}, unexpected {unexpected[:5]})")
    if ignored:
        log.warning("%s: %d tensors that the original DeepSeek-VL2 builds but never uses were "
                    "ignored: %s", folder, len(ignored), ", ".join(sorted(ignored)))
    move_buffers(model, device)
    model.loaded_sharded = True
    tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=False)
    spec = TilingSpec(int(vision.get("image_size", 384)), patch,
                      int(projector.get("downsample_ratio", 2)),
                      [tuple(c) for c in raw.get("candidate_resolutions", [[384, 384]])])
    model.ignored_tensors = sorted(ignored)
    return model.eval(), tokenizer, spec



@dataclass
class PreparedVL2(PreparedRequest):
    tiles: list = None    # per image: (pixel tensor [1 + tiles, 3, S, S], columns, rows)


@dataclass
class VL2Inputs:
    """A batch's inputs on the CPU: prompt token ids (image tokens expanded) and, per row,
    each image's (tile pixels, columns, rows)."""
    prompt_ids: list[list[int]]
    tiles: list[list[tuple[torch.Tensor, int, int]]]


@dataclass
class VL2TrainingInputs(VL2Inputs):
    """VL2Inputs whose rows end with the answer; labels: per row, -100 except the answer's."""
    labels: list[list[int]] = None


class DeepseekVL2Adapter(ModelAdapter):
    """Tiling and token layout as DeepSeek-VL2's processor; batched greedy generation over
    input embeddings, left-padded."""

    video_mode = "frames"
    supports_compiled_decode = True
    has_unused_parameters = True      # experts that get no token in a batch

    @staticmethod
    def check(model_cfg) -> None:
        check_model_path(model_cfg["model_path"])

    def __init__(self, model_cfg, device: str, dtype: torch.dtype, tp_mesh=None):
        folder = check_model_path(model_cfg["model_path"])
        self.cfg_path = folder
        self.model, self.tokenizer, self.spec = load_original(folder, dtype, device, tp_mesh)
        self.ignored_tensors = self.model.ignored_tensors
        # nothing of a generation_config.json reaches generate() but through model.generation
        self.generation = resolve_generation(model_cfg)
        language = self.model.language
        language.generation_config = token_ids_only(language.generation_config)
        vision_cfg = model_cfg["vision"]
        self.fps = float(vision_cfg["fps"])
        self.max_frames = int(vision_cfg["max_frames"])
        self.device, self.dtype = device, dtype
        self.image_token_id = self.tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None \
            else self.tokenizer.eos_token_id

    def _pixels(self, tiles: list[Image.Image]) -> torch.Tensor:
        import numpy as np

        array = torch.from_numpy(np.stack([np.asarray(t, dtype=np.float32) for t in tiles]))
        array = array.permute(0, 3, 1, 2) / 255.0
        mean = torch.tensor(self.spec.mean).view(1, 3, 1, 1)
        std = torch.tensor(self.spec.std).view(1, 3, 1, 1)
        return (array - mean) / std

    def prepare(self, request: Request) -> PreparedVL2:
        pieces, paths = self.placed_images(request)
        images = [load_image(p) for p in paths]
        frames = frames_for_model(request.video, self.fps, self.max_frames,
                                  request.video_spec) if request.video else None
        decoded = decoded_media(images, frames)
        images += frames or []
        placeholders = self._text(request, pieces).count(IMAGE_TOKEN)
        if placeholders and placeholders != len(images):
            raise ValueError(f"the question holds {placeholders} {IMAGE_TOKEN} placeholders for "
                             f"{len(images)} images")
        cropping = len(images) <= 2       # the original processor tiles only one or two images
        tiled = []
        for image in images:
            tiles, columns, rows = tile_image(image, self.spec, cropping)
            tiled.append((self._pixels(tiles), columns, rows))
        return PreparedVL2(request, images, None, decoded, pieces, tiled)

    @staticmethod
    def _text(request: Request, pieces) -> str:
        """The question; a marked one with "<image>\\n" at each mark (VLMEvalKit's
        DeepSeekVL2 wrapper writes an image so)."""
        if pieces is None:
            return request.text
        return image_markers.render(pieces, IMAGE_TOKEN + "\n")

    def _prompt_ids(self, prepared: PreparedVL2) -> list[int]:
        """<bos><|User|>: <image>\\n...{text}\\n\\n<|Assistant|>: with image tokens expanded;
        a question that holds <image> itself keeps the images where it puts them."""
        text = self._text(prepared.request, prepared.pieces)
        if IMAGE_TOKEN not in text:
            text = "".join(f"{IMAGE_TOKEN}\n" for _ in prepared.tiles) + text
        prompt = f"<|User|>: {text.strip()}\n\n<|Assistant|>:"
        if prepared.request.answer_start:     # its conversation writes "<|Assistant|>: ..."
            prompt += " " + prepared.request.answer_start
        ids = [self.tokenizer.bos_token_id] if self.tokenizer.bos_token_id is not None else []
        for index, piece in enumerate(prompt.split(IMAGE_TOKEN)):
            if index:
                _, columns, rows = prepared.tiles[index - 1]
                ids += [self.image_token_id] * image_token_count(self.spec, columns, rows)
            ids += self.tokenizer.encode(piece, add_special_tokens=False)
        return ids

    def build_inputs(self, batch: list[PreparedVL2]) -> VL2Inputs:
        """Prompt token ids and tile pixels (tiling ran in prepare())."""
        return VL2Inputs([self._prompt_ids(p) for p in batch], [p.tiles for p in batch])

    # -- training --------------------------------------------------------------------------
    def build_training_inputs(self, batch: list[PreparedVL2], answers) -> VL2TrainingInputs:
        """The original conversation format's assistant turn: `<|Assistant|>: {answer}` and
        the end-of-sentence token (the deepseek template's sep2)."""
        prompts, labels = [], []
        for prepared, answer in zip(batch, answers):
            prompt = self._prompt_ids(prepared)
            target = self.tokenizer.encode(f" {answer}", add_special_tokens=False) \
                + [self.tokenizer.eos_token_id]
            prompts.append(prompt + target)
            labels.append([-100] * len(prompt) + target)
        return VL2TrainingInputs(prompts, [p.tiles for p in batch], labels)

    def training_loss(self, inputs: VL2TrainingInputs):
        embeddings, mask = self._embed(self._tiles_on_device(inputs), inputs.prompt_ids)
        labels = torch.full(mask.shape, -100, dtype=torch.long, device=self.device)
        for row, row_labels in enumerate(inputs.labels):     # left-padded as the embeddings
            labels[row, mask.shape[1] - len(row_labels):] = torch.tensor(row_labels)
        # positions as generate() gives a left-padded prompt
        positions = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 0)
        loss = self.model.language(inputs_embeds=embeddings, attention_mask=mask,
                                   position_ids=positions, labels=labels).loss
        return loss, int((labels != -100).sum()), int(mask.sum())

    def language_parameters(self):
        return list(self.model.language.parameters())

    def save_checkpoint(self, folder) -> None:
        """The original deepseek-ai layout: this checkpoint's config.json and tokenizer files
        as they were, and model.safetensors under the original tensor names."""
        import shutil

        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        source = Path(self.cfg_path)
        for item in source.iterdir():
            if item.is_file() and not item.name.endswith((".safetensors", ".index.json",
                                                          ".bin", "manifest.json")):
                shutil.copy(item, folder / item.name)
        tensors = original_state_dict(self.model.state_dict())
        save_file({k: v.detach().to("cpu").contiguous() for k, v in tensors.items()},
                  str(folder / "model.safetensors"), metadata={"format": "pt"})

    def input_fingerprints(self, batch: list[PreparedVL2], inputs: VL2Inputs) -> list[dict]:
        """Prompt ids and the tile pixels of each row."""
        return [{**p.media(), **prompt_fields(ids, {self.image_token_id}),
                 "pixel_sha256": hash_tensors([pixels for pixels, _, _ in tiles])}
                for p, ids, tiles in zip(batch, inputs.prompt_ids, inputs.tiles)]

    def embed(self, inputs: VL2Inputs) -> tuple[torch.Tensor, torch.Tensor]:
        """Left-padded input embeddings with image features in place, and the mask."""
        return self._embed(self._tiles_on_device(inputs), inputs.prompt_ids)

    def _tiles_on_device(self, inputs: VL2Inputs) -> list[list]:
        return [[(pixels.to(self.device, self.dtype), columns, rows)
                 for pixels, columns, rows in row] for row in inputs.tiles]

    def _embed(self, tiles: list[list], prompt_ids: list[list[int]]
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """The model's part of building inputs (vision tower, projector, token embeddings)."""
        embed = self.model.language.get_input_embeddings()
        rows = []
        for row_tiles, prompt in zip(tiles, prompt_ids):
            ids = torch.tensor(prompt, device=self.device)
            embeddings = embed(ids)
            if row_tiles:
                features = torch.cat([self.model.image_embeddings(
                    pixels.to(self.device, self.dtype), columns, tile_rows)
                    for pixels, columns, tile_rows in row_tiles])
                embeddings = embeddings.clone()
                embeddings[ids == self.image_token_id] = features.to(embeddings.dtype)
            rows.append(embeddings)
        length = max(r.shape[0] for r in rows)
        dim = rows[0].shape[-1]
        padded = torch.zeros(len(rows), length, dim, dtype=rows[0].dtype, device=self.device)
        mask = torch.zeros(len(rows), length, dtype=torch.long, device=self.device)
        for i, row in enumerate(rows):
            padded[i, length - row.shape[0]:] = row
            mask[i, length - row.shape[0]:] = 1
        return padded, mask

    def _generate(self, batch, inputs: VL2Inputs, max_new_tokens, ignore_eos,
                  clock) -> Generation:
        # preprocessing ends with the tile pixels on the device; the vision tower runs in
        # _embed and counts as prefill
        tiles = self._tiles_on_device(inputs)
        clock.inputs_on_device()
        embeddings, mask = self._embed(tiles, inputs.prompt_ids)
        generation = hf_generate_kwargs(self.generation, max_new_tokens, ignore_eos,
                                        clock.logits_processors(), self.tokenizer.eos_token_id,
                                        self.decoding_copy(self.tokenizer))
        # eager or compiled (runtime.compile): the same generate() call, the same settings
        output = self.decode.run(self.model.language, clock, inputs_embeds=embeddings,
                                 attention_mask=mask, pad_token_id=self.pad_id, **generation)
        clock.finish()
        texts, counts, ids = [], [], []
        decoder = self.decoding_copy(self.tokenizer)
        for row in output.tolist():
            row = trim_padding(row, self.pad_id)
            counts.append(len(row))
            texts.append(decoder.decode(row, skip_special_tokens=False))
            ids.append(cut_at_eos(row, stop_ids(self.generation, self.tokenizer.eos_token_id)))
        text_len = max((sum(t != self.image_token_id for t in p) for p in inputs.prompt_ids),
                       default=0)
        return Generation(texts, counts, embeddings.shape[1], steps=int(output.shape[1]),
                          output_ids=ids, text_len=int(text_len),
                          top_logprobs=clock.row_logprobs(ids, int(output.shape[1])),
                          **clock.timings())
