"""Composing the Hydra config from conf/ and the command line, with one-line errors.

Config folders of your own (`$MODELTEST_CONFIG_PATH`, folders separated by `:`) are searched
after conf/, with the same layout (`task/<name>.yaml`, `model/<name>.yaml`, ...), so a new
benchmark can live outside the project; those folders are also importable, so a task's hook
module beside its yaml is named as `my_hooks:score`.
"""
from __future__ import annotations

import os
import sys
from datetime import datetime
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from modeltest.cache import demo_root

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"
GROUPS = ("model", "task", "runner", "runtime")


class ConfigError(ValueError):
    """A config choice or value the user must fix; the message names the key."""


def register_resolvers() -> None:
    if not OmegaConf.has_resolver("demo_dir"):
        OmegaConf.register_new_resolver("demo_dir", lambda: str(demo_root()))
    if not OmegaConf.has_resolver("now"):
        OmegaConf.register_new_resolver(
            "now", lambda pattern: datetime.now().strftime(pattern), use_cache=True)


def extra_config_dirs() -> list[Path]:
    """$MODELTEST_CONFIG_PATH's folders, in order; a missing one is an error."""
    folders = []
    for entry in (os.environ.get("MODELTEST_CONFIG_PATH") or "").split(os.pathsep):
        if not entry:
            continue
        folder = Path(entry).expanduser().resolve()
        if not folder.is_dir():
            raise ConfigError(f"MODELTEST_CONFIG_PATH: {entry} is not a folder")
        folders.append(folder)
    return folders


def config_dirs() -> list[Path]:
    return [CONF_DIR, *extra_config_dirs()]


def available(group: str) -> list[str]:
    """The choices of a group (files starting with _ are shared defaults, not choices)."""
    return sorted({p.stem for folder in config_dirs() for p in (folder / group).glob("*.yaml")
                   if not p.stem.startswith("_")})


def check_group_choices(overrides: list[str]) -> None:
    """`model=foo` with no conf/model/foo.yaml is an error naming the key and the path."""
    for override in overrides:
        key, sep, value = override.partition("=")
        key = key.lstrip("+~")
        if sep and key in GROUPS:
            paths = [folder / key / f"{value}.yaml" for folder in config_dirs()]
            if not any(path.is_file() for path in paths):
                raise ConfigError(f"{key}={value}: no config {paths[0]} "
                                  f"(available: {', '.join(available(key))})")


def compose(overrides: list[str]) -> DictConfig:
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    register_resolvers()
    extra = extra_config_dirs()
    for folder in extra:     # hook modules beside a task's yaml
        if str(folder) not in sys.path:
            sys.path.append(str(folder))
    check_group_choices(overrides)
    if extra:
        overrides = [*overrides, "hydra.searchpath=[" + ",".join(
            f"file://{folder}" for folder in extra) + "]"]
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
            cfg = hydra_compose(config_name="config", overrides=overrides)
    except (HydraException, OmegaConfBaseException) as err:
        raise ConfigError(" ".join(str(err).split())) from None
    return cfg


def to_container(cfg: DictConfig) -> dict:
    try:
        return OmegaConf.to_container(cfg, resolve=True)
    except Exception as err:
        raise ConfigError(" ".join(str(err).split())) from None


def parallel_sizes(runtime: dict) -> tuple[int, int]:
    """(tp, dp) of this process's job; `dp: auto` is what the launcher started (WORLD_SIZE /
    tp: runners/launch.py turns auto into the visible devices / tp)."""
    tp = int(runtime["tp"])
    if runtime["dp"] == "auto":
        return tp, max(1, int(os.environ.get("WORLD_SIZE") or 1) // tp)
    return tp, int(runtime["dp"])

