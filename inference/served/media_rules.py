"""What a served request's images look like: the pixels the in-process adapter of the same
family would give its processor (`model.prepare_as`), sent losslessly as PNG, so that a server
and the embedded runtime see the same pixels.

`qwen2_vl`: qwen-vl-utils' PIL resize (inference/models/qwen2_vl/processor.py `smart_size`)
before the server's processor, as the model card's serving recipe does; the server's own resize
then finds the size already right and leaves the pixels alone. Without it a server resizes with
its processor's rule, which differs in rounding (and a near-tie token with it).
"""
from __future__ import annotations

import base64
import io
import json
from pathlib import Path

from inference.media import load_image

RULES = ("qwen2_vl",)


class Qwen2VLImages:
    """Images resized to qwen-vl-utils' smart size (factor = the checkpoint's patch size x
    merge size; pixel limits from model.vision, as the qwen2_vl model yaml has them), and a
    video's frames as the in-process adapter samples and resizes them."""

    def __init__(self, model_cfg):
        vision = model_cfg["vision"]
        self.min_pixels = float(vision["min_pixels"])
        self.max_pixels = float(vision["max_pixels"])
        # the attributes Qwen2VLAdapter._decode_video reads (see video_url)
        self.fps = float(vision["fps"])
        self.min_frames = int(vision["min_frames"])
        self.max_frames = int(vision["max_frames"])
        self.video_min_pixels = float(vision["video_min_pixels"])
        self.video_max_pixels = float(vision["video_max_pixels"])
        self.video_total_pixels = float(vision["video_total_pixels"])
        self.factor = 28
        path = model_cfg.get("model_path")
        config = Path(str(path)) / "preprocessor_config.json" if path else None
        if config is not None and config.is_file():
            data = json.loads(config.read_text())
            self.factor = int(data.get("patch_size", 14)) * int(data.get("merge_size", 2))

    def url(self, path: str) -> str:
        from PIL import Image

        from inference.models.qwen2_vl.processor import smart_size

        image = load_image(path)
        height, width = smart_size(image.height, image.width, self.factor, self.min_pixels,
                                   self.max_pixels)
        image = image.resize((width, height), Image.Resampling.BICUBIC)
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


    def video_url(self, path: str) -> str:
        """The frames the in-process adapter gives its processor (qwen-vl-utils' frame count
        and indices, each frame resized to its smart size), as vLLM's frame-list video URL
        `data:video/jpeg;base64,<frame>,<frame>,...`; each frame is a lossless PNG (vLLM
        opens each with PIL, which reads the format from the bytes, not from the URL)."""
        from PIL import Image

        from inference.media import require_regular_file
        from inference.models.qwen2_vl.adapter import Qwen2VLAdapter

        require_regular_file(path, "video")
        # the adapter's own decoding, with this object's settings (the same attribute names)
        frames = Qwen2VLAdapter._decode_video(self, path).permute(0, 2, 3, 1).numpy()
        encoded = []
        for frame in frames:
            buffer = io.BytesIO()
            Image.fromarray(frame).save(buffer, format="PNG")
            encoded.append(base64.b64encode(buffer.getvalue()).decode("ascii"))
        return "data:video/jpeg;base64," + ",".join(encoded)


def image_preparer(model_cfg):
    """The object whose `url(path)` gives a prepared image's data URL, or None (send as is)."""
    rule = model_cfg["prepare_as"]
    if rule is None:
        return None
    if rule not in RULES:
        raise ValueError(f"model.prepare_as={rule}: unknown (known: {', '.join(RULES)}, or "
                         "null to send images as they are)")
    if model_cfg["media"] != "base64":
        raise ValueError("model.prepare_as sends prepared pixels as data URLs: it needs "
                         "model.media=base64")
    return Qwen2VLImages(model_cfg)
