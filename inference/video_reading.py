"""A request's video read as its benchmark says (`Request.video_spec`, inference/requests.py):
a file, a folder of frames or a GIF; the whole of it or a span; the model's own frame rule or
the benchmark's reference frames. A request without a spec never comes here: its adapter
reads the whole file as before (inference/media.py).

A video source has frames 0..count-1 at `rate` frames per second:
- a file (mp4, webm, GIF, ...): its frames as a frame-indexed reader (decord) counts them, at
  its average rate, or at `spec.frame_rate` where the benchmark fixes one (MVBench's notebook
  reads GIFs at 25 frames per second);
- a folder: its image files in name order (MVBench's TVQA frames `00001.jpg`, ...), at
  `spec.frame_rate` (required: a folder has no rate of its own).
A span [start, end] seconds keeps frames round(start * rate) .. min(round(end * rate),
count - 1), the bounds MVBench's `get_index` uses; the model's rule then runs on the span as
on a whole video (the way VLMEvalKit cuts a bounded clip for a video model).
A reference sampler gives the frame indices the benchmark's reference evaluation reads,
computed from the whole source by that evaluation's formula (inference/benchmark_frames.py);
the model then sees exactly those frames, in its own resolution and layout.
"""
from __future__ import annotations

import math
import os

import numpy as np
from PIL import Image

from inference import benchmark_frames
from inference.media import MediaError, load_image, load_video_frames, load_video_frames_at, \
    require_regular_file, sample_times, video_info
from inference.requests import VideoSpec
from inference.video_cache import CACHE

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
SAMPLERS = ("mvbench_segments", "vlmevalkit_uniform", "vlmevalkit_fps")


def plain(spec: VideoSpec | None) -> bool:
    """True when the spec asks for nothing but the whole file by the model's rule."""
    return spec is None or spec == VideoSpec()


def require_video_source(path: str) -> None:
    """A video file or a folder of frames; anything else is refused by name."""
    if os.path.isdir(path):
        frame_files(path)
        return
    require_regular_file(path, "video")


def frame_files(folder: str) -> list[str]:
    """The image files of a frame folder, in name order."""
    try:
        names = sorted(n for n in os.listdir(folder) if n.lower().endswith(IMAGE_SUFFIXES))
    except OSError as err:
        raise MediaError(f"cannot read frame folder {folder}: {err.strerror}") from None
    if not names:
        raise MediaError(f"frame folder {folder} holds no image file "
                         f"({', '.join(IMAGE_SUFFIXES)})")
    return [os.path.join(folder, n) for n in names]


def source_info(path: str, spec: VideoSpec | None) -> tuple[int, float, int, int]:
    """(frame count, frame rate, height, width) of the whole source."""
    if os.path.isdir(path):
        files = frame_files(path)
        if spec is None or not spec.frame_rate:
            raise MediaError(f"frame folder {path}: no frame rate given (the task's "
                             "video_spec frame_rate)")
        try:
            with Image.open(files[0]) as image:
                width, height = image.size
        except Exception as err:
            raise MediaError(f"cannot decode image {files[0]}: {err}") from None
        return len(files), float(spec.frame_rate), height, width
    count, rate, height, width = video_info(path)
    if spec is not None and spec.frame_rate:
        rate = float(spec.frame_rate)
    return count, rate, height, width


def span(count: int, rate: float, spec: VideoSpec | None) -> tuple[int, int]:
    """(first, last) frame index of the span the question is about (inclusive)."""
    first, last = 0, count - 1
    if spec is not None and spec.start is not None:
        first = max(0, round(float(spec.start) * rate))
    if spec is not None and spec.end is not None:
        last = min(round(float(spec.end) * rate), count - 1)
    if last < first:
        raise MediaError(f"the span {spec.start}-{spec.end} s holds no frame of a video of "
                         f"{count} frames at {rate:g} frames per second")
    return first, last


def reference_indices(path: str, spec: VideoSpec) -> list[int]:
    """The frame indices (into the whole source) the benchmark's reference evaluation reads."""
    count, rate, _, _ = source_info(path, spec)
    bounded = spec.start is not None and spec.end is not None
    if spec.sampler == "mvbench_segments":
        bound = (float(spec.start), float(spec.end)) if bounded else None
        if os.path.isdir(path):
            # the notebook's read_frame: max_frame = the number of files, frames numbered
            # from 1, read as f"{index:05d}.jpg"
            numbers = benchmark_frames.mvbench_segments(int(spec.frames), count, rate, bound,
                                                        first_idx=1)
            files = frame_files(path)
            for number in numbers:
                stem = os.path.splitext(os.path.basename(files[number - 1]))[0]
                if stem != f"{number:05d}":
                    raise MediaError(f"frame folder {path}: frame {number} is "
                                     f"{os.path.basename(files[number - 1])}, not "
                                     f"{number:05d}.jpg as MVBench's frame reader names it")
            return [number - 1 for number in numbers]
        return benchmark_frames.mvbench_segments(int(spec.frames), count - 1, rate, bound)
    if bounded:
        raise MediaError(f"reference sampler {spec.sampler} reads whole videos; this question "
                         "is about a span of its video")
    if spec.sampler == "vlmevalkit_uniform":
        return benchmark_frames.vlmevalkit_uniform(count, int(spec.frames))
    if spec.sampler == "vlmevalkit_fps":
        indices = benchmark_frames.vlmevalkit_fps(count, rate, float(spec.fps))
        if not indices:
            raise MediaError(f"video {path} is shorter than one frame at {spec.fps:g} fps")
        return indices
    raise MediaError(f"unknown reference sampler {spec.sampler!r} (known: {', '.join(SAMPLERS)})")


def decode_at(path: str, indices: list[int]) -> np.ndarray:
    """The frames at these indices as one uint8 array (T, H, W, 3), RGB."""
    if not os.path.isdir(path):
        return load_video_frames_at(path, indices)
    key = CACHE.key(path, "folder_at", tuple(int(i) for i in indices))
    return CACHE.get(key, lambda: _read_folder(path, indices)).copy()


def _read_folder(path: str, indices: list[int]) -> np.ndarray:
    files = frame_files(path)
    frames = [np.asarray(load_image(files[i])) for i in indices]
    if len({frame.shape for frame in frames}) > 1:
        raise MediaError(f"frame folder {path}: frames of different sizes")
    return np.stack(frames)


def indices_by_time(first: int, last: int, rate: float, fps: float,
                    max_frames: int) -> list[int]:
    """The model's time rule (inference.media.sample_times: one frame every 1/fps seconds,
    thinned to max_frames) on a span: the first frame at or after each time."""
    times = sample_times((last - first + 1) / rate, fps, max_frames)
    return [first + min(math.ceil(t * rate - 1e-6), last - first) for t in times]


def frames_for_model(path: str, fps: float, max_frames: int,
                     spec: VideoSpec | None) -> list[Image.Image]:
    """The frames a frame-sampling adapter (fps, max_frames) sees, as PIL images: the whole
    file as before when the spec asks for nothing else; else the span by the same time rule,
    or the benchmark's reference frames."""
    if plain(spec):
        return load_video_frames(path, fps, max_frames)
    require_video_source(path)
    if spec.sampler:
        indices = reference_indices(path, spec)
    else:
        count, rate, _, _ = source_info(path, spec)
        first, last = span(count, rate, spec)
        indices = indices_by_time(first, last, rate, fps, max_frames)
    return [Image.fromarray(frame) for frame in decode_at(path, indices)]
