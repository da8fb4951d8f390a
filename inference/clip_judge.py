"""An open_clip model as a judge of captions: cosine similarity of image and caption
embeddings, encoded in batches with the judge's own preprocessing and tokenizer."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from inference.media import load_image


@dataclass
class JudgeScores:
    cosines: list[float]
    truncated: int            # captions longer than the judge's context, cut to fit


class ClipJudge:
    def __init__(self, model_name: str, weights: str | Path, device: str = "cpu",
                 config_file: str | Path | None = None):
        import open_clip

        weights = Path(str(weights)).expanduser()
        if not weights.is_file():
            raise FileNotFoundError(f"runner.judge.weights={weights}: no such file")
        if config_file:
            open_clip.add_model_config(Path(str(config_file)))
        self.model, _, self.preprocess = open_clip.create_model_and_transforms(
            model_name, pretrained=str(weights), device=device)
        self.model.eval()
        self.tokenizer = open_clip.get_tokenizer(model_name)
        self.device = device
        self.context_length = int(getattr(self.tokenizer, "context_length", 77))

    def _too_long(self, caption: str) -> bool:
        encode = getattr(self.tokenizer, "encode", None)
        if encode is None:
            return False
        return len(encode(caption)) + 2 > self.context_length   # + start and end tokens

    @torch.inference_mode()
    def score(self, images: list[str], captions: list[str], batch_size: int = 32) -> JudgeScores:
        """cos(image_i, caption_i) for each pair."""
        cosines: list[float] = []
        for start in range(0, len(images), batch_size):
            pixels = torch.stack([self.preprocess(load_image(p))
                                  for p in images[start:start + batch_size]]).to(self.device)
            tokens = self.tokenizer(captions[start:start + batch_size]).to(self.device)
            image_features = torch.nn.functional.normalize(
                self.model.encode_image(pixels).float(), dim=-1)
            text_features = torch.nn.functional.normalize(
                self.model.encode_text(tokens).float(), dim=-1)
            cosines.extend((image_features * text_features).sum(-1).tolist())
        return JudgeScores(cosines, sum(self._too_long(c) for c in captions))
