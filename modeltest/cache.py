"""Where the project keeps what it builds or decodes once: the demo models and datasets, and
the image files decoded from datasets that embed their images (TSV base64, `datasets` Image
bytes). `$MODELTEST_CACHE`, else ~/.cache/modeltest."""
from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    return Path(os.environ.get("MODELTEST_CACHE") or "~/.cache/modeltest").expanduser()


def demo_root() -> Path:
    return cache_root() / "demo"


def media_root() -> Path:
    return cache_root() / "media"
