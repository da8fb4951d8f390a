"""A folder of images (captioning): one document per image, keyed by its full path."""
from __future__ import annotations

from modeltest.samples import DataError
from modeltest.tasks.document import Document
from modeltest.tasks.formats import Format, ReadContext
from modeltest.tasks.io import require_dir

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


def read(task: dict, context: ReadContext) -> list[Document]:
    image_dir = require_dir(task["image_dir"], "task.image_dir")
    images = sorted(p for p in image_dir.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise DataError(f"task.image_dir={image_dir}: no images "
                        f"({', '.join(sorted(IMAGE_SUFFIXES))})")
    return [Document(id=str(p.resolve()), images=[str(p.resolve())], source=str(p))
            for p in images]


FORMAT = Format("image_folder", read, ("image_dir",), "a folder of images")
