"""Qwen2-VL (2B/7B/72B-Instruct): images and native video, pixel budget from the yaml."""
from __future__ import annotations

from inference.models.base import ImageTextAdapter


class Qwen2VLAdapter(ImageTextAdapter):
    video_mode = "native"

    def _processor_kwargs(self, vision):
        size = {}
        if vision.get("min_pixels"):
            size["shortest_edge"] = int(vision["min_pixels"])
        if vision.get("max_pixels"):
            size["longest_edge"] = int(vision["max_pixels"])
        if not size:
            return {}
        return {"images_kwargs": {"size": dict(size)}, "videos_kwargs": {"size": dict(size)}}
