"""The DeepSeek-VL 7B adapter: transformers' layout, or the original deepseek-ai layout
converted at load time (loader.py; its processor takes the calls transformers' processor
takes, so one adapter serves both). Video frames become images: the model has no video
input."""
from __future__ import annotations

from inference import image_markers
from inference.models.base import ImageTextAdapter
from inference.models.deepseek_vl.convert import is_original_layout
from inference.models.deepseek_vl.loader import load_original
from inference.models.deepseek_vl.processor import IMAGE_TAG
from inference.models.protocol import PreparedRequest


class DeepseekVLAdapter(ImageTextAdapter):
    video_mode = "frames"
    answer_separator = " "      # its conversation writes "Assistant: <message>"

    def _load(self, path, dtype, trust, model_cfg):
        if is_original_layout(path):
            return load_original(path, dtype, self.device, self.tp_mesh)
        return super()._load(path, dtype, trust, model_cfg)

    def _content(self, prepared: PreparedRequest) -> list[dict]:
        """A question that holds <image_placeholder> gets its image there (as the original
        does with such a conversation); otherwise the images go in front of the question, as
        the original's README and inference.py write them. A question that marks where its
        images go gets <image_placeholder> at each mark (VLMEvalKit's DeepSeekVL wrapper)."""
        if prepared.pieces is not None:
            return [{"type": "text", "text": image_markers.render(prepared.pieces, IMAGE_TAG)}]
        parts = super()._content(prepared)
        text = prepared.request.text
        if IMAGE_TAG not in text:
            return parts
        images = sum(part["type"] == "image" for part in parts)
        if text.count(IMAGE_TAG) != images:
            raise ValueError(f"the question holds {text.count(IMAGE_TAG)} {IMAGE_TAG} tags "
                             f"for {images} images")
        return [{"type": "text", "text": text}]

    def _generate(self, batch, inputs, max_new_tokens, ignore_eos, clock):
        # generate() casts pixel_values to the model dtype; the SAM tower's input too (here
        # rather than in build_inputs, so that the input fingerprint hashes what the processor
        # produced, the same in fp32 and bf16)
        if "high_res_pixel_values" in inputs:
            inputs["high_res_pixel_values"] = inputs["high_res_pixel_values"].to(self.model.dtype)
        return super()._generate(batch, inputs, max_new_tokens, ignore_eos, clock)
