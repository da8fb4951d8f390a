"""A fingerprint of a checkpoint's content, for the run identity: weights changed in place
give another fingerprint, so a rerun into the same folder is refused instead of resumed with
the old model's answers.

Cheap by default: every file's size and modification time, and a hash of its header (for
safetensors the JSON header, which names every tensor's dtype, shape and offsets; for other
files their first 64 KiB). `full=True` (runtime.verify_weights) hashes every byte instead.
"""
from __future__ import annotations

import hashlib
import json
import struct
import sys
import time
from pathlib import Path

HEAD_BYTES = 64 * 1024
MAX_SAFETENSORS_HEADER = 100 * 1024 * 1024
CHUNK = 8 * 1024 * 1024
PROGRESS_SECONDS = 5.0


def _head(path: Path) -> bytes:
    with open(path, "rb") as handle:
        if path.suffix == ".safetensors":
            prefix = handle.read(8)
            if len(prefix) == 8:
                length = struct.unpack("<Q", prefix)[0]
                if length <= MAX_SAFETENSORS_HEADER:
                    return prefix + handle.read(length)
            return prefix
        return handle.read(HEAD_BYTES)


class _Progress:
    """A line at least every PROGRESS_SECONDS while full hashes run."""

    def __init__(self, total: int):
        self.total, self.done, self.last = total, 0, time.monotonic()

    def add(self, count: int) -> None:
        self.done += count
        if time.monotonic() - self.last >= PROGRESS_SECONDS:
            self.last = time.monotonic()
            print(f"verifying weights: {self.done / 2**30:.1f} of {self.total / 2**30:.1f} GiB "
                  "hashed", file=sys.stderr, flush=True)


def _full(path: Path, progress: _Progress) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            progress.add(len(chunk))
    return digest.hexdigest()


def checkpoint_fingerprint(folder, full: bool = False) -> dict | None:
    """{relative path: {size, mtime_ns, head_sha256 | sha256}} of every file under `folder`
    (hidden files left out), or None when there is no folder."""
    if not folder:
        return None
    root = Path(str(folder)).expanduser()
    if not root.is_dir():
        return None
    files = sorted(p for p in root.rglob("*")
                   if p.is_file() and not any(part.startswith(".")
                                              for part in p.relative_to(root).parts))
    progress = _Progress(sum(p.stat().st_size for p in files)) if full else None
    out = {}
    for path in files:
        stat = path.stat()
        entry = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
        if full:
            entry["sha256"] = _full(path, progress)
        else:
            entry["head_sha256"] = hashlib.sha256(_head(path)).hexdigest()
        out[str(path.relative_to(root))] = entry
    return out


def fingerprint_digest(fingerprint: dict | None) -> str | None:
    """One hash of a fingerprint (for a short line in a report)."""
    if fingerprint is None:
        return None
    return hashlib.sha256(json.dumps(fingerprint, sort_keys=True).encode()).hexdigest()[:16]
