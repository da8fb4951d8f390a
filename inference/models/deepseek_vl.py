"""DeepSeek-VL 7B (SigLIP/SAM hybrid + Llama): transformers' layout, or the original deepseek-ai
layout converted at load time. Video frames become images: the model has no video input."""
from __future__ import annotations

from inference.models.base import ImageTextAdapter
from inference.models.deepseek_vl_original import is_original_layout, load_original


class DeepseekVLAdapter(ImageTextAdapter):
    video_mode = "frames"

    def _load(self, path, dtype, trust, model_cfg):
        if is_original_layout(path):
            return load_original(path, dtype)
        return super()._load(path, dtype, trust, model_cfg)
