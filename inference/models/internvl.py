"""InternVL checkpoints in transformers' layout; videos go in as InternVL's video input."""
from __future__ import annotations

from inference.models.base import ImageTextAdapter


class InternVLAdapter(ImageTextAdapter):
    video_mode = "native"

    def _processor_kwargs(self, vision):
        if vision.get("max_num"):
            return {"images_kwargs": {"max_patches": int(vision["max_num"])}}
        return {}
