"""The VLMo adapter: VQA v2 as classification over the answer labels, one forward per batch
(the "generated" text is the top answer label)."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from inference import image_markers
from inference.fingerprints import decoded_media, hash_tensors, prompt_fields
from inference.generation import resolve_generation
from inference.media import load_image
from inference.models.base import ModelPathError
from inference.models.protocol import Generation, ModelAdapter, PreparedRequest
from inference.models.vlmo.checkpoint import bert_uncased_tokenizer, checkpoint_files, \
    load_model
from inference.requests import Request


@dataclass
class VLMoInputs:
    text_ids: torch.Tensor
    text_mask: torch.Tensor
    pixels: torch.Tensor



class VLMoAdapter(ModelAdapter):
    """Classification, not generation: the "generated" text is the top answer label (so no
    model.generation setting applies: check_generation refuses any but the neutral ones)."""

    video_mode = "frames"
    classifier = True
    # one image a question: the first one shown, the texts joined by newlines
    image_layout = staticmethod(image_markers.first_in_front)

    @staticmethod
    def check(model_cfg) -> None:
        checkpoint_files(model_cfg)

    def __init__(self, model_cfg, device: str, dtype: torch.dtype, tp_mesh=None):
        if tp_mesh is not None:
            raise ValueError("runtime.tp > 1 is not supported for VLMo (a base-size model)")
        files = checkpoint_files(model_cfg)
        vlmo_cfg = model_cfg["vlmo"]       # conf/model/vlmo.yaml
        self.image_size = int(vlmo_cfg["image_size"])
        self.max_text_len = int(vlmo_cfg["max_text_len"])
        self.model, self.config, self.answers = load_model(
            files, model_cfg, device, dtype, self.image_size, self.max_text_len)
        self.tokenizer = bert_uncased_tokenizer(files["vocab_file"])
        if len(self.tokenizer) > self.config.vocab_size:
            raise ModelPathError(f"{files['vocab_file']}: {len(self.tokenizer)} tokens, but the "
                                 f"checkpoint embeds {self.config.vocab_size}")
        self.device, self.dtype = device, dtype
        self.generation = resolve_generation(model_cfg, classifier=True)

    def prepare(self, request: Request) -> PreparedRequest:
        pieces, paths = self.placed_images(request)
        if not paths:
            raise ValueError(f"VLMo needs an image (request {request.request_id})")
        if request.answer_start:
            raise ValueError(f"VLMo classifies answers; it cannot continue a given answer start "
                             f"{request.answer_start!r} (request {request.request_id})")
        decoded = load_image(paths[0])
        image = decoded.resize((self.image_size, self.image_size),
                               resample=3)   # bicubic, as square_transform
        return PreparedRequest(request, [image], None, decoded_media([decoded]), pieces)

    @staticmethod
    def _text(prepared: PreparedRequest) -> str:
        if prepared.pieces is None:
            return prepared.request.text
        return image_markers.render(prepared.pieces, "")

    def build_inputs(self, batch: list[PreparedRequest]) -> VLMoInputs:
        import numpy as np

        encoded = self.tokenizer([self._text(p) for p in batch], padding="max_length",
                                 truncation=True, max_length=self.max_text_len,
                                 return_tensors="pt")
        pixels = torch.stack([torch.from_numpy(np.asarray(p.images[0], dtype=np.float32))
                              .permute(2, 0, 1) / 255.0 for p in batch])
        pixels = (pixels - 0.5) / 0.5   # inception normalisation
        return VLMoInputs(encoded["input_ids"], encoded["attention_mask"], pixels)

    def input_fingerprints(self, batch: list[PreparedRequest], inputs: VLMoInputs) -> list[dict]:
        """Text ids (padding removed) and each row's 480px pixels; the image's positions are
        its patches and CLS token."""
        fields = []
        for index, prepared in enumerate(batch):
            ids = inputs.text_ids[index][inputs.text_mask[index].bool()].tolist()
            fields.append({**prepared.media(), **prompt_fields(ids, set()),
                           "vision_tokens": self.config.grid ** 2 + 1,
                           "pixel_sha256": hash_tensors([inputs.pixels[index]])})
        return fields

    def generate(self, batch: list[PreparedRequest], max_new_tokens: int = 1,
                 ignore_eos: bool = False, inputs=None) -> Generation:
        """One forward per batch: the "generated" text is the top answer label."""
        return super().generate(batch, max_new_tokens, ignore_eos, inputs)

    def _generate(self, batch, inputs: VLMoInputs, max_new_tokens, ignore_eos,
                  clock) -> Generation:
        text_ids, text_mask = inputs.text_ids.to(self.device), inputs.text_mask.to(self.device)
        pixels = inputs.pixels.to(self.device, self.dtype)
        clock.inputs_on_device()
        logits = self.model(text_ids, text_mask, pixels)
        if clock.step_logprobs is not None:   # one step: the distribution over the answers
            clock.step_logprobs.record(logits)
        labels = logits.argmax(-1).tolist()
        best = logits.float().topk(min(5, logits.shape[-1]), dim=-1)
        top = [[[self.answers[i], round(v, 6)] for v, i in zip(values, indices)]
               for values, indices in zip(best.values.tolist(), best.indices.tolist())]
        clock.finish()     # one forward: its first (and only) "token" is its end
        # the model's input: the text padded to max_text_len, then the CLS + patch tokens
        input_len = self.max_text_len + self.config.grid ** 2 + 1
        return Generation([self.answers[i] for i in labels], [1] * len(batch), input_len,
                          steps=1, output_ids=[[i] for i in labels], top_answers=top,
                          text_len=int(inputs.text_mask.sum(dim=1).max()),
                          top_logprobs=clock.step_logprobs.rows([1] * len(batch))
                          if clock.step_logprobs is not None else None, **clock.timings())
