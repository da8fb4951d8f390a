"""The DeepSeek-VL2 adapter: tiles and prompt token ids as the original processor builds
them, batched greedy generation over input embeddings (image features in place), training
on the original conversation format, checkpoints saved in the original layout."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image

from inference import image_markers
from inference.fingerprints import decoded_media, hash_tensors, prompt_fields
from inference.generation import hf_generate_kwargs, resolve_generation, stop_ids, \
    token_ids_only
from inference.media import load_image
from inference.models.base import check_model_path, cut_at_eos, trim_padding
from inference.models.deepseek_vl2.convert import original_state_dict
from inference.models.deepseek_vl2.loader import load_original
from inference.models.deepseek_vl2.processor import IMAGE_TOKEN, image_token_count, tile_image
from inference.models.protocol import Generation, ModelAdapter, PreparedRequest
from inference.requests import Request
from inference.video_reading import frames_for_model


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
