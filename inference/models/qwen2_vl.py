"""Qwen2-VL (2B/7B/72B-Instruct): images and native video, prepared the way the model card's
stack prepares them (qwen-vl-utils' process_vision_info before the processor):

- an image is resized with PIL (bicubic) to its smart size (sides multiples of 28, pixel count
  within [min_pixels, max_pixels], aspect ratio kept) before the processor sees it;
- a video gets `fps` frames per second of its length, at least `min_frames`, at most
  `max_frames` (and its frame count), rounded to an even count, at evenly spaced frame indices;
  its frames are resized (bicubic, antialiased) to a smart size whose pixel limit is the
  per-frame share of `video_total_pixels`, bounded by `video_max_pixels` and
  1.05 * `video_min_pixels`.
The processor then runs with the checkpoint's own preprocessor config, as in the model card.
"""
from __future__ import annotations

import math

import torch

from inference.fingerprints import decoded_media
from inference.media import MediaError, _decode_video_frames_at, load_image, \
    require_regular_file, video_frame_count_and_rate, video_info
from inference.video_cache import CACHE
from inference.models.base import ImageTextAdapter
from inference.models.protocol import PreparedRequest
from inference.requests import Request, VideoSpec
from inference.video_reading import decode_at, plain, reference_indices, \
    require_video_source, source_info, span

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


class Qwen2VLAdapter(ImageTextAdapter):
    video_mode = "native"

    def __init__(self, model_cfg, device, dtype, tp_mesh=None):
        super().__init__(model_cfg, device, dtype, tp_mesh)
        vision_cfg = model_cfg["vision"]     # qwen-vl-utils' limits: conf/model/qwen2_vl.yaml
        image_processor = self.processor.image_processor
        self.factor = int(image_processor.patch_size) * int(image_processor.merge_size)
        self.min_pixels = float(vision_cfg["min_pixels"])
        self.max_pixels = float(vision_cfg["max_pixels"])
        self.min_frames = int(vision_cfg["min_frames"])
        self.max_frames = int(vision_cfg["max_frames"])
        self.video_min_pixels = float(vision_cfg["video_min_pixels"])
        self.video_max_pixels = float(vision_cfg["video_max_pixels"])
        self.video_total_pixels = float(vision_cfg["video_total_pixels"])
        if self.fps <= 0:
            raise ValueError(f"model.vision.fps must be positive, got {self.fps}")

    def _processor_kwargs(self, vision):
        # Videos go through the processor with the image processor's pixel limits, as in
        # transformers 4.46 (where the image processor handled videos); frames arrive already
        # at their smart size, so no further cap applies.
        videos = {"size": dict(self.processor.image_processor.size)}
        if hasattr(getattr(self.processor, "video_processor", None), "cap_pixels_per_frame"):
            videos["cap_pixels_per_frame"] = False      # recent transformers 5 releases
        return {"videos_kwargs": videos}

    # -- media as qwen-vl-utils prepares it ---------------------------------------------
    def resize_image(self, image):
        from PIL import Image

        height, width = smart_size(image.height, image.width, self.factor, self.min_pixels,
                                   self.max_pixels)
        return image.resize((width, height), Image.Resampling.BICUBIC)

    def video_tensor(self, path: str, spec: VideoSpec | None = None) -> torch.Tensor:
        """The frames the model sees, (T, 3, H, W) uint8 at their smart size; decoded and
        resized once per run for every question on the video (inference.video_cache). A
        spec (a span, a frame folder, the benchmark's reference frames) picks the frames
        (`_spec_indices`); their size follows the same rule."""
        if plain(spec):
            spec = None
            require_regular_file(path, "video")
        else:
            require_video_source(path)
        key = CACHE.key(path, "qwen2_vl", self.fps, self.min_frames, self.max_frames,
                        self.factor, self.video_min_pixels, self.video_max_pixels,
                        self.video_total_pixels, spec)
        frames = CACHE.get(key, lambda: self._decode_video(path, spec).contiguous().numpy())
        return torch.from_numpy(frames.copy())

    def _spec_indices(self, path: str, spec: VideoSpec) -> list[int]:
        """The benchmark's reference frames (an odd count gets its last frame repeated, as
        qwen-vl-utils pads a list of frames to the temporal patch), or this model's rule on
        the span the question is about."""
        if spec.sampler:
            indices = reference_indices(path, spec)
            return indices + indices[-1:] * (len(indices) % FRAME_FACTOR)
        total, rate, _, _ = source_info(path, spec)
        first, last = span(total, rate, spec)
        count = frame_count(last - first + 1, rate, self.fps, self.min_frames,
                            self.max_frames)
        return [first + i for i in frame_indices(last - first + 1, count)]

    def _decode_video(self, path: str, spec: VideoSpec | None = None) -> torch.Tensor:
        from torchvision.transforms import InterpolationMode
        from torchvision.transforms import functional as TF

        if spec is None:
            total, rate = video_frame_count_and_rate(path)
            count = frame_count(total, rate, self.fps, self.min_frames, self.max_frames)
            frames = torch.from_numpy(_decode_video_frames_at(path, frame_indices(total, count)))
        else:
            indices = self._spec_indices(path, spec)
            count = len(indices)
            frames = torch.from_numpy(decode_at(path, indices))
        frames = frames.permute(0, 3, 1, 2)
        per_frame = max(min(self.video_max_pixels,
                            self.video_total_pixels / count * FRAME_FACTOR),
                        int(self.video_min_pixels * 1.05))
        height, width = smart_size(frames.shape[2], frames.shape[3], self.factor,
                                   self.video_min_pixels, per_frame)
        return TF.resize(frames, [height, width], interpolation=InterpolationMode.BICUBIC,
                         antialias=True)

    def estimate_input_length(self, request: Request) -> int:
        """Text (about 4 characters a token) plus the vision tokens the smart sizes give:
        one per factor x factor area, per image and per frame pair. Image sizes come from
        the file header, video sizes from the container (no frame decoded)."""
        from PIL import Image

        tokens = len(request.text) // 4
        for path in request.images:
            with Image.open(path) as image:
                width, height = image.size
            h, w = smart_size(height, width, self.factor, self.min_pixels, self.max_pixels)
            tokens += h * w // self.factor ** 2
        if request.video:
            if plain(request.video_spec):
                total, rate, height, width = video_info(request.video)
                count = frame_count(total, rate, self.fps, self.min_frames, self.max_frames)
            else:
                _, _, height, width = source_info(request.video, request.video_spec)
                count = len(self._spec_indices(request.video, request.video_spec))
            per_frame = max(min(self.video_max_pixels,
                                self.video_total_pixels / count * FRAME_FACTOR),
                            int(self.video_min_pixels * 1.05))
            h, w = smart_size(height, width, self.factor, self.video_min_pixels, per_frame)
            tokens += count // FRAME_FACTOR * (h * w // self.factor ** 2)
        return tokens

    def _training_position_ids(self, inputs):
        # the model computes its 3D (M-RoPE) positions from the attention mask, in training
        # as in generate()
        return None

    def prepare(self, request: Request) -> PreparedRequest:
        pieces, paths = self.placed_images(request)
        decoded = [load_image(p) for p in paths]
        images = [self.resize_image(image) for image in decoded]
        video = self.video_tensor(request.video, request.video_spec) if request.video else None
        return PreparedRequest(request, images, video, decoded_media(decoded, video), pieces)
