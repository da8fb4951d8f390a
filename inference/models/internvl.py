"""InternVL: checkpoints in transformers' layout, and original OpenGVLab checkpoints
(InternVL-Chat-V1-2/V1-5, InternVL2-2B/8B/40B, ...) converted at load time."""
from __future__ import annotations

from inference.models.base import ImageTextAdapter
from inference.models.internvl_original import is_original_layout, load_original


class InternVLAdapter(ImageTextAdapter):
    video_mode = "native"

    def _load(self, path, dtype, trust, model_cfg):
        if is_original_layout(path):
            return load_original(path, dtype, model_cfg.get("vision") or {})
        return super()._load(path, dtype, trust, model_cfg)

    def _processor_kwargs(self, vision):
        if vision.get("max_num"):
            return {"images_kwargs": {"max_patches": int(vision["max_num"])}}
        return {}
