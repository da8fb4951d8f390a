"""What data a run evaluated: the task's files (with a content hash) and the sample set, so a
rerun with another dataset, another file content or another task.limit into the same folder is
refused instead of mixed in."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from modeltest.samples import Sample

TASK_PATH_KEYS = ("local_dataset_path", "annotation_file", "question_file", "image_dir",
                  "answer_file", "video_root")
CONTENT_SUFFIXES = {".json", ".jsonl", ".txt", ".csv", ".tsv", ".yaml", ".yml"}


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _folder_identity(folder: Path) -> dict:
    """Annotation-like files by content; media (many, large) by name and size."""
    content, listing = hashlib.sha256(), hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = str(path.relative_to(folder))
        if path.suffix.lower() in CONTENT_SUFFIXES:
            content.update(f"{relative}\0{file_sha256(path)}\n".encode())
        else:
            listing.update(f"{relative}\0{path.stat().st_size}\n".encode())
    return {"path": str(folder), "files_sha256": content.hexdigest(),
            "media_listing_sha256": listing.hexdigest()}


def data_identity(task_cfg: dict, samples: list[Sample]) -> dict:
    files = {}
    for key in TASK_PATH_KEYS:
        value = task_cfg.get(key)
        if not value:
            continue
        path = Path(str(value)).expanduser().resolve()
        if path.is_file():
            files[key] = {"path": str(path), "sha256": file_sha256(path)}
            sibling = path.with_name(f"{path.stem}_annotations.json")   # textvqa's default
            if key == "local_dataset_path" and sibling.is_file() and sibling != path:
                files["sibling_annotations"] = {"path": str(sibling),
                                                "sha256": file_sha256(sibling)}
        elif path.is_dir():
            files[key] = _folder_identity(path)
    ids = [str(sample.question_id) for sample in samples]
    return {"files": files, "limit": task_cfg.get("limit"),
            "samples": {"count": len(ids),
                        "sha256": hashlib.sha256(json.dumps(ids).encode()).hexdigest()}}
