"""model.prepare_as=qwen2_vl: a served request carries exactly the pixels the in-process
Qwen2-VL adapter gives its processor (issue 20, item 2): each image after qwen-vl-utils'
resize, each video's sampled and resized frames, losslessly."""
from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from runners.models import create_adapter
from inference.requests import Request
from conftest import model_config
from inference.served.media_rules import image_preparer

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "qwen2_vl"


def _decode(url: str) -> list[np.ndarray]:
    payload = url.split(",", 1)[1]
    return [np.asarray(Image.open(io.BytesIO(base64.b64decode(part))).convert("RGB"))
            for part in payload.split(",")]


def test_served_pixels_are_the_in_process_ones():
    # the model sections as a run composes them (every key with its default)
    model = model_config("qwen2_vl", model_path=str(FIXTURE), dtype="fp32")
    adapter = create_adapter(model, "cpu", torch.float32)
    # the same media settings as the in-process model
    served = model_config("served", model_path=str(FIXTURE), prepare_as="qwen2_vl",
                          vision=model["vision"])
    preparer = image_preparer(served)
    for name in ("img_350x238.png", "img_30x20.png", "img_90x400.png"):
        expected = adapter.prepare(Request("x", "q", [str(FIXTURE / name)])).images[0]
        [sent] = _decode(preparer.url(str(FIXTURE / name)))
        assert sent.shape[:2] == (expected.height, expected.width)
        assert np.array_equal(sent, np.asarray(expected))
    for name in ("vid_160x120_3s.mp4", "vid_112x200_22s.mp4"):
        url = preparer.video_url(str(FIXTURE / name))
        assert url.startswith("data:video/jpeg;base64,")    # vLLM's list-of-frames video
        expected = adapter.prepare(Request("x", "q", [], str(FIXTURE / name))).video_frames
        sent = np.stack(_decode(url))
        assert np.array_equal(sent, expected.permute(0, 2, 3, 1).numpy())
