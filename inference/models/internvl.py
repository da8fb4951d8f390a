"""InternVL: checkpoints in transformers' layout, and original OpenGVLab checkpoints
(InternVL-Chat-V1-2/V1-5, InternVL2-2B/8B/40B, ...) converted at load time. For the original
layout the prompt, token ids and pixels are built as the checkpoint's own `chat()` builds
them (conversation template and system message from config.json, sentencepiece tokenization
as the slow tokenizer, the repository's dynamic tiling and bicubic resizing)."""
from __future__ import annotations

from inference import image_markers
from inference.models.base import ImageTextAdapter
from inference.models.internvl_original import (IMAGE_PLACEHOLDER, OriginalProcessor,
                                                is_original_layout, load_original)


class InternVLAdapter(ImageTextAdapter):
    video_mode = "native"
    # several images: "Image-1: <image>\nImage-2: <image>\n..." in front (VLMEvalKit's
    # InternVL wrapper, the layout of InternVL's own multi-image examples)
    image_layout = staticmethod(image_markers.numbered_in_front)
    newline_after_image = True    # the transformers-layout template writes "<IMG_CONTEXT>\n"

    def _load(self, path, dtype, trust, model_cfg):
        if is_original_layout(path):
            return load_original(path, dtype, model_cfg, self.device, self.tp_mesh)
        if model_cfg.get("system_message") is not None:
            raise ValueError("model.system_message applies to original-layout InternVL "
                             "checkpoints; a transformers-layout one uses its chat template")
        return super()._load(path, dtype, trust, model_cfg)

    def _processor_kwargs(self, vision):
        if vision.get("max_num") and not isinstance(self.processor, OriginalProcessor):
            return {"images_kwargs": {"max_patches": int(vision["max_num"])}}
        return {}

    def build_inputs(self, batch):
        if isinstance(self.processor, OriginalProcessor):
            return self.processor([(self._question(p), p.images, p.video_frames,
                                    self.answer_begun(p.request)) for p in batch])
        return super().build_inputs(batch)

    @staticmethod
    def _question(prepared) -> str:
        """The question as chat() gets it: a marked one with `<image>` where its layout
        puts each image."""
        if prepared.pieces is None:
            return prepared.request.text
        return image_markers.render(prepared.pieces, IMAGE_PLACEHOLDER)

    def build_training_inputs(self, batch, answers):
        if isinstance(self.processor, OriginalProcessor):
            raise NotImplementedError("training an InternVL checkpoint in the original "
                                      "OpenGVLab layout is not supported; convert it to "
                                      "transformers' layout or train demo_deepseek_vl2")
        return super().build_training_inputs(batch, answers)

    def _trim_padding(self, ids):
        """After the end-of-turn token generate() pads; before it every id is the model's own
        (a genuine pad-id token there, e.g. InternLM2's `</s>`, is kept as chat() keeps it)."""
        if not isinstance(self.processor, OriginalProcessor):
            return super()._trim_padding(ids)
        stops = set(self.model.generation_config.eos_token_id or [])
        for index, token in enumerate(ids):
            if token in stops:
                return ids[:index + 1]
        return list(ids)
