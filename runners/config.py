"""Composing the Hydra config from conf/ and the command line, with one-line errors."""
from __future__ import annotations

import os
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


def available(group: str) -> list[str]:
    """The choices of a group (files starting with _ are shared defaults, not choices)."""
    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml")
                  if not p.stem.startswith("_"))


def check_group_choices(overrides: list[str]) -> None:
    """`model=foo` with no conf/model/foo.yaml is an error naming the key and the path."""
    for override in overrides:
        key, sep, value = override.partition("=")
        key = key.lstrip("+~")
        if sep and key in GROUPS:
            path = CONF_DIR / key / f"{value}.yaml"
            if not path.is_file():
                raise ConfigError(f"{key}={value}: no config {path} "
                                  f"(available: {', '.join(available(key))})")


def compose(overrides: list[str]) -> DictConfig:
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    register_resolvers()
    check_group_choices(overrides)
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

