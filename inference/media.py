"""Decoding images and sampling video frames (PIL in, PIL out)."""
from __future__ import annotations

import os
import stat

import numpy as np
from PIL import Image, ImageOps

from inference.video_cache import CACHE


class MediaError(RuntimeError):
    """A missing or undecodable image or video, named by path."""


def require_regular_file(path: str, kind: str) -> None:
    """A FIFO, device or folder would hang or confuse the decoder: refuse it by name."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise MediaError(f"{kind} not found: {path}") from None
    except OSError as err:
        raise MediaError(f"cannot read {kind} {path}: {err.strerror}") from None
    if not stat.S_ISREG(mode):
        raise MediaError(f"{kind} {path} is not a regular file")


def _to_rgb(image: Image.Image) -> Image.Image:
    """RGB with 8 bits per channel; 16-bit grey images are scaled, not clipped at 255."""
    if image.mode.startswith("I;16") or (image.mode == "I" and image.getextrema()[1] > 255):
        pixels = np.asarray(image, dtype=np.uint32)
        image = Image.fromarray(((pixels + 128) // 257).clip(0, 255).astype(np.uint8), "L")
    return image.convert("RGB")


# runtime.max_image_pixels (configure_limits): an image larger than this once decoded is
# that sample's error, found from its header before any pixel is decoded
LIMITS: dict = {"max_image_pixels": None}


def configure_limits(runtime) -> None:
    """Take the media limits from the runtime config (runtime.max_image_pixels)."""
    LIMITS["max_image_pixels"] = int(runtime["max_image_pixels"])
    # PIL's own guard (a warning, then an error at twice its default) gives way to ours
    Image.MAX_IMAGE_PIXELS = None


def check_image_size(image: Image.Image, path: str) -> None:
    """Image.open reads only the header: refuse an image whose decoded size is over the
    limit before it is decoded (a 531 KB PNG can decode to 13000x13000)."""
    limit = LIMITS["max_image_pixels"]
    width, height = image.size
    if limit is not None and width * height > limit:
        raise MediaError(f"image {path} is {width}x{height} = {width * height} pixels once "
                         f"decoded, over runtime.max_image_pixels={limit}")


def open_image_header(path: str) -> tuple[int, int]:
    """(width, height) from the header only, the size limit checked."""
    require_regular_file(path, "image")
    try:
        with Image.open(path) as image:
            check_image_size(image, path)
            return image.size
    except MediaError:
        raise
    except FileNotFoundError:
        raise MediaError(f"image not found: {path}") from None
    except Exception as err:  # PIL raises many types for corrupt files
        raise MediaError(f"cannot decode image {path}: {err}") from None


def load_image(path: str) -> Image.Image:
    """Decoded as transformers' own `load_image` does (EXIF orientation applied, then RGB),
    except that 16-bit images keep their contrast."""
    require_regular_file(path, "image")
    try:
        with Image.open(path) as image:
            check_image_size(image, path)
            return _to_rgb(ImageOps.exif_transpose(image))
    except MediaError:
        raise
    except FileNotFoundError:
        raise MediaError(f"image not found: {path}") from None
    except Exception as err:  # PIL raises many types for corrupt files
        raise MediaError(f"cannot decode image {path}: {err}") from None


def sample_times(duration: float, fps: float, max_frames: int) -> list[float]:
    """Timestamps one every 1/fps seconds (at least one), thinned evenly to max_frames."""
    step = 1.0 / fps
    count = max(1, int(duration * fps + 1e-9))
    times = [i * step for i in range(count)]
    if len(times) > max_frames:
        times = [times[round(i * (len(times) - 1) / (max_frames - 1))] if max_frames > 1
                 else times[0] for i in range(max_frames)]
    return times


def load_video_frames(path: str, fps: float = 0.5, max_frames: int = 8) -> list[Image.Image]:
    """Frames at `fps` (the first frame at or after each sample time), decoded with av once
    per run (inference.video_cache)."""
    require_regular_file(path, "video")
    key = CACHE.key(path, "frames", float(fps), int(max_frames))
    return list(CACHE.get(key, lambda: _decode_video_frames(path, fps, max_frames)))


SEEK_GAP_SECONDS = 4.0   # seek (to the keyframe before) when the next sample is this far ahead


def _frames_seeking(container, stream, targets: list[float], gap: float) -> list[Image.Image]:
    """The same frames as decoding from the start (the first frame at or after each target),
    but jumping to the keyframe before a target that lies more than `gap` seconds past the
    last decoded frame instead of decoding everything in between."""
    frames: list[Image.Image] = []
    decoder = container.decode(stream)
    position, sought = 0.0, None
    while len(frames) < len(targets):
        target = targets[len(frames)]
        if target - position > gap and sought != target:
            container.seek(int(target / stream.time_base), stream=stream, backward=True)
            decoder, sought = container.decode(stream), target
        frame = next(decoder, None)
        if frame is None:
            break
        position = float(frame.pts * stream.time_base) if frame.pts is not None else position
        while len(frames) < len(targets) and position + 1e-6 >= targets[len(frames)]:
            frames.append(frame.to_image().convert("RGB"))
    return frames


def _decode_video_frames(path: str, fps: float, max_frames: int,
                         seek_gap: float = SEEK_GAP_SECONDS) -> list[Image.Image]:
    import av

    try:
        container = av.open(path)
    except FileNotFoundError:
        raise MediaError(f"video not found: {path}") from None
    except Exception as err:
        raise MediaError(f"cannot open video {path}: {err}") from None
    try:
        stream = container.streams.video[0]
        duration = float(stream.duration * stream.time_base) if stream.duration else (
            container.duration / 1e6 if container.duration else 0.0)
        targets = sample_times(duration, fps, max_frames)
        frames: list[Image.Image] = []
        if seek_gap:
            try:
                frames = _frames_seeking(container, stream, targets, seek_gap)
            except Exception:   # a stream that cannot seek: decode it from the start
                container.seek(0, stream=stream, backward=True)
                frames = []
        if not frames:
            for frame in container.decode(stream):
                if len(frames) == len(targets):
                    break
                time = float(frame.pts * stream.time_base) if frame.pts is not None else 0.0
                while len(frames) < len(targets) and time + 1e-6 >= targets[len(frames)]:
                    frames.append(frame.to_image().convert("RGB"))
        if not frames:
            raise MediaError(f"no decodable frame in video {path}")
        while len(frames) < len(targets):   # the stream ended early: repeat the last frame
            frames.append(frames[-1])
        return frames
    except MediaError:
        raise
    except Exception as err:
        raise MediaError(f"cannot decode video {path}: {err}") from None
    finally:
        container.close()


def _open_video(path: str):
    import av

    try:
        return av.open(path)
    except FileNotFoundError:
        raise MediaError(f"video not found: {path}") from None
    except Exception as err:
        raise MediaError(f"cannot open video {path}: {err}") from None


def video_frame_count_and_rate(path: str) -> tuple[int, float]:
    """(number of frames, average frame rate) of the first video stream, as a frame-indexed
    reader (decord) reports them: the container's frame count, or the decoded count where the
    container has none."""
    count, rate, _, _ = video_info(path)
    return count, rate


def video_info(path: str) -> tuple[int, float, int, int]:
    """(frame count, frame rate, height, width) of the first video stream; cached per run."""
    require_regular_file(path, "video")
    return CACHE.get(CACHE.key(path, "info"), lambda: _read_video_info(path))


def _read_video_info(path: str) -> tuple[int, float, int, int]:
    container = _open_video(path)
    try:
        stream = container.streams.video[0]
        rate = float(stream.average_rate or stream.guessed_rate or 0)
        count = int(stream.frames or 0)
        if count <= 0:
            count = sum(1 for _ in container.decode(stream))
        if count <= 0 or rate <= 0:
            raise MediaError(f"no frame count or frame rate in video {path}")
        return count, rate, int(stream.height or 0), int(stream.width or 0)
    except MediaError:
        raise
    except Exception as err:
        raise MediaError(f"cannot decode video {path}: {err}") from None
    finally:
        container.close()


def load_video_frames_at(path: str, indices: list[int]):
    """The decoded frames at these frame indices (in decoding order), as one uint8 array
    (T, H, W, 3) in RGB. A stream that ends early repeats its last frame. Decoded once per
    run for the same indices (inference.video_cache); each caller gets its own copy."""
    require_regular_file(path, "video")
    key = CACHE.key(path, "at", tuple(int(i) for i in indices))
    return CACHE.get(key, lambda: _decode_video_frames_at(path, indices)).copy()


def _decode_video_frames_at(path: str, indices: list[int]):

    wanted: dict[int, list[int]] = {}
    for slot, index in enumerate(indices):
        wanted.setdefault(int(index), []).append(slot)
    frames: list = [None] * len(indices)
    container = _open_video(path)
    try:
        stream = container.streams.video[0]
        last = None
        for number, frame in enumerate(container.decode(stream)):
            if number > max(wanted):
                break
            if number in wanted:
                last = frame.to_ndarray(format="rgb24")
                for slot in wanted[number]:
                    frames[slot] = last
        if last is None:
            raise MediaError(f"no decodable frame in video {path}")
        filled = None
        for slot in range(len(frames)):
            if frames[slot] is None:
                frames[slot] = filled if filled is not None else last
            filled = frames[slot]
        return np.stack(frames)
    except MediaError:
        raise
    except Exception as err:
        raise MediaError(f"cannot decode video {path}: {err}") from None
    finally:
        container.close()
