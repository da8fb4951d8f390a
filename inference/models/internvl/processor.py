"""What an original-layout checkpoint's config.json (and the model yaml) says about prompts and
pixels, and the processor that builds prompt, token ids and pixels as its `chat()` /
`batch_chat()` build them."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from inference.models.internvl.conversation import TEMPLATES, Template, expand_images, \
    question_with_images
from inference.models.internvl.tiles import image_tiles, tiles_to_tensor
from inference.models.internvl.tokenizer import tokenize_batch


@dataclass
class OriginalSettings:
    """What config.json (and the model yaml) says about prompts and pixels."""
    template: Template
    system_message: str | None
    tile_size: int
    tokens_per_tile: int
    dynamic: bool
    thumbnail: bool
    min_tiles: int
    max_tiles: int
    ps_version: str

    @classmethod
    def read(cls, raw: dict, model_cfg) -> "OriginalSettings":
        vision = raw.get("vision_config") or {}
        name = raw.get("template")
        if name not in TEMPLATES:
            raise ValueError(f"config.json template={name!r}: not supported "
                             f"(supported: {', '.join(TEMPLATES)})")
        ps_version = raw.get("ps_version", "v1")
        if ps_version not in ("v1", "v2"):
            raise ValueError(f"config.json ps_version={ps_version!r}: only v1 and v2 exist")
        image_size = int(vision.get("image_size", 224))
        size = int(raw.get("force_image_size") or image_size)
        patch = int(vision.get("patch_size", 14))
        if size != image_size:
            raise ValueError(f"config.json force_image_size={size} differs from vision_config."
                             f"image_size={image_size}: position-embedding interpolation is "
                             "not supported")
        if size % patch:
            raise ValueError(f"config.json force_image_size={size} is not a multiple of "
                             f"vision_config.patch_size={patch}")
        ratio = float(raw.get("downsample_ratio", 0.5))
        scale = round(1 / ratio)
        if abs(scale * ratio - 1) > 1e-9 or (size // patch) % scale:
            raise ValueError(f"config.json downsample_ratio={ratio}: 1/ratio must be an integer "
                             f"that divides the {size // patch}-patch grid")
        if raw.get("pad2square"):
            raise ValueError("config.json pad2square=true is not supported")
        for key in ("use_backbone_lora", "use_llm_lora"):
            if raw.get(key):
                raise ValueError(f"config.json {key}={raw[key]}: merge the LoRA weights first")
        llm_arch = ((raw.get("llm_config") or {}).get("architectures") or [""])[0]
        if llm_arch.startswith("Phi3"):
            raise ValueError(f"config.json llm_config.architectures={llm_arch!r}: Phi-3 "
                             "language models are not supported")
        vision_cfg = model_cfg.get("vision") or {}
        max_tiles = vision_cfg.get("max_num")
        max_tiles = int(raw.get("max_dynamic_patch", 6) if max_tiles is None else max_tiles)
        min_tiles = int(raw.get("min_dynamic_patch", 1))
        if not 1 <= min_tiles <= max_tiles:
            raise ValueError(f"min_dynamic_patch={min_tiles} and max tiles {max_tiles} "
                             "(config.json max_dynamic_patch or model.vision.max_num) "
                             "leave no tiling")
        system = model_cfg.get("system_message")
        if system is None and "system_message" in raw:     # the checkpoint's own override
            system = raw["system_message"]
        return cls(TEMPLATES[name], system, size,
                   int((size // patch) ** 2 * ratio ** 2),
                   bool(raw.get("dynamic_image_size", False)),
                   bool(raw.get("use_thumbnail", False)), min_tiles, max_tiles, ps_version)

    def pixels(self, image, max_tiles: int | None = None) -> torch.Tensor:
        tiles = image_tiles(image, self.tile_size, self.dynamic, self.min_tiles,
                            self.max_tiles if max_tiles is None else max_tiles, self.thumbnail)
        return tiles_to_tensor(tiles)


class OriginalProcessor:
    """Prompt, token ids and pixels for an original-layout checkpoint, built as its `chat()` /
    `batch_chat()` build them."""

    def __init__(self, tokenizer, settings: OriginalSettings):
        self.tokenizer = tokenizer
        self.settings = settings

    def prompt(self, question: str, tiles_per_image: list[int], video_frames: int = 0) -> str:
        question = question_with_images(question, len(tiles_per_image) - video_frames,
                                        video_frames)
        prompt = self.settings.template.prompt(question, self.settings.system_message)
        return expand_images(prompt, tiles_per_image, self.settings.tokens_per_tile)

    def __call__(self, items: list[tuple]):
        """items: (question, images, video frames or None[, the answer's given start]) per
        row; the answer's start follows the template's assistant role."""
        from transformers import BatchFeature

        prompts, pixels = [], []
        for question, images, frames, *answer_start in items:
            tiles = [self.settings.pixels(image) for image in images]
            # video frames: one tile each, as InternVL's video example loads them
            tiles += [self.settings.pixels(frame, max_tiles=1) for frame in frames or []]
            pixels.extend(tiles)
            prompts.append(self.prompt(question, [t.shape[0] for t in tiles], len(frames or []))
                           + "".join(answer_start))
        input_ids, attention_mask = tokenize_batch(self.tokenizer, prompts)
        data = {"input_ids": input_ids, "attention_mask": attention_mask}
        if pixels:
            data["pixel_values"] = torch.cat(pixels)
        return BatchFeature(data)

