"""What data a run evaluated: the files the task's format reads (with a content hash) and the
sample set, so a rerun with another dataset, another file content or another task.limit into
the same folder is refused instead of mixed in."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from modeltest.samples import Sample
from modeltest.tasks import data_paths

CONTENT_SUFFIXES = {".json", ".jsonl", ".txt", ".csv", ".tsv", ".yaml", ".yml", ".parquet",
                    ".arrow"}
WHOLE_FILE_LIMIT = 256 << 20     # larger files: size, time and their first and last MiB
EDGE = 1 << 20


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_identity(path: Path) -> str:
    """The content hash; for a file over WHOLE_FILE_LIMIT (a multi-GB TSV or parquet shard), a
    hash of its size, modification time and first and last MiB, so a check stays quick."""
    size = path.stat().st_size
    if size <= WHOLE_FILE_LIMIT:
        return file_sha256(path)
    digest = hashlib.sha256(f"{size}\0{path.stat().st_mtime_ns}\0".encode())
    with open(path, "rb") as handle:
        digest.update(handle.read(EDGE))
        handle.seek(size - EDGE)
        digest.update(handle.read(EDGE))
    return "edges:" + digest.hexdigest()


def _folder_identity(folder: Path) -> dict:
    """Annotation-like files by content; media (many, large) by name and size."""
    content, listing = hashlib.sha256(), hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = str(path.relative_to(folder))
        if path.suffix.lower() in CONTENT_SUFFIXES:
            content.update(f"{relative}\0{file_identity(path)}\n".encode())
        else:
            listing.update(f"{relative}\0{path.stat().st_size}\n".encode())
    return {"path": str(folder), "files_sha256": content.hexdigest(),
            "media_listing_sha256": listing.hexdigest()}


def data_identity(task_cfg: dict, samples: list[Sample]) -> dict:
    files = {}
    for key, value in data_paths(task_cfg).items():
        path = Path(value).expanduser().resolve()
        if path.is_file():
            files[key] = {"path": str(path), "sha256": file_identity(path)}
        elif path.is_dir():
            files[key] = _folder_identity(path)
    ids = [str(sample.question_id) for sample in samples]
    return {"files": files, "limit": task_cfg["limit"],
            "samples": {"count": len(ids),
                        "sha256": hashlib.sha256(json.dumps(ids).encode()).hexdigest()}}
