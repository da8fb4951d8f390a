"""Values checked before any data or model loads, each a one-line error (exit code 2):
runtime numbers, the device, prompt template fields, and runtime.tp against the heads the
checkpoint's config.json declares (read here, before any worker process starts)."""
from __future__ import annotations

import importlib.util
import json
import re
import string
from importlib import metadata
from pathlib import Path

from runners.config import ConfigError

DEVICES = ("auto", "npu", "cuda", "cpu")
# the fields each task loader fills in a prompt template
TEMPLATE_FIELDS = {
    "textvqa": {"question"},
    "vqav2": {"question"},
    "videobench": {"question", "choices", "options", "count_word", "letters"},
    "coco_caption": set(),
}
# where each checkpoint layout keeps its language model's sizes
LANGUAGE_CONFIG_KEYS = ("text_config", "llm_config", "language_config")
DIVISIBLE_SIZES = ("num_attention_heads", "num_key_value_heads", "intermediate_size")


def _integer(value, key: str, minimum: int | None = None, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{key}={value}: not a whole number")
    if minimum is not None and value < minimum:
        raise ConfigError(f"{key}={value}: must be at least {minimum}")


def _number(value, key: str, low: float | None = None, high: float | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{key}={value}: not a number")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ConfigError(f"{key}={value}: must be between {low} and {high}")


def template_fields(template: str, key: str) -> set[str]:
    try:
        return {field for _, field, _, _ in string.Formatter().parse(template)
                if field is not None}
    except ValueError as err:
        raise ConfigError(f"{key}: malformed template ({err}); write literal braces as "
                          "{{ and }}") from None


def check_prompt_templates(cfg: dict) -> None:
    task = cfg["task"]
    allowed = TEMPLATE_FIELDS.get(str(task.get("loader")))
    if allowed is None:
        return
    templates = {"task.prompt_template": task.get("prompt_template")}
    own = (cfg["model"].get("prompts") or {}).get(task.get("name"))
    if own:
        templates[f"model.prompts.{task['name']}"] = own
    for key, template in templates.items():
        if template is None:
            continue
        if not isinstance(template, str):
            raise ConfigError(f"{key}: not a string")
        unknown = sorted(template_fields(template, key) - allowed)
        if unknown:
            known = ", ".join("{" + f + "}" for f in sorted(allowed)) or "none"
            raise ConfigError(f"{key}: unknown field(s) {', '.join('{' + f + '}' for f in unknown)}"
                              f" for task {task.get('name')} (fields: {known})")


def language_sizes(config: dict) -> dict[str, int]:
    """The language model's head counts and MLP width, from any of the supported layouts:
    transformers (top level or text_config), InternVL (llm_config), DeepSeek-VL and
    DeepSeek-VL2 (language_config)."""
    for key in LANGUAGE_CONFIG_KEYS:
        if isinstance(config.get(key), dict):
            section = config[key]
            break
    else:
        section = config
    sizes = {name: section[name] for name in DIVISIBLE_SIZES
             if isinstance(section.get(name), int) and not isinstance(section.get(name), bool)}
    if "num_attention_heads" in sizes and "num_key_value_heads" not in sizes:
        sizes["num_key_value_heads"] = sizes["num_attention_heads"]
    return sizes


def check_tensor_parallel(cfg: dict) -> None:
    tp = cfg["runtime"].get("tp", 1)
    if tp == 1 or cfg["runner"].get("name") not in ("accuracy", "performance"):
        return
    model = cfg["model"]
    if model.get("adapter") == "vlmo":
        raise ConfigError(f"runtime.tp={tp}: tensor parallelism is not supported for VLMo "
                          "(a base-size model); use runtime.dp")
    from runners.demo import ensure_demo_assets

    ensure_demo_assets([model.get("model_path")])   # a demo model is built before the check
    path = Path(str(model.get("model_path") or "")).expanduser()
    config_file = path / "config.json"
    if not config_file.is_file():
        return      # the model check names the missing file later, still before loading
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise ConfigError(f"{config_file}: invalid JSON ({err})") from None
    for name, size in language_sizes(config).items():
        if size % tp:
            divisors = [d for d in range(1, size + 1) if size % d == 0 and d <= 64]
            raise ConfigError(f"runtime.tp={tp} does not divide the model's {name}={size} "
                              f"({config_file}); possible tp: "
                              f"{', '.join(map(str, divisors[:12]))}")


# adapters whose transformers processors need torchvision (the `vision` extra)
NEEDS_TORCHVISION = {"qwen2_vl", "internvl"}


def _install_hint(package: str) -> str:
    try:
        torch = metadata.version("torch")
    except metadata.PackageNotFoundError:
        return "pip install -e '.[vision]'"
    return (f"pip install -e '.[vision]' 'torch=={torch.split('+')[0]}' (this keeps your torch "
            f"{torch} and picks the {package} built for it)")


def check_optional_packages(cfg: dict) -> None:
    runner = cfg["runner"].get("name")
    adapter = cfg["model"].get("adapter")
    if runner in ("accuracy", "performance", "train") and adapter in NEEDS_TORCHVISION \
            and importlib.util.find_spec("torchvision") is None:
        raise ConfigError(f"model.adapter={adapter} needs torchvision, which is not installed: "
                          + _install_hint("torchvision"))
    if runner == "clip_compare" and importlib.util.find_spec("open_clip") is None:
        raise ConfigError("runner=clip_compare needs open_clip_torch, which is not installed: "
                          + _install_hint("torchvision"))


def validate(cfg: dict) -> None:
    """Every check that needs no data and no model; raises ConfigError."""
    runtime = cfg.get("runtime") or {}
    _integer(runtime.get("batch_size"), "runtime.batch_size", 1)
    _integer(runtime.get("tp", 1), "runtime.tp", 1)
    _integer(runtime.get("dp", 1), "runtime.dp", 1)
    _integer(runtime.get("loader_workers", 1), "runtime.loader_workers", 1)
    _integer(runtime.get("video_cache_entries", 0), "runtime.video_cache_entries", 0)
    _integer(runtime.get("video_cache_mb", 0), "runtime.video_cache_mb", 0)
    _number(runtime.get("max_error_rate", 0.05), "runtime.max_error_rate", 0, 1)
    device = runtime.get("device", "auto")
    if not isinstance(device, str) or not re.fullmatch(r"auto|cpu|(npu|cuda)(:\d+)?", device):
        raise ConfigError(f"runtime.device={device}: unknown (use {', '.join(DEVICES)})")
    _integer(cfg.get("seed", 0), "seed")
    task = cfg.get("task") or {}
    _integer(task.get("limit"), "task.limit", 1, allow_none=True)
    check_prompt_templates(cfg)
    check_optional_packages(cfg)
    check_tensor_parallel(cfg)
    if cfg["runner"].get("name") == "train":   # its own settings, before any worker starts
        from runners.train import check_settings
        check_settings(cfg)
