"""Building the embedded demo's tiny models and datasets on first use, into the cache.

A config path under `<cache>/demo/models/<name>` or `<cache>/demo/data/<name>` is a demo
asset: a model folder is built by the builder DEMO_MODELS registers under its name, a task's
data folder by the builder the task names (`task.demo_builder`, a `module:attr` called with
the folder to fill, so a new benchmark brings its own). An asset is (re)built when missing or
stale (its manifest's version, a hash of the builder's module source, differs, or a file is
gone), under a file lock so parallel ranks build it once.
"""
from __future__ import annotations

import fcntl
import hashlib
import inspect
import json
import shutil
import sys
import time
from pathlib import Path

from modeltest.cache import demo_root
from modeltest.registry import Registry, RegistryError, import_attribute
from runners.config import ConfigError

KINDS = ("models", "data")
# demo checkpoints by folder name (<cache>/demo/models/<name>), tiny models of the real
# architectures (inference/demo_models.py)
DEMO_MODELS = Registry("demo model", {
    name: f"inference.demo_models:build_{name}"
    for name in ("qwen2_vl", "qwen2_vl_served", "internvl", "deepseek_vl", "deepseek_vl2",
                 "vlmo", "clip_judge", "qwen2_vl_init", "deepseek_vl2_init")})
# the trained demos: committed checkpoints, copied and checked (inference/trained_demos.py)
for _name in ("qwen2_vl_trained", "deepseek_vl2_trained"):
    DEMO_MODELS.register(_name, f"inference.trained_demos:build_{_name}")


def demo_asset(path: str | None) -> tuple[str, str] | None:
    """(kind, name) when `path` lies in the demo cache, else None."""
    if not path or not isinstance(path, str):
        return None
    try:
        relative = Path(path).expanduser().resolve().relative_to(demo_root().resolve())
    except ValueError:
        return None
    if len(relative.parts) < 2 or relative.parts[0] not in KINDS:
        return None
    return relative.parts[0], relative.parts[1]


def _version(builder) -> str:
    """The builder's module source: any change to how demos are built rebuilds them."""
    source = inspect.getsource(inspect.getmodule(builder))
    return hashlib.sha256(source.encode()).hexdigest()[:16]


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
    files = recorded.get("files")
    return isinstance(files, dict) and all(
        (folder / name).is_file() and (folder / name).stat().st_size == size
        for name, size in files.items())


def _task_builder(name: str) -> str:
    """The demo builder of conf/task/<name>.yaml (a demo data folder is named for its task)."""
    from runners.config import compose, to_container

    builder = to_container(compose([f"task={name}"]))["task"]["demo_builder"]
    if not builder:
        raise ConfigError(f"no demo data '{name}': conf/task/{name}.yaml has no demo_builder")
    return str(builder)


def ensure_asset(kind: str, name: str, builder_spec: str | None = None) -> Path:
    """The built folder of a demo model or dataset; `builder_spec` None: a model's from
    DEMO_MODELS, a dataset's from its task's yaml."""
    try:
        if builder_spec is None and kind == "models":
            builder = DEMO_MODELS.get(name)
        else:
            builder = import_attribute(builder_spec or _task_builder(name),
                                       f"{kind} demo builder")
    except RegistryError as err:
        raise ConfigError(str(err)) from None
    version = _version(builder)
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
        builder(staging)
        files = {str(p.relative_to(staging)): p.stat().st_size
                 for p in sorted(staging.rglob("*")) if p.is_file()}
        (staging / "manifest.json").write_text(json.dumps({"version": version, "files": files},
                                                          indent=1))
        shutil.rmtree(folder, ignore_errors=True)
        staging.rename(folder)
        print(f"demo '{name}' built in {time.perf_counter() - started:.1f} s", file=sys.stderr,
              flush=True)
    return folder


def ensure_demo_model(path: str | None) -> bool:
    """Build the demo checkpoint `path` points at, if it does; True if it does."""
    asset = demo_asset(path)
    if asset is None or asset[0] != "models":
        return False
    ensure_asset(*asset)
    return True


def ensure_demo_data(task: dict) -> bool:
    """Build the demo data the task's paths point at; True if any does (every report of the
    run then says so)."""
    found = False
    for key, value in task.items():
        asset = demo_asset(value)
        if asset is None or asset[0] != "data":
            continue
        if not task["demo_builder"]:
            raise ConfigError(f"task.{key}={value} lies in the demo cache, but "
                              "task.demo_builder is not set")
        ensure_asset(*asset, str(task["demo_builder"]))
        found = True
    return found


def ensure_demo_assets(paths: list[str | None]) -> bool:
    """Build every demo asset these paths point into (a model by its registered builder, a
    dataset by its task's); True if any path is demo."""
    found = False
    for path in paths:
        asset = demo_asset(path)
        if asset:
            ensure_asset(*asset)
            found = True
    return found
