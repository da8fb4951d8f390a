"""The Qwen2-VL adapter (2B/7B/72B-Instruct): images and native video prepared as the model
card's stack prepares them (qwen-vl-utils' process_vision_info, inference.models.qwen2_vl
.processor), then the checkpoint's own processor and chat template."""
from __future__ import annotations

import torch

from inference.fingerprints import decoded_media
from inference.media import _decode_video_frames_at, load_image, require_regular_file, \
    video_frame_count_and_rate, video_info
from inference.video_cache import CACHE
from inference.models.base import ImageTextAdapter
from inference.models.protocol import PreparedRequest
from inference.models.qwen2_vl.processor import FRAME_FACTOR, frame_count, frame_indices, \
    smart_size
from inference.requests import Request, VideoSpec
from inference.video_reading import decode_at, plain, reference_indices, \
    require_video_source, source_info, span


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
