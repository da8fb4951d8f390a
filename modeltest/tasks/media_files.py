"""Images that datasets embed (VLMEvalKit TSV's base64, the `datasets` Image feature's bytes)
written once as files, so the rest of the harness sees paths as for any other dataset.

The bytes are written exactly as the dataset holds them (no decoding and re-encoding: a
re-saved JPEG has other pixels), under a name made of their SHA-256, in the media cache
($MODELTEST_CACHE/media): a rerun, or another task holding the same image, finds the file
and writes nothing.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import os
from pathlib import Path

from modeltest.samples import DataError

# leading bytes of the image formats PIL reads, for the file's suffix
_MAGIC = ((b"\xff\xd8\xff", ".jpg"), (b"\x89PNG\r\n\x1a\n", ".png"), (b"GIF8", ".gif"),
          (b"BM", ".bmp"), (b"II*\x00", ".tif"), (b"MM\x00*", ".tif"))


def image_suffix(data: bytes) -> str:
    for magic, suffix in _MAGIC:
        if data.startswith(magic):
            return suffix
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ".webp"
    return ".img"     # PIL still decides by content when it opens it


def store_image_bytes(data: bytes, media_dir: Path) -> str:
    """The path of a file holding exactly `data` (written on first sight)."""
    digest = hashlib.sha256(data).hexdigest()
    path = media_dir / digest[:2] / f"{digest}{image_suffix(data)}"
    if not path.is_file() or path.stat().st_size != len(data):
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        temporary.write_bytes(data)
        os.replace(temporary, path)
    return str(path)


def store_base64_image(text: str, media_dir: Path, where: str) -> str:
    try:
        data = base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError) as err:
        raise DataError(f"{where}: the image is not valid base64 ({err})") from None
    if not data:
        raise DataError(f"{where}: the image is empty")
    return store_image_bytes(data, media_dir)
