"""DeepSeek-VL2 (deepseek-ai/deepseek-vl2, -small): SigLIP-so400m vision, a 2x2-downsampling
MLP projector, dynamic tiling with a global view, and a DeepSeekMoE language model with
multi-head latent attention. Built from transformers' own SiglipVisionModel and
DeepseekV2/V3ForCausalLM; the original checkpoint (`model_type: deepseek_vl_v2`) is read as
JSON and tensors, its Python files never imported.

Image tokens, as the original processor lays them out: the global view's h rows of w tokens
plus a newline each, a view separator, then the local tiles as one (rows*h) x (cols*w) grid
with a newline per row.
"""
from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image, ImageOps
from torch import nn

from inference.checkpoint_files import iter_tensors
from inference.media import load_image, load_video_frames
from inference.models.timm_siglip import convert_timm_siglip
from inference.models.base import (FirstTokenClock, Generation, ModelPathError, PreparedRequest,
                                   check_model_path, cut_at_eos, trim_padding)
from inference.tensor_parallel import shard_language_model
from inference.requests import Request

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


def tile_image(image: Image.Image, spec: TilingSpec) -> tuple[list[Image.Image], int, int]:
    """[global view, tiles row by row], tile columns, tile rows."""
    fill = tuple(int(m * 255) for m in spec.mean)
    width, height = select_best_resolution(image.size, spec.candidates)
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


class DeepseekVL2ForCausalLM(nn.Module):
    def __init__(self, vision_config, language_config, projector: dict):
        super().__init__()
        from transformers import (DeepseekV2ForCausalLM, DeepseekV3ForCausalLM,
                                  SiglipVisionModel)

        self.vision = SiglipVisionModel(vision_config)
        self.projector = MlpProjector(vision_config.hidden_size, language_config.hidden_size,
                                      projector["downsample_ratio"], projector.get("mlp_ratio", 1))
        n_embed = language_config.hidden_size
        self.image_newline = nn.Parameter(torch.zeros(n_embed))
        self.view_seperator = nn.Parameter(torch.zeros(n_embed))   # (sic) as in the checkpoint
        language_class = DeepseekV3ForCausalLM if language_config.model_type == "deepseek_v3" \
            else DeepseekV2ForCausalLM
        self.language = language_class(language_config)

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
def convert_state_dict(tensors) -> dict[str, torch.Tensor]:
    """Original names -> this module's: timm SigLIP -> transformers' SigLIP, per-expert
    weights -> transformers' stacked expert tensors."""
    converted: dict[str, torch.Tensor] = {}
    experts: dict[str, dict[int, dict[str, torch.Tensor]]] = {}
    for key, tensor in tensors:
        siglip = convert_timm_siglip(key, tensor, "vision.", "vision.")
        if siglip is not None:
            converted.update(siglip)
            continue
        expert = re.match(r"^(language\.model\.layers\.\d+\.mlp\.experts)\.(\d+)\.(\w+)\.weight$", key)
        if expert:
            experts.setdefault(expert.group(1), {}).setdefault(int(expert.group(2)), {})[
                expert.group(3)] = tensor
        else:
            converted[key] = tensor
    for prefix, by_index in experts.items():
        ordered = [by_index[i] for i in sorted(by_index)]
        converted[f"{prefix}.gate_up_proj"] = torch.stack(
            [torch.cat([e["gate_proj"], e["up_proj"]], dim=0) for e in ordered])
        converted[f"{prefix}.down_proj"] = torch.stack([e["down_proj"] for e in ordered])
    return converted


def _language_config(raw: dict):
    from transformers import DeepseekV2Config, DeepseekV3Config

    language = {k: v for k, v in raw.items()
                if k not in ("architectures", "auto_map", "torch_dtype", "_name_or_path",
                             "model_type", "use_mla", "rope_scaling", "rope_theta")}
    rope = {"rope_type": "default", "rope_theta": float(raw.get("rope_theta", 10000.0))}
    if raw.get("rope_scaling"):
        scaling = dict(raw["rope_scaling"])
        rope.update(scaling, rope_type=scaling.pop("type", scaling.get("rope_type", "default")))
    if raw.get("use_mla") is False:
        raise ValueError("DeepSeek-VL2 checkpoints without multi-head latent attention "
                         "(use_mla: false, deepseek-vl2-tiny) are not supported")
    if raw.get("topk_method") == "noaux_tc" or raw.get("scoring_func") == "sigmoid":
        return DeepseekV3Config(**language, rope_parameters=rope)
    return DeepseekV2Config(**language, rope_parameters=rope)


def load_original(folder: Path, dtype: torch.dtype):
    """(model, tokenizer, tiling spec) of an original-layout DeepSeek-VL2 checkpoint."""
    from transformers import AutoTokenizer, SiglipVisionConfig

    raw = json.loads((folder / "config.json").read_text())
    if raw.get("model_type") != ORIGINAL_MODEL_TYPE:
        raise ModelPathError(f"{folder}: model_type is {raw.get('model_type')!r}, "
                             f"expected {ORIGINAL_MODEL_TYPE!r}")
    vision = raw["vision_config"]
    width, patch = int(vision["width"]), int(vision.get("patch_size", 14))
    vision_config = SiglipVisionConfig(
        hidden_size=width, num_hidden_layers=int(vision["layers"]),
        num_attention_heads=int(vision.get("heads", 16)),
        intermediate_size=int(round(width * float(vision.get("mlp_ratio", 4.0)))),
        image_size=int(vision.get("image_size", 384)), patch_size=patch,
        hidden_act="gelu_pytorch_tanh", layer_norm_eps=1e-6,
        vision_use_head=False)
    projector = raw.get("projector_config", {})
    if projector.get("projector_type", "downsample_mlp_gelu") != "downsample_mlp_gelu":
        raise ValueError(f"projector {projector.get('projector_type')!r} is not supported")
    model = DeepseekVL2ForCausalLM(vision_config, _language_config(raw["language_config"]),
                                   {"downsample_ratio": int(projector.get("downsample_ratio", 2)),
                                    "mlp_ratio": int(projector.get("mlp_ratio", 1))})
    tensors = dict(iter_tensors(folder))
    fc1 = tensors.get("vision.blocks.0.mlp.fc1.weight")
    if fc1 is not None and fc1.shape[0] != vision_config.intermediate_size:
        raise ValueError(f"{folder}: vision mlp width {fc1.shape[0]} does not match the config")
    missing, unexpected = model.load_state_dict(convert_state_dict(tensors.items()), strict=False)
    if missing or unexpected:
        raise ModelPathError(f"{folder}: weights do not match the DeepSeek-VL2 layout "
                             f"(missing {missing[:5]}, unexpected {unexpected[:5]})")
    tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=False)
    spec = TilingSpec(int(vision.get("image_size", 384)), patch,
                      int(projector.get("downsample_ratio", 2)),
                      [tuple(c) for c in raw.get("candidate_resolutions", [[384, 384]])])
    return model.to(dtype).eval(), tokenizer, spec


@dataclass
class PreparedVL2(PreparedRequest):
    tiles: list = None    # per image: (pixel tensor [1 + tiles, 3, S, S], columns, rows)


class DeepseekVL2Adapter:
    """Tiling and token layout as DeepSeek-VL2's processor; batched greedy generation over
    input embeddings, left-padded."""

    video_mode = "frames"

    @staticmethod
    def check(model_cfg) -> None:
        check_model_path(model_cfg.get("model_path"))

    def __init__(self, model_cfg, device: str, dtype: torch.dtype, tp_mesh=None):
        folder = check_model_path(model_cfg.get("model_path"))
        self.model, self.tokenizer, self.spec = load_original(folder, dtype)
        self.model = self.model.to(device)
        if tp_mesh is not None:
            shard_language_model(self.model.language, tp_mesh)
        vision = model_cfg.get("vision") or {}
        self.fps = float(vision.get("fps", 0.5))
        self.max_frames = int(vision.get("max_frames", 4))
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
        images = [load_image(p) for p in request.images]
        if request.video:
            images += load_video_frames(request.video, self.fps, self.max_frames)
        tiled = []
        for image in images:
            tiles, columns, rows = tile_image(image, self.spec)
            tiled.append((self._pixels(tiles), columns, rows))
        return PreparedVL2(request, images, None, tiled)

    def _prompt_ids(self, prepared: PreparedVL2) -> list[int]:
        """<bos><|User|>: <image>\\n...{text}\\n\\n<|Assistant|>: with image tokens expanded."""
        text = "".join(f"{IMAGE_TOKEN}\n" for _ in prepared.tiles) + prepared.request.text
        prompt = f"<|User|>: {text}\n\n<|Assistant|>:"
        ids = [self.tokenizer.bos_token_id] if self.tokenizer.bos_token_id is not None else []
        for index, piece in enumerate(prompt.split(IMAGE_TOKEN)):
            if index:
                _, columns, rows = prepared.tiles[index - 1]
                ids += [self.image_token_id] * image_token_count(self.spec, columns, rows)
            ids += self.tokenizer.encode(piece, add_special_tokens=False)
        return ids

    def build_inputs(self, batch: list[PreparedVL2]) -> tuple[torch.Tensor, torch.Tensor]:
        """Left-padded input embeddings with image features in place, and the mask."""
        embed = self.model.language.get_input_embeddings()
        rows = []
        for prepared in batch:
            ids = torch.tensor(self._prompt_ids(prepared), device=self.device)
            embeddings = embed(ids)
            if prepared.tiles:
                features = torch.cat([self.model.image_embeddings(
                    pixels.to(self.device, self.dtype), columns, tile_rows)
                    for pixels, columns, tile_rows in prepared.tiles])
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

    @torch.inference_mode()
    def generate(self, batch: list[PreparedVL2], max_new_tokens: int,
                 ignore_eos: bool = False) -> Generation:
        start = time.perf_counter()
        embeddings, mask = self.build_inputs(batch)
        first_token = FirstTokenClock()
        generation = dict(max_new_tokens=max_new_tokens, do_sample=False, num_beams=1,
                          pad_token_id=self.pad_id, eos_token_id=self.tokenizer.eos_token_id,
                          synced_gpus=False, logits_processor=[first_token])
        if ignore_eos:
            generation.update(min_new_tokens=max_new_tokens)
        output = self.model.language.generate(inputs_embeds=embeddings, attention_mask=mask,
                                              **generation)
        end = time.perf_counter()
        texts, counts, ids = [], [], []
        for row in output.tolist():
            row = trim_padding(row, self.pad_id)
            counts.append(len(row))
            texts.append(self.tokenizer.decode(row, skip_special_tokens=False))
            ids.append(cut_at_eos(row, self.tokenizer.eos_token_id))
        return Generation(texts, counts, embeddings.shape[1], end - start,
                          (first_token.time or end) - start, int(output.shape[1]), ids)
