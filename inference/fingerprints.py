"""What the model was given, per sample: a fingerprint two runs can compare to tell a
preprocessing difference (the inputs already differed) from a model difference (same inputs,
other outputs).

Fields (each present where the family knows it):
  image_sizes        [[width, height], ...] of the images as decoded from their files
  video_frames       [count, width, height] of the video frames the processor got
  pixel_sha256       SHA-256 over the pixel tensors the processor produced for this sample (each
                     tensor's dtype, shape and bytes, before any cast to the model's dtype)
  vision_tokens      how many positions of the model input hold image or video features
  prompt_tokens      the prompt's length in tokens (padding removed, vision tokens included)
  prompt_ids_sha256  SHA-256 of the prompt ids (JSON list, padding removed)
  input_ids          the prompt ids themselves, a run of RUN_LENGTH or more equal ids (the image
                     and video placeholders) written as [id, count]: `expand_runs` restores them
  request_sha256     served models: SHA-256 of the request's text and encoded media as sent
"""
from __future__ import annotations

import hashlib
import json

import torch

RUN_LENGTH = 4
# the processor outputs that hold pixels, per sample in this order
PIXEL_KEYS = ("pixel_values", "pixel_values_videos", "high_res_pixel_values")
# the grid tensors that say how many pixel rows each image or video takes
GRID_KEYS = {"pixel_values": "image_grid_thw", "pixel_values_videos": "video_grid_thw"}


def sha256_json(value) -> str:
    return hashlib.sha256(json.dumps(value, separators=(",", ":")).encode()).hexdigest()


def hash_tensors(tensors: list[torch.Tensor]) -> str:
    digest = hashlib.sha256()
    for tensor in tensors:
        tensor = tensor.detach().to("cpu").contiguous()
        digest.update(f"{tensor.dtype}{tuple(tensor.shape)}".encode())
        digest.update(tensor.view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


def compress_runs(ids: list[int]) -> list:
    """Runs of RUN_LENGTH or more equal ids as [id, count]; other ids as they are."""
    out: list = []
    index = 0
    while index < len(ids):
        end = index
        while end < len(ids) and ids[end] == ids[index]:
            end += 1
        if end - index >= RUN_LENGTH:
            out.append([ids[index], end - index])
        else:
            out.extend(ids[index:end])
        index = end
    return out


def expand_runs(ids: list) -> list[int]:
    expanded: list[int] = []
    for item in ids:
        if isinstance(item, list):
            expanded.extend([int(item[0])] * int(item[1]))
        else:
            expanded.append(int(item))
    return expanded


def decoded_media(images: list, frames=None) -> dict:
    """image_sizes of PIL images, video_frames of a list of PIL frames or a (T, C, H, W)
    tensor."""
    media: dict = {"image_sizes": [[int(i.width), int(i.height)] for i in images]}
    if frames is not None:
        if isinstance(frames, torch.Tensor):
            media["video_frames"] = [int(frames.shape[0]), int(frames.shape[-1]),
                                     int(frames.shape[-2])]
        elif len(frames):
            media["video_frames"] = [len(frames), int(frames[0].width), int(frames[0].height)]
    return media


def header_sizes(paths: list[str]) -> list:
    """[width, height] of image files from their headers, EXIF rotation applied (as decoding
    would give them); null for a file whose header cannot be read here (a served model's
    server decodes it, and says whether it can)."""
    from PIL import Image, UnidentifiedImageError

    sizes: list = []
    for path in paths:
        try:
            with Image.open(path) as image:
                width, height = image.size
                rotated = image.getexif().get(0x0112) in (5, 6, 7, 8)   # EXIF Orientation
        except (OSError, UnidentifiedImageError, ValueError):
            sizes.append(None)
            continue
        sizes.append([height, width] if rotated else [width, height])
    return sizes


def prompt_fields(ids: list[int], vision_token_ids: set[int]) -> dict:
    return {"prompt_tokens": len(ids),
            "vision_tokens": sum(1 for t in ids if t in vision_token_ids),
            "prompt_ids_sha256": sha256_json(ids),
            "input_ids": compress_runs(ids)}


def _split_rows(tensor: torch.Tensor, grid: torch.Tensor | None, units_per_row: list[int],
                tokens_per_row: list[int]) -> list[torch.Tensor] | None:
    """This batch tensor's slice for each row (rows are concatenated along dim 0): by the
    grid (rows of t*h*w per image or video), by one entry per image, or in proportion to each
    row's vision tokens (tiles or images that each take the same number of tokens). None when
    none of these describes the layout."""
    if grid is not None:
        sizes = [int(torch.prod(g)) for g in grid]
        if sum(sizes) != tensor.shape[0] or len(sizes) != sum(units_per_row):
            return None
        per_row, start = [], 0
        for units in units_per_row:
            per_row.append(sum(sizes[start:start + units]))
            start += units
    elif tensor.shape[0] == sum(units_per_row):
        per_row = list(units_per_row)
    else:
        total = sum(tokens_per_row)
        if not total or any(tensor.shape[0] * t % total for t in tokens_per_row):
            return None
        per_row = [tensor.shape[0] * t // total for t in tokens_per_row]
    slices, start = [], 0
    for size in per_row:
        slices.append(tensor[start:start + size])
        start += size
    return slices


def batch_fingerprints(media: list[dict], inputs, vision_token_ids: set[int],
                       images_per_row: list[int], videos_per_row: list[int]) -> list[dict]:
    """Per-row fingerprints of a transformers-style batch (input_ids, attention_mask and the
    processor's pixel tensors, rows left-padded)."""
    ids = inputs["input_ids"]
    mask = inputs.get("attention_mask")
    rows = []
    for index in range(ids.shape[0]):
        row = ids[index] if mask is None else ids[index][mask[index].bool()]
        rows.append(row.tolist())
    fields = [{**m, **prompt_fields(r, vision_token_ids)} for m, r in zip(media, rows)]
    per_row_tensors: list[list[torch.Tensor]] = [[] for _ in rows]
    for key in PIXEL_KEYS:
        tensor = inputs.get(key)
        if not isinstance(tensor, torch.Tensor):
            continue
        units = videos_per_row if key == "pixel_values_videos" else images_per_row
        grid = inputs.get(GRID_KEYS.get(key, ""))
        tokens = [f["vision_tokens"] for f in fields]
        slices = _split_rows(tensor, grid if isinstance(grid, torch.Tensor) else None, units,
                             tokens)
        if slices is None:      # a layout not known here: no pixel hash rather than a wrong one
            return fields
        for target, piece in zip(per_row_tensors, slices):
            target.append(piece)
    for field, tensors in zip(fields, per_row_tensors):
        if tensors:
            field["pixel_sha256"] = hash_tensors(tensors)
    return fields
