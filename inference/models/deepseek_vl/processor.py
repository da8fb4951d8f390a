"""Pixels and prompt ids for an original-layout DeepSeek-VL checkpoint, as the original
VLChatProcessor and hybrid vision tower build them."""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image

IMAGE_TAG = "<image_placeholder>"

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
