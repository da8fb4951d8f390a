"""DeepSeek-VL2's image tiling, as its original processor does it: the candidate resolution
that keeps the most of the image, a padded global view, the tiles row by row, and how many
image tokens that layout takes."""
from __future__ import annotations

import math
from dataclasses import dataclass

from PIL import Image, ImageOps

IMAGE_TOKEN = "<image>"


@dataclass
class TilingSpec:
    tile_size: int
    patch_size: int
    downsample: int
    candidates: list[tuple[int, int]]
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)

    @property
    def tokens_per_side(self) -> int:
        return math.ceil((self.tile_size // self.patch_size) / self.downsample)


def select_best_resolution(size: tuple[int, int], candidates) -> tuple[int, int]:
    """The candidate (width, height) keeping the most of the image, then wasting the least."""
    width, height = size
    best, best_effective, best_wasted = None, -1, float("inf")
    for cand_w, cand_h in candidates:
        scale = min(cand_w / width, cand_h / height)
        effective = min(int(width * scale) * int(height * scale), width * height)
        wasted = cand_w * cand_h - effective
        if effective > best_effective or (effective == best_effective and wasted < best_wasted):
            best, best_effective, best_wasted = (cand_w, cand_h), effective, wasted
    return best


def tile_image(image: Image.Image, spec: TilingSpec,
               cropping: bool = True) -> tuple[list[Image.Image], int, int]:
    """[global view, tiles row by row], tile columns, tile rows. Without cropping (more than
    two images in a request) the local view is the image padded to one tile."""
    fill = tuple(int(m * 255) for m in spec.mean)
    width, height = select_best_resolution(image.size, spec.candidates) if cropping \
        else (spec.tile_size, spec.tile_size)
    global_view = ImageOps.pad(image, (spec.tile_size, spec.tile_size), color=fill)
    canvas = ImageOps.pad(image, (width, height), color=fill)
    tiles = [canvas.crop((x, y, x + spec.tile_size, y + spec.tile_size))
             for y in range(0, height, spec.tile_size) for x in range(0, width, spec.tile_size)]
    return [global_view, *tiles], width // spec.tile_size, height // spec.tile_size


def image_token_count(spec: TilingSpec, columns: int, rows: int) -> int:
    side = spec.tokens_per_side
    return side * (side + 1) + 1 + (rows * side) * (columns * side + 1)
