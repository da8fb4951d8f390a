"""Caption files {"<image path>": "<caption>"} matched to the images of a folder, keyed by
full path or by basename (both as captioning scripts write them)."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

from modeltest.samples import DataError
from modeltest.tasks.io import read_json, require_file


def load_captions(path: str | Path, image_dir: Path, images: list[str],
                  key: str) -> tuple[dict[str, str], list[str]]:
    """({image path: caption} for images of the folder, [keys matching no image])."""
    path = require_file(path, key)
    data = read_json(path)
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected {{\"<image path>\": \"<caption>\"}}")
    by_path = {str(Path(p).resolve()): p for p in images}
    names = Counter(Path(p).name for p in images)
    by_name = {Path(p).name: p for p in images if names[Path(p).name] == 1}
    captions, unmatched = {}, []
    for raw_key, caption in data.items():
        candidate = Path(raw_key).expanduser()
        resolved = str((candidate if candidate.is_absolute() else image_dir / candidate).resolve())
        image = by_path.get(resolved) or by_name.get(candidate.name)
        if image is None:
            unmatched.append(raw_key)
        else:
            captions[image] = "" if caption is None else str(caption)
    return captions, unmatched
