"""Building the embedded demo's tiny models and datasets on first use, into the cache.

A config path under `<cache>/demo/models/<name>` or `<cache>/demo/data/<name>` is a demo
asset: it is (re)built when missing or stale (its manifest's version differs or a file is
gone), under a file lock so parallel ranks build it once.
"""
from __future__ import annotations

import fcntl
import json
import shutil
import sys
import time
from pathlib import Path

from inference import demo_models
from modeltest import demo_data
from runners.config import demo_root

KINDS = {"models": (demo_models.BUILDERS, demo_models.DEMO_MODELS_VERSION),
         "data": (demo_data.BUILDERS, demo_data.DEMO_DATA_VERSION)}


def demo_asset(path: str | None) -> tuple[str, str] | None:
    """(kind, name) when `path` lies in the demo cache, else None."""
    if not path:
        return None
    try:
        relative = Path(str(path)).expanduser().resolve().relative_to(demo_root().resolve())
    except ValueError:
        return None
    if len(relative.parts) < 2 or relative.parts[0] not in KINDS:
        return None
    return relative.parts[0], relative.parts[1]


def _is_fresh(folder: Path, version: str) -> bool:
    manifest = folder / "manifest.json"
    if not manifest.is_file():
        return False
    try:
        recorded = json.loads(manifest.read_text())
    except json.JSONDecodeError:
        return False
    if recorded.get("version") != version:
        return False
    return all((folder / name).is_file() and (folder / name).stat().st_size == size
               for name, size in recorded.get("files", {}).items())


def ensure_asset(kind: str, name: str) -> Path:
    builders, version = KINDS[kind]
    if name not in builders:
        raise KeyError(f"no demo {kind} named '{name}' (known: {', '.join(builders)})")
    folder = demo_root() / kind / name
    if _is_fresh(folder, version):
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(demo_root() / ".build.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _is_fresh(folder, version):
            return folder
        staging = folder.with_name(folder.name + ".building")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        started = time.perf_counter()
        print(f"building the demo {kind[:-1] if kind == 'models' else kind} '{name}' into "
              f"{folder} (first use) ...", file=sys.stderr, flush=True)
        builders[name](staging)
        files = {str(p.relative_to(staging)): p.stat().st_size
                 for p in sorted(staging.rglob("*")) if p.is_file()}
        (staging / "manifest.json").write_text(json.dumps({"version": version, "files": files},
                                                          indent=1))
        shutil.rmtree(folder, ignore_errors=True)
        staging.rename(folder)
        print(f"demo '{name}' built in {time.perf_counter() - started:.1f} s", file=sys.stderr,
              flush=True)
    return folder


def ensure_demo_assets(paths: list[str | None]) -> bool:
    """Build every demo asset these config paths point into; True if any path is demo."""
    found = False
    for path in paths:
        asset = demo_asset(path)
        if asset:
            ensure_asset(*asset)
            found = True
    return found
