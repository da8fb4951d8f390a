"""DeepSeek-VL 7B checkpoints in the original deepseek-ai layout (`model_type:
multi_modality`, or `deepseekvl` as the seed harness tells users to edit it): SigLIP-L low-res
and SAM-B high-res towers, the hybrid MLP aligner and a Llama language model. Converted at load
time into transformers' DeepseekVLHybrid classes without importing the checkpoint's code.

The original config names the vision towers (`siglip_large_patch16_384`, `sam_b_downsample`)
instead of giving their sizes, so the sizes are read off the tensors: widths, depths, window
and global-attention layers; heads are width / 64 as in both published towers.

Inputs are built as the original VLChatProcessor and hybrid tower build them (see
`DeepseekVLProcessor`), not with transformers' DeepseekVLHybridProcessor, whose resizing,
padding colour and low-resolution path differ from the original's.
"""
from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from PIL import Image

from inference.checkpoint_files import tensor_shapes
from inference.models.timm_siglip import TIMM_SIGLIP_ACT, convert_timm_siglip

log = logging.getLogger(__name__)

ORIGINAL_MODEL_TYPES = {"multi_modality", "deepseekvl"}
HEAD_DIM = 64
IMAGE_TAG = "<image_placeholder>"
LOW, HIGH = "vision_model.vision_tower_low.vision_tower.", "vision_model.vision_tower_high.vision_tower."
# Created by the original HybridVisionTower constructor but never used in its forward pass.
UNUSED_PREFIXES = ("vision_model.high_layer_norm.", "vision_model.low_layer_norm.")

_RENAMES = [
    (r"^" + re.escape(HIGH) + r"pos_embed$", "model.high_res_vision_model.vision_encoder.pos_embed"),
    (r"^" + re.escape(HIGH) + r"patch_embed\.proj\.", "model.high_res_vision_model.vision_encoder.patch_embed.projection."),
    (r"^" + re.escape(HIGH) + r"blocks\.(\d+)\.norm(\d)\.", r"model.high_res_vision_model.vision_encoder.layers.\1.layer_norm\2."),
    (r"^" + re.escape(HIGH) + r"blocks\.(\d+)\.attn\.", r"model.high_res_vision_model.vision_encoder.layers.\1.attn."),
    (r"^" + re.escape(HIGH) + r"blocks\.(\d+)\.mlp\.", r"model.high_res_vision_model.vision_encoder.layers.\1.mlp."),
    (r"^" + re.escape(HIGH) + r"neck\.0\.", "model.high_res_vision_model.vision_encoder.neck.conv1."),
    (r"^" + re.escape(HIGH) + r"neck\.1\.", "model.high_res_vision_model.vision_encoder.neck.layer_norm1."),
    (r"^" + re.escape(HIGH) + r"neck\.2\.", "model.high_res_vision_model.vision_encoder.neck.conv2."),
    (r"^" + re.escape(HIGH) + r"neck\.3\.", "model.high_res_vision_model.vision_encoder.neck.layer_norm2."),
    (r"^" + re.escape(HIGH) + r"neck_hd\.0\.", "model.high_res_vision_neck.conv1."),
    (r"^" + re.escape(HIGH) + r"neck_hd\.1\.", "model.high_res_vision_neck.layer_norm1."),
    (r"^" + re.escape(HIGH) + r"neck_hd\.2\.", "model.high_res_vision_neck.conv2."),
    (r"^" + re.escape(HIGH) + r"neck_hd\.3\.", "model.high_res_vision_neck.layer_norm2."),
    (r"^" + re.escape(HIGH) + r"downsamples\.0\.", "model.high_res_vision_proj.conv1."),
    (r"^" + re.escape(HIGH) + r"downsamples\.1\.", "model.high_res_vision_proj.conv2."),
    (r"^" + re.escape(HIGH) + r"hd_alpha_downsamples$", "model.high_res_vision_alpha"),
    (r"^aligner\.layers\.1\.", "model.aligner.proj."),
    (r"^aligner\.low_up_proj\.", "model.aligner.vision_proj."),
    (r"^aligner\.high_up_proj\.", "model.aligner.high_res_vision_proj."),
    (r"^language_model\.model\.", "model.language_model."),
    (r"^language_model\.lm_head\.", "lm_head."),
]


def is_original_layout(folder: Path) -> bool:
    config = json.loads((folder / "config.json").read_text())
    return config.get("model_type") in ORIGINAL_MODEL_TYPES


def _rename(key: str) -> str:
    for pattern, replacement in _RENAMES:
        key = re.sub(pattern, replacement, key)
    return key


def _count_blocks(shapes: dict, prefix: str) -> int:
    return len({int(m.group(1)) for k in shapes
                if (m := re.match(re.escape(prefix) + r"blocks\.(\d+)\.", k))})


def convert_config(raw: dict, shapes: dict[str, tuple], image_token_id: int):
    from transformers import DeepseekVLHybridConfig

    params = raw["vision_config"].get("params", {})
    if raw["vision_config"].get("cls") != "HybridVisionTower":
        raise ValueError("only the hybrid (SigLIP + SAM) DeepSeek-VL 7B layout is supported; "
                         f"this checkpoint has vision tower {raw['vision_config'].get('cls')!r}")
    concat = params.get("concat_type", "tuple")
    if concat != "tuple":
        raise ValueError(f"vision_config.params.concat_type={concat!r}: only 'tuple' (the "
                         "published checkpoints' value) is supported")
    low_res_config, high_res_config = params.get("low_res_cfg", {}), params.get("high_res_cfg", {})
    low_width = shapes[LOW + "patch_embed.proj.weight"][0]
    low_patch = shapes[LOW + "patch_embed.proj.weight"][-1]
    vision = dict(model_type="siglip_vision_model", hidden_size=low_width,
                  intermediate_size=shapes[LOW + "blocks.0.mlp.fc1.weight"][0],
                  num_hidden_layers=_count_blocks(shapes, LOW),
                  num_attention_heads=max(1, low_width // HEAD_DIM),
                  image_size=int(low_res_config.get("image_size", 384)), patch_size=low_patch,
                  hidden_act=TIMM_SIGLIP_ACT, layer_norm_eps=1e-6, vision_use_head=False)
    high_width = shapes[HIGH + "patch_embed.proj.weight"][0]
    high_size = int(high_res_config.get("image_size", 1024))
    high_patch = shapes[HIGH + "patch_embed.proj.weight"][-1]
    grid = high_size // high_patch
    layers = _count_blocks(shapes, HIGH)
    rel = [shapes[f"{HIGH}blocks.{i}.attn.rel_pos_h"][0] for i in range(layers)]
    global_layers = [i for i, size in enumerate(rel) if size == 2 * grid - 1]
    windowed = [size for size in rel if size != 2 * grid - 1]
    high = dict(model_type="sam_vision_model", hidden_size=high_width,
                mlp_dim=shapes[HIGH + "blocks.0.mlp.lin1.weight"][0], num_hidden_layers=layers,
                num_attention_heads=max(1, high_width // HEAD_DIM), image_size=high_size,
                patch_size=high_patch, output_channels=shapes[HIGH + "neck.0.weight"][0],
                global_attn_indexes=global_layers,
                window_size=(windowed[0] + 1) // 2 if windowed else grid)
    language = {k: v for k, v in raw.get("language_config", {}).items()
                if k not in ("torch_dtype", "architectures", "_name_or_path")}
    language["model_type"] = "llama"
    return DeepseekVLHybridConfig(vision_config=vision, high_res_vision_config=high,
                                  text_config=language, image_token_id=image_token_id,
                                  tie_word_embeddings=False)


def renamed(key: str) -> str | None:
    """The model's name for a tensor that only needs a new name, else None (the SigLIP tower's
    tensors, unused or foreign ones: `convert_state_dict` handles those)."""
    if key.startswith(UNUSED_PREFIXES) or key.startswith(LOW):
        return None
    new = _rename(key)
    return new if new != key or key.startswith(("model.", "lm_head.")) else None


def convert_state_dict(tensors, ignored: list[str] | None = None
                       ) -> Iterator[tuple[str, torch.Tensor]]:
    """transformers' tensors, one at a time; names the original creates but never uses go to
    `ignored`, and a name that does not belong to the layout at all is an error naming it."""
    ignored = [] if ignored is None else ignored
    for key, tensor in tensors:
        if key.startswith(UNUSED_PREFIXES):
            ignored.append(key)
            continue
        siglip = convert_timm_siglip(key, tensor, LOW, "model.vision_model.")
        if siglip is not None:
            if not siglip:
                ignored.append(key)
            yield from siglip
            continue
        new = _rename(key)
        if new == key and not key.startswith(("model.", "lm_head.")):
            raise ValueError(f"unexpected tensor {key!r} in a DeepSeek-VL checkpoint")
        yield new, tensor


# The original VLChatProcessor's default system prompt and its `deepseek` sft format:
# "{system}\n\nUser: {content}\n\nAssistant:", the whole prompt stripped, content stripped.
SYSTEM_PROMPT = ("You are a helpful language and vision assistant. You are able to understand "
                 "the visual content that the user provides, and assist the user with a "
                 "variety of tasks using natural language.")


class HybridImageProcessor:
    """Pixels as the original pipeline makes them: the image processor resizes the longer side
    to `image_size` (PIL bicubic, the shorter side truncated, at least `min_size`), pads it to a
    square with `background`, scales to [0, 1] (normalising only when `do_normalize`); the
    hybrid tower then feeds that to SAM (normalised with the high-res mean/std) and, resized
    bilinear with antialiasing to the low-res size, to SigLIP (low-res mean/std)."""

    def __init__(self, preprocessor: dict, low_res_config: dict, high_res_config: dict):
        self.size = int(preprocessor.get("image_size", high_res_config.get("image_size", 1024)))
        self.min_size = int(preprocessor.get("min_size", 14))
        self.rescale = float(preprocessor.get("rescale_factor", 1 / 255))
        self.do_normalize = bool(preprocessor.get("do_normalize", True))
        self.mean = preprocessor.get("image_mean")
        self.std = preprocessor.get("image_std")
        self.background = (tuple(int(x * 255) for x in self.mean) if self.mean is not None
                           else (127, 127, 127))
        self.low_size = int(low_res_config.get("image_size", 384))
        self.high_norm = self._norm(high_res_config)
        self.low_norm = self._norm(low_res_config)

    @staticmethod
    def _norm(cfg):
        if cfg.get("pixel_mean") is None or cfg.get("pixel_std") is None:
            return None
        return (torch.tensor(cfg["pixel_mean"], dtype=torch.float32).view(3, 1, 1),
                torch.tensor(cfg["pixel_std"], dtype=torch.float32).view(3, 1, 1))

    def square(self, image: Image.Image) -> np.ndarray:
        width, height = image.size
        longest = max(width, height)
        new_h = max(int(height / longest * self.size), self.min_size)
        new_w = max(int(width / longest * self.size), self.min_size)
        image = image.resize((new_w, new_h), Image.Resampling.BICUBIC)
        if new_w != new_h:
            side = max(new_w, new_h)
            canvas = Image.new(image.mode, (side, side), self.background)
            canvas.paste(image, ((side - new_w) // 2, (side - new_h) // 2))
            image = canvas
        return np.asarray(image).transpose(2, 0, 1)

    def __call__(self, images: list[Image.Image]) -> tuple[torch.Tensor, torch.Tensor]:
        """(low-res pixels for SigLIP, high-res pixels for SAM), both [n, 3, size, size]."""
        batch = []
        for image in images:
            array = (self.square(image.convert("RGB")) * self.rescale).astype(np.float32)
            if self.do_normalize and self.mean is not None:
                mean = np.asarray(self.mean, dtype=np.float32).reshape(3, 1, 1)
                std = np.asarray(self.std, dtype=np.float32).reshape(3, 1, 1)
                array = ((array - mean) / std).astype(np.float32)
            batch.append(torch.from_numpy(array))
        pixels = torch.stack(batch)
        low = torch.nn.functional.interpolate(pixels, size=(self.low_size, self.low_size),
                                              mode="bilinear", align_corners=False,
                                              antialias=True)
        return self._apply(low, self.low_norm), self._apply(pixels, self.high_norm)

    @staticmethod
    def _apply(pixels, norm):
        return pixels if norm is None else (pixels - norm[0]) / norm[1]


class DeepseekVLProcessor:
    """Prompts and model inputs as the original VLChatProcessor builds them: the `deepseek`
    sft format with the default system prompt, BOS from the tokenizer, every image tag
    expanded into `num_image_tokens` image tokens, batches left-padded."""

    def __init__(self, tokenizer, image_processor: HybridImageProcessor,
                 num_image_tokens: int, image_tag: str = IMAGE_TAG,
                 system_prompt: str = SYSTEM_PROMPT):
        self.tokenizer = tokenizer
        self.image_processor = image_processor
        self.num_image_tokens = num_image_tokens
        self.image_tag = image_tag
        self.image_token_id = tokenizer.convert_tokens_to_ids(image_tag)
        self.system_prompt = system_prompt

    def apply_chat_template(self, messages, add_generation_prompt=True, tokenize=False, **_):
        prompt = self.system_prompt + "\n\n" if self.system_prompt else ""
        for message in messages:
            content = message["content"]
            if not isinstance(content, str):
                content = "".join(self.image_tag if part["type"] == "image" else part["text"]
                                  for part in content)
            role = "User" if message["role"] == "user" else "Assistant"
            prompt += f"{role}: {content.strip()}" + (
                "\n\n" if role == "User" else "<｜end▁of▁sentence｜>")
        if add_generation_prompt:
            prompt += "Assistant:"
        return prompt.strip()

    def __call__(self, text: list[str], images=None, padding=True, return_tensors="pt", **_):
        from transformers import BatchFeature

        images = list(images or [])
        rows = []
        for prompt in text:
            ids = []
            for token in self.tokenizer(prompt, add_special_tokens=True)["input_ids"]:
                ids.extend([token] * self.num_image_tokens if token == self.image_token_id
                           else [token])
            rows.append(ids)
        tags = sum(row.count(self.image_token_id) for row in rows) // self.num_image_tokens
        if tags != len(images):
            raise ValueError(f"the prompts hold {tags} {self.image_tag} tags "
                             f"for {len(images)} images")
        pad = self.tokenizer.pad_token_id
        pad = self.tokenizer.eos_token_id if pad is None else pad
        width = max(len(row) for row in rows)
        input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
        attention = torch.zeros((len(rows), width), dtype=torch.long)
        for index, row in enumerate(rows):      # left padding, as the original batchify
            if row:
                input_ids[index, -len(row):] = torch.tensor(row)
                attention[index, -len(row):] = 1
        data = {"input_ids": input_ids, "attention_mask": attention}
        if images:
            data["pixel_values"], data["high_res_pixel_values"] = self.image_processor(images)
        return BatchFeature(data=data, tensor_type=return_tensors)


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def load_original(folder: Path, dtype: torch.dtype, device="cpu", tp_mesh=None):
    """(processor, model) for an original-layout DeepSeek-VL 7B checkpoint: the config is made
    from the tensors' shapes (file headers, no tensor read), the model built on the meta device
    in `dtype`, split for tensor parallelism while empty and filled tensor by tensor."""
    from transformers import AutoTokenizer, DeepseekVLHybridForConditionalGeneration

    from inference.sharded_loading import (converted_entries, empty_parameters, fill,
                                           move_buffers, parameters_on_meta)
    from inference.tensor_parallel import TPGroup, shard_model

    raw = json.loads((folder / "config.json").read_text())
    processor_config = _read_json(folder / "processor_config.json")
    image_tag = processor_config.get("image_tag", IMAGE_TAG)
    tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=False)
    if tokenizer.convert_tokens_to_ids(image_tag) in (None, tokenizer.unk_token_id):
        tokenizer.add_special_tokens({"additional_special_tokens": [image_tag]})
    if tokenizer.pad_token is None:     # the original pads (and stops) with EOS
        tokenizer.pad_token = tokenizer.eos_token
    if processor_config.get("add_special_token"):
        raise ValueError(f"{folder}/processor_config.json: add_special_token=true is not supported")
    if processor_config.get("sft_format", "deepseek") != "deepseek":
        raise ValueError(f"{folder}/processor_config.json: sft_format="
                         f"{processor_config['sft_format']!r} is not supported (only 'deepseek')")
    config = convert_config(raw, tensor_shapes(folder), tokenizer.convert_tokens_to_ids(image_tag))
    with parameters_on_meta():
        model = DeepseekVLHybridForConditionalGeneration._from_config(config, dtype=dtype)
    slicings = shard_model(model, tp_mesh)
    tp = TPGroup.from_mesh(tp_mesh)
    ignored: list[str] = []
    # renamed tensors are read slice by slice as this rank needs them; SigLIP's converted
    entries = converted_entries(folder, lambda tensors: convert_state_dict(tensors, ignored),
                                renamed)
    unexpected = fill(model, entries, device, slicings, tp, source=str(folder),
                      progress=tp is None or tp.rank == 0, check_empty=False)
    missing = empty_parameters(model)
    if missing or unexpected:
        raise ValueError(f"{folder}: weights do not match the DeepSeek-VL layout "
                         f"(missing {missing[:5]}, unexpected {unexpected[:5]})")
    if ignored:
        log.warning("%s: %d tensors the original model creates but never uses are ignored: %s",
                 folder, len(ignored), ", ".join(sorted(ignored)))
    move_buffers(model, device)
    model.loaded_sharded = True
    # the original generates with the tokenizer's BOS/EOS (the Llama config's defaults differ)
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    params = raw["vision_config"]["params"]
    images = HybridImageProcessor(_read_json(folder / "preprocessor_config.json"),
                                  params.get("low_res_cfg", {}), params.get("high_res_cfg", {}))
    grid = config.vision_config.image_size // config.vision_config.patch_size
    tokens = int(processor_config.get("num_image_tokens", grid * grid))
    processor = DeepseekVLProcessor(tokenizer, images, tokens, image_tag)
    return processor, model.eval()
