"""The values of the keys issue 20 added, checked before anything loads (ConfigError: one
line naming the key, exit code 2). Defaults are in conf/; runners/cli.py and the launcher's
preflight call `check_run_settings` after runners.validation."""
from __future__ import annotations

from inference.models import ModelPathError, generation_settings
from inference.served.media_rules import RULES
from runners.config import ConfigError


def _whole(value, key: str, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{key}={value}: must be a whole number of at least {minimum}")


def _flag(value, key: str) -> None:
    if not isinstance(value, bool):
        raise ConfigError(f"{key}={value}: must be true or false")


def check_run_settings(cfg: dict) -> None:
    runtime, runner, model = cfg["runtime"], cfg["runner"], cfg["model"]
    _flag(runtime["verify_weights"], "runtime.verify_weights")
    _whole(runtime["max_image_pixels"], "runtime.max_image_pixels", 1)
    if runner["name"] == "performance":
        _whole(runner["repeats"], "runner.repeats", 1)
        _whole(runner["max_batch_size"], "runner.max_batch_size", 1)
        latency = runner["max_latency_ms"]
        if latency is not None and (isinstance(latency, bool) or
                                    not isinstance(latency, (int, float)) or latency <= 0):
            raise ConfigError(f"runner.max_latency_ms={latency}: must be a number of "
                              "milliseconds above 0, or null for no search")
    if model.get("adapter") == "served":
        _flag(model["return_token_ids"], "model.return_token_ids")
        if model["prepare_as"] is not None and model["prepare_as"] not in RULES:
            raise ConfigError(f"model.prepare_as={model['prepare_as']}: unknown (known: "
                              f"{', '.join(RULES)}, or null)")
    if runner["name"] in ("accuracy", "performance"):
        try:     # model.generation: every value, and the checkpoint's file where applied
            generation_settings(model)
        except ModelPathError as err:
            raise ConfigError(str(err)) from None
