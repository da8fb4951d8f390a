"""DeepSeek-VL (SigLIP/SAM hybrid + Llama) in transformers' layout; video frames become
images, since the model has no video input."""
from __future__ import annotations

from inference.models.base import ImageTextAdapter


class DeepseekVLAdapter(ImageTextAdapter):
    video_mode = "frames"
