"""Captioning a folder of images (scored by the CLIP judge, not against references)."""
from __future__ import annotations

from modeltest.samples import DataError, Sample
from modeltest.tasks.io import require_dir

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


def load(cfg, template: str, warnings: list[str]) -> list[Sample]:
    image_dir = require_dir(cfg.get("image_dir"), "task.image_dir")
    images = sorted(p for p in image_dir.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise DataError(f"task.image_dir={image_dir}: no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return [Sample(question_id=str(p.resolve()), subject="coco_caption", prompt=template,
                   images=[str(p.resolve())], source=str(p)) for p in images]
