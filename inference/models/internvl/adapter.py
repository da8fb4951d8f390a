"""The InternVL adapters, one per checkpoint layout: `InternVLAdapter` for transformers' layout
(the checkpoint's processor and chat template) and `OriginalInternVLAdapter` for the original
OpenGVLab layout (prompt, token ids and pixels as the checkpoint's own `chat()` builds them).
`model.adapter=internvl` names both: `InternVLAdapter.for_checkpoint` picks by the checkpoint's
config.json."""
from __future__ import annotations

from pathlib import Path

from inference import image_markers
from inference.models.base import ImageTextAdapter
from inference.models.internvl.conversation import IMAGE_PLACEHOLDER
from inference.models.internvl.convert import is_original_layout
from inference.models.internvl.loader import load_original


class InternVLAdapter(ImageTextAdapter):
    """A checkpoint in transformers' layout (InternVLForConditionalGeneration)."""
    video_mode = "native"
    # several images: "Image-1: <image>\nImage-2: <image>\n..." in front (VLMEvalKit's
    # InternVL wrapper, the layout of InternVL's own multi-image examples)
    image_layout = staticmethod(image_markers.numbered_in_front)
    newline_after_image = True    # the transformers-layout template writes "<IMG_CONTEXT>\n"

    @classmethod
    def for_checkpoint(cls, model_cfg) -> type:
        """OriginalInternVLAdapter for a checkpoint in the OpenGVLab layout, else this class
        (also when no checkpoint folder is named yet: check() then says what is missing)."""
        path = model_cfg.get("model_path")
        config = Path(str(path)).expanduser() / "config.json" if path else None
        if config is not None and config.is_file() and is_original_layout(config.parent):
            return OriginalInternVLAdapter
        return cls

    def _load(self, path, dtype, trust, model_cfg):
        if model_cfg.get("system_message") is not None:
            raise ValueError("model.system_message applies to original-layout InternVL "
                             "checkpoints; a transformers-layout one uses its chat template")
        return super()._load(path, dtype, trust, model_cfg)

    def _processor_kwargs(self, vision):
        if vision.get("max_num"):
            return {"images_kwargs": {"max_patches": int(vision["max_num"])}}
        return {}


class OriginalInternVLAdapter(ImageTextAdapter):
    """A checkpoint in the original OpenGVLab layout (`model_type: internvl_chat`), converted
    at load time (loader.py); its inputs built by its processor (processor.py), as chat()."""
    video_mode = "native"
    image_layout = staticmethod(image_markers.numbered_in_front)    # as InternVLAdapter's

    def _load(self, path, dtype, trust, model_cfg):
        return load_original(path, dtype, model_cfg, self.device, self.tp_mesh)

    def build_inputs(self, batch):
        return self.processor([(self._question(p), p.images, p.video_frames,
                                self.answer_begun(p.request)) for p in batch])

    @staticmethod
    def _question(prepared) -> str:
        """The question as chat() gets it: a marked one with `<image>` where its layout
        puts each image."""
        if prepared.pieces is None:
            return prepared.request.text
        return image_markers.render(prepared.pieces, IMAGE_PLACEHOLDER)

    def build_training_inputs(self, batch, answers):
        raise NotImplementedError("training an InternVL checkpoint in the original "
                                  "OpenGVLab layout is not supported; convert it to "
                                  "transformers' layout or train demo_deepseek_vl2")

    def _trim_padding(self, ids):
        """After the end-of-turn token generate() pads; before it every id is the model's own
        (a genuine pad-id token there, e.g. InternLM2's `</s>`, is kept as chat() keeps it)."""
        stops = set(self.model.generation_config.eos_token_id or [])
        for index, token in enumerate(ids):
            if token in stops:
                return ids[:index + 1]
        return list(ids)
