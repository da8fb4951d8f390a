"""Adapters over transformers' image-text-to-text models: load a checkpoint, turn Requests
into model inputs with the model's own processor and chat template, generate greedily."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from inference import image_markers
from inference.fingerprints import batch_fingerprints
from inference.generation import hf_generate_kwargs, resolve_generation, stop_ids, \
    token_ids_only
from inference.media import load_image
from inference.models.protocol import Generation, ModelAdapter, PreparedRequest
from inference.requests import Request
from inference.video_reading import frames_for_model
from inference.sharded_loading import load_transformers_model
from inference.tensor_parallel import shard_model

log = logging.getLogger(__name__)


class ModelPathError(FileNotFoundError):
    """The model path is missing or is not a checkpoint folder."""


def check_model_path(path: str | None) -> Path:
    if not path:
        raise ModelPathError("model.model_path is not set")
    folder = Path(str(path)).expanduser()
    if not folder.is_dir():
        raise ModelPathError(f"model.model_path={path}: no such directory")
    if not (folder / "config.json").is_file():
        raise ModelPathError(f"model.model_path={path}: no config.json (not a checkpoint folder)")
    return folder


def trim_padding(ids: list[int], pad_id: int | None) -> list[int]:
    """Drop the pad tokens generate() appends after a row has finished."""
    end = len(ids)
    while end and ids[end - 1] == pad_id:
        end -= 1
    return ids[:end]


def cut_at_eos(ids: list[int], eos_ids) -> list[int]:
    """The generated ids before the first end-of-sequence token (which is left out, so that
    a checkpoint whose pad token is its EOS token records the same ids as one whose is not)."""
    stops = {eos_ids} if isinstance(eos_ids, int) else set(eos_ids or [])
    for index, token in enumerate(ids):
        if token in stops:
            return ids[:index]
    return list(ids)


class ImageTextAdapter(ModelAdapter):
    """Any checkpoint that AutoProcessor + AutoModelForImageTextToText can load.

    Families differ in how a video reaches the model: natively (`video_mode = "native"`) or
    as a sequence of images (`"frames"`).
    """

    video_mode = "frames"
    # what the model's template puts between the opened assistant turn and its answer
    answer_separator = ""
    # the chat template writes a newline after each image itself (InternVL's "<image>\n")
    newline_after_image = False
    supports_compiled_decode = True

    @staticmethod
    def check(model_cfg) -> None:
        """Fail early, before any model loads, when the checkpoint folder is unusable."""
        check_model_path(model_cfg["model_path"])

    def __init__(self, model_cfg, device: str, dtype: torch.dtype, tp_mesh=None):
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()

        self.cfg = model_cfg
        self.device = device
        path = check_model_path(model_cfg["model_path"])
        trust = bool(model_cfg["trust_remote_code"])
        if trust:
            log.warning("trust_remote_code is true: Python code shipped with %s will run", path)
        self.tp_mesh = tp_mesh
        self.processor, self.model = self._load(path, dtype, trust, model_cfg)
        self.model = self._place(self.model)
        self.generation = resolve_generation(model_cfg)
        self._keep_only_token_ids()
        self.tokenizer = getattr(self.processor, "tokenizer", self.processor)
        self.tokenizer.padding_side = "left"
        vision_cfg = model_cfg["vision"]
        self.fps = float(vision_cfg["fps"])
        self.max_frames = int(vision_cfg["max_frames"])
        self.processor_kwargs = self._processor_kwargs(vision_cfg)

    # -- hooks a family may change ------------------------------------------------------
    def _load(self, path: Path, dtype: torch.dtype, trust: bool, model_cfg):
        """(processor, model) from a checkpoint in transformers' layout: built empty, each
        rank reading only its slices of the weights (inference.sharded_loading)."""
        from transformers import AutoModelForImageTextToText

        processor = self._load_processor(path, trust)
        model = load_transformers_model(path, AutoModelForImageTextToText, dtype, self.device,
                                        self.tp_mesh, trust)
        model.loaded_sharded = True
        return processor, model

    def _load_processor(self, path: Path, trust: bool):
        """The checkpoint's processor (its tokenizer, chat template, image processor)."""
        from transformers import AutoProcessor

        return AutoProcessor.from_pretrained(path, trust_remote_code=trust)

    def _place(self, model):
        """The loaded model on this rank's device, in eval mode. A loader that builds the
        whole model (original layouts) is split on the host first, then only this rank's
        part moves to the device."""
        if not getattr(model, "loaded_sharded", False):
            shard_model(model, self.tp_mesh)
            model = model.to(self.device)
        return model.eval()

    def _keep_only_token_ids(self) -> None:
        """The checkpoint's generation_config.json reaches generate() only through
        model.generation (inference/generation.py): its token ids are kept, nothing else."""
        self.model.generation_config = token_ids_only(self.model.generation_config)

    def eos_token_id(self):
        """The checkpoint's end-of-sequence id(s), as its generation config says."""
        return self.model.generation_config.eos_token_id

    def _processor_kwargs(self, vision) -> dict[str, Any]:
        return {}

    def _content(self, prepared: PreparedRequest) -> list[dict]:
        marked = prepared.pieces is not None
        parts: list[dict] = [] if marked else [{"type": "image"} for _ in prepared.images]
        if prepared.video_frames is not None:
            if self.video_mode == "native":
                parts.append({"type": "video"})
            else:
                parts.extend({"type": "image"} for _ in prepared.video_frames)
        if marked:    # the images where the question's layout puts them
            return parts + image_markers.content_parts(prepared.pieces,
                                                       self.newline_after_image)
        parts.append({"type": "text", "text": prepared.request.text})
        return parts

    def estimate_input_length(self, request: Request) -> int:
        """A cheap guess of the model input length in tokens (no decoding), for bucketing
        batches by length: about 4 characters a token, plus a fixed share per image and per
        video frame. Families that know their vision token counts override it."""
        per_image = 256
        frames = self.max_frames if request.video else 0
        return len(request.text) // 4 + per_image * (len(request.images) + frames)

    def answer_begun(self, request: Request) -> str:
        """The answer's given start (`Request.answer_start`) as the template writes an
        assistant message after its role marker; "" when there is none."""
        return self.answer_separator + request.answer_start if request.answer_start else ""

    # -- the common path -----------------------------------------------------------------
    def prepare(self, request: Request) -> PreparedRequest:
        """Decode media (runs in background workers; raises MediaError on bad files)."""
        pieces, paths = self.placed_images(request)
        images = [load_image(p) for p in paths]
        frames = frames_for_model(request.video, self.fps, self.max_frames,
                                  request.video_spec) if request.video else None
        return PreparedRequest(request, images, frames, pieces=pieces)

    def build_inputs(self, batch: list[PreparedRequest]):
        """The processor's tensors on the CPU (chat template, resizing, tiling, tokenising,
        left padding); runs in a background worker while the previous batch generates."""
        return self._process([self._prompt_text(p) + self.answer_begun(p.request)
                              for p in batch], batch)

    def _prompt_text(self, prepared: PreparedRequest) -> str:
        messages = [{"role": "user", "content": self._content(prepared)}]
        return self.processor.apply_chat_template(messages, add_generation_prompt=True,
                                                  tokenize=False)

    def _process(self, texts: list[str], batch: list[PreparedRequest]):
        images, videos = [], []
        for prepared in batch:
            images.extend(prepared.images)
            if prepared.video_frames is not None:
                if self.video_mode == "native":
                    videos.append(prepared.video_frames)
                else:
                    images.extend(prepared.video_frames)
        kwargs = dict(self.processor_kwargs)
        if videos:
            kwargs.setdefault("videos_kwargs", {})["do_sample_frames"] = False
        return self.processor(text=texts, images=images or None, videos=videos or None,
                              padding=True, return_tensors="pt", **kwargs)

    # -- training ------------------------------------------------------------------------
    def _answer_suffix(self, prepared: PreparedRequest, answer: str) -> str:
        """What follows the evaluation prompt when the assistant gives `answer`, by the
        checkpoint's own chat template, up to and including the end-of-sequence token that
        generation stops at (a template's text after it, such as a newline, is never
        generated)."""
        prompt = self._prompt_text(prepared)
        messages = [{"role": "user", "content": self._content(prepared)},
                    {"role": "assistant", "content": answer}]
        full = self.processor.apply_chat_template(messages, tokenize=False)
        if not full.startswith(prompt):
            raise ValueError("the chat template renders a conversation with the answer that "
                             "does not start with the evaluation prompt; cannot train on it")
        suffix, eos = full[len(prompt):], self.tokenizer.eos_token
        if not eos or eos not in suffix:
            raise ValueError(f"the chat template ends the answer without the end-of-sequence "
                             f"token {eos!r}; cannot train the model to stop")
        return suffix[:suffix.index(eos) + len(eos)]

    def build_training_inputs(self, batch, answers):
        suffixes = [self._answer_suffix(p, a) for p, a in zip(batch, answers)]
        inputs = self._process([self._prompt_text(p) + s for p, s in zip(batch, suffixes)],
                               batch)
        ids = inputs["input_ids"]
        labels = torch.full_like(ids, -100)
        for row, suffix in enumerate(suffixes):
            # rows are left-padded, so each ends with its answer
            target = self.tokenizer(suffix, add_special_tokens=False)["input_ids"]
            if ids[row, -len(target):].tolist() != target:
                raise ValueError(f"the answer {answers[row]!r} tokenizes differently after the "
                                 "prompt than alone; cannot mark its tokens")
            labels[row, -len(target):] = ids[row, -len(target):]
        inputs["labels"] = labels
        return inputs

    def training_loss(self, inputs):
        inputs = inputs.to(self.device)
        if "pixel_values" in inputs and inputs["pixel_values"].is_floating_point():
            inputs["pixel_values"] = inputs["pixel_values"].to(self.model.dtype)
        positions = self._training_position_ids(inputs)
        if positions is not None:
            inputs["position_ids"] = positions
        loss = self.model(**inputs).loss
        mask = inputs.get("attention_mask")
        tokens = int(mask.sum()) if mask is not None else int(inputs["input_ids"].numel())
        return loss, int((inputs["labels"] != -100).sum()), tokens

    def _training_position_ids(self, inputs):
        """Positions as generate() gives a left-padded prompt (counted from each row's first
        real token), so the model is trained at the positions it answers at."""
        mask = inputs.get("attention_mask")
        if mask is None:
            return None
        return (mask.long().cumsum(-1) - 1).masked_fill(mask == 0, 0)

    def language_parameters(self):
        language = list(self.model.get_decoder().parameters())
        head = self.model.get_output_embeddings()
        return language + (list(head.parameters()) if head is not None else [])

    def save_checkpoint(self, folder) -> None:
        """transformers' layout: config, safetensors weights, generation config, and the
        processor's and tokenizer's files (chat template included)."""
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        self.model.save_pretrained(folder)
        self.processor.save_pretrained(folder)

    def _generate(self, batch, inputs, max_new_tokens, ignore_eos, clock) -> Generation:
        """Greedy generation for a batch (left-padded)."""
        inputs = inputs.to(self.device)
        if "pixel_values" in inputs and inputs["pixel_values"].is_floating_point():
            inputs["pixel_values"] = inputs["pixel_values"].to(self.model.dtype)
        clock.inputs_on_device()
        generation = hf_generate_kwargs(self.generation, max_new_tokens, ignore_eos,
                                        clock.logits_processors(),
                                        self.eos_token_id(),
                                        self.decoding_copy(self.tokenizer),
                                        inputs.get("attention_mask"))
        # eager or compiled (runtime.compile): the same generate() call, the same settings
        output = self.decode.run(self.model, clock, **inputs, **generation)
        clock.finish()
        prompt_len = inputs["input_ids"].shape[1]
        texts, counts, ids = [], [], []
        eos = stop_ids(self.generation, self.eos_token_id())
        decoder = self.decoding_copy(self.tokenizer)
        for row in output[:, prompt_len:].tolist():
            kept = self._trim_padding(row)
            counts.append(len(kept))
            texts.append(decoder.decode(kept, skip_special_tokens=False))
            ids.append(cut_at_eos(kept, eos))
        steps = int(output.shape[1] - prompt_len)
        return Generation(texts, counts, prompt_len, steps=steps, output_ids=ids,
                          text_len=self._text_len(inputs),
                          top_logprobs=clock.row_logprobs(ids, steps), **clock.timings())

    def _vision_token_ids(self) -> set[int]:
        config = getattr(self.model, "config", None)
        tokens = (getattr(config, name, None)
                  for name in ("image_token_id", "video_token_id", "image_token_index"))
        return {token for token in tokens if isinstance(token, int)}

    def _text_len(self, inputs) -> int:
        """Text tokens of the longest row: attended tokens that are not image/video tokens."""
        ids = inputs["input_ids"]
        mask = inputs.get("attention_mask")
        kept = mask.bool() if mask is not None else torch.ones_like(ids, dtype=torch.bool)
        for token in self._vision_token_ids():
            kept &= ids != token
        return int(kept.sum(dim=1).max()) if ids.numel() else 0

    def input_fingerprints(self, batch: list[PreparedRequest], inputs) -> list[dict]:
        """From the processor's batch: prompt ids per row and each row's pixel tensors."""
        native = self.video_mode == "native"
        images = [len(p.images) + (len(p.video_frames) if p.video_frames is not None
                                   and not native else 0) for p in batch]
        videos = [int(p.video_frames is not None and native) for p in batch]
        return batch_fingerprints([p.media() for p in batch], inputs, self._vision_token_ids(),
                                  images, videos)

    def _trim_padding(self, ids: list[int]) -> list[int]:
        return trim_padding(ids, self.tokenizer.pad_token_id)
