"""Image tiles as InternVL's repository cuts them (dynamic tiling, bicubic resizing, a
thumbnail) and their pixels (ImageNet mean and std)."""
from __future__ import annotations

import torch

IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


def tile_grid(width: int, height: int, min_tiles: int, max_tiles: int,
              tile: int) -> tuple[int, int]:
    """(columns, rows) for InternVL's dynamic tiling: the grid whose aspect ratio is closest
    to the image's, grids ordered by tile count; on a tie the later (larger) grid wins when
    the image has more than half its pixel area."""
    grids = sorted({(i, j) for n in range(min_tiles, max_tiles + 1)
                    for i in range(1, n + 1) for j in range(1, n + 1)
                    if min_tiles <= i * j <= max_tiles}, key=lambda g: g[0] * g[1])
    aspect, area = width / height, width * height
    best, best_diff = (1, 1), float("inf")
    for columns, rows in grids:
        diff = abs(aspect - columns / rows)
        if diff < best_diff:
            best, best_diff = (columns, rows), diff
        elif diff == best_diff and area > 0.5 * tile * tile * columns * rows:
            best = (columns, rows)
    return best


def image_tiles(image, tile: int, dynamic: bool, min_tiles: int, max_tiles: int,
                thumbnail: bool) -> list:
    """PIL tiles as InternVL's pipeline cuts them: the image resized (bicubic) to the grid and
    cut row by row, plus a whole-image thumbnail when there is more than one tile; without
    dynamic tiling the whole image is one tile."""
    from PIL import Image

    image = image.convert("RGB") if image.mode != "RGB" else image
    if not dynamic:
        return [image.resize((tile, tile), Image.Resampling.BICUBIC)]
    columns, rows = tile_grid(image.width, image.height, min_tiles, max_tiles, tile)
    resized = image.resize((columns * tile, rows * tile), Image.Resampling.BICUBIC)
    tiles = [resized.crop((c * tile, r * tile, (c + 1) * tile, (r + 1) * tile))
             for r in range(rows) for c in range(columns)]
    if thumbnail and len(tiles) > 1:
        tiles.append(image.resize((tile, tile), Image.Resampling.BICUBIC))
    return tiles


def tiles_to_tensor(tiles: list, mean=IMAGENET_MEAN, std=IMAGENET_STD) -> torch.Tensor:
    """(tiles, 3, H, W) float32: bytes / 255, then (x - mean) / std per channel."""
    import numpy as np

    mean = torch.tensor(mean, dtype=torch.float32).view(3, 1, 1)
    std = torch.tensor(std, dtype=torch.float32).view(3, 1, 1)
    out = []
    for tile in tiles:
        array = torch.from_numpy(np.array(tile, dtype=np.uint8, copy=True))
        x = array.permute(2, 0, 1).contiguous().to(torch.float32).div(255)
        out.append(x.sub(mean).div(std))
    return torch.stack(out)

