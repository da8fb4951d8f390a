"""qwen-vl-utils' rules for the media Qwen2-VL sees (process_vision_info): an image's smart
size (sides multiples of the patch factor, pixel count within limits, aspect ratio kept), and
how many frames of a video, at which indices."""
from __future__ import annotations

import math

import torch

from inference.media import MediaError

MAX_ASPECT_RATIO = 200
FRAME_FACTOR = 2        # frames are taken in pairs (the temporal patch)


def _round_to(value: float, factor: int) -> int:
    return round(value / factor) * factor


def _ceil_to(value: float, factor: int) -> int:
    return math.ceil(value / factor) * factor


def _floor_to(value: float, factor: int) -> int:
    return math.floor(value / factor) * factor


def smart_size(height: int, width: int, factor: int, min_pixels: float,
               max_pixels: float) -> tuple[int, int]:
    """(height, width): multiples of `factor`, nearest to the input, scaled (aspect kept) into
    [min_pixels, max_pixels] when rounding alone leaves the range."""
    if max(height, width) / min(height, width) > MAX_ASPECT_RATIO:
        raise MediaError(f"aspect ratio {max(height, width) / min(height, width):.1f} is over "
                         f"Qwen2-VL's limit of {MAX_ASPECT_RATIO}")
    new_h = max(factor, _round_to(height, factor))
    new_w = max(factor, _round_to(width, factor))
    if new_h * new_w > max_pixels:
        scale = math.sqrt(height * width / max_pixels)
        new_h, new_w = _floor_to(height / scale, factor), _floor_to(width / scale, factor)
    elif new_h * new_w < min_pixels:
        scale = math.sqrt(min_pixels / (height * width))
        new_h, new_w = _ceil_to(height * scale, factor), _ceil_to(width * scale, factor)
    return new_h, new_w


def frame_count(total_frames: int, video_fps: float, fps: float, min_frames: int,
                max_frames: int) -> int:
    """How many frames of a video the model sees: `fps` per second of video, clamped to
    [min_frames, max_frames] (each rounded to an even count; max also capped by the video's
    frame count), then rounded to an even count."""
    low = _ceil_to(min_frames, FRAME_FACTOR)
    high = _floor_to(min(max_frames, total_frames), FRAME_FACTOR)
    count = _round_to(min(max(total_frames / video_fps * fps, low), high), FRAME_FACTOR)
    if not FRAME_FACTOR <= count <= total_frames:
        raise MediaError(f"a video of {total_frames} frames cannot give an even frame count "
                         f"of at least {FRAME_FACTOR} (got {count})")
    return count


def frame_indices(total_frames: int, count: int) -> list[int]:
    """Evenly spaced indices from the first to the last frame (float32 spacing, rounded half
    to even)."""
    return torch.linspace(0, total_frames - 1, count).round().long().tolist()

