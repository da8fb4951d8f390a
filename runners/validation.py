"""Values checked before any data or model loads, each a one-line error (exit code 2): the
whole config against its schema (runners/schema.py), prompt template fields, a gate baseline's
rules, optional packages, and runtime.tp against the heads the checkpoint's config.json
declares (read here, before any worker process starts)."""
from __future__ import annotations

import importlib.util
import json
from importlib import metadata
from pathlib import Path

from modeltest.gate import BaselineError, check_baseline_file
from modeltest.tasks.prompt import template_fields
from runners.config import ConfigError
from runners.schema import check_config

# where each checkpoint layout keeps its language model's sizes
LANGUAGE_CONFIG_KEYS = ("text_config", "llm_config", "language_config")
DIVISIBLE_SIZES = ("num_attention_heads", "num_key_value_heads", "intermediate_size")


def check_prompt_templates(cfg: dict) -> None:
    """Every field a prompt template uses is one the task declares (`task.prompt_fields`)."""
    task = cfg["task"]
    allowed = set(task["prompt_fields"])
    templates = {"task.prompt_template": task["prompt_template"]}
    own = (cfg["model"]["prompts"] or {}).get(task["name"])
    if own:
        templates[f"model.prompts.{task['name']}"] = own
    for key, template in templates.items():
        if not isinstance(template, str):
            raise ConfigError(f"{key}: not a string")
        try:
            used = template_fields(template)
        except ValueError as err:
            raise ConfigError(f"{key}: malformed template ({err}); write literal braces as "
                              "{{ and }}") from None
        unknown = sorted(used - allowed)
        if unknown:
            known = ", ".join("{" + f + "}" for f in sorted(allowed)) or "none"
            raise ConfigError(f"{key}: unknown field(s) {', '.join('{' + f + '}' for f in unknown)}"
                              f" for task {task['name']} (fields: {known})")


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
    tp = cfg["runtime"]["tp"]
    if tp == 1 or cfg["runner"]["name"] not in ("accuracy", "performance"):
        return
    model = cfg["model"]
    if model["adapter"] == "vlmo":
        raise ConfigError(f"runtime.tp={tp}: tensor parallelism is not supported for VLMo "
                          "(a base-size model); use runtime.dp")
    from runners.demo import ensure_demo_model

    ensure_demo_model(model["model_path"])   # a demo model is built before the check
    path = Path(str(model["model_path"] or "")).expanduser()
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
    runner = cfg["runner"]["name"]
    adapter = cfg["model"]["adapter"]
    if runner in ("accuracy", "performance", "train") and adapter in NEEDS_TORCHVISION \
            and importlib.util.find_spec("torchvision") is None:
        raise ConfigError(f"model.adapter={adapter} needs torchvision, which is not installed: "
                          + _install_hint("torchvision"))
    if runner == "clip_compare" and importlib.util.find_spec("open_clip") is None:
        raise ConfigError("runner=clip_compare needs open_clip_torch, which is not installed: "
                          + _install_hint("torchvision"))


def check_gate_baseline(cfg: dict) -> None:
    """A baseline file's rules are numbers, before anything runs."""
    baseline = cfg["gate"]["baseline"]
    if baseline:
        try:
            check_baseline_file(baseline)
        except BaselineError as err:
            raise ConfigError(str(err)) from None


def validate(cfg: dict) -> None:
    """Every check that needs no data and no model; raises ConfigError."""
    check_config(cfg)
    check_prompt_templates(cfg)
    check_gate_baseline(cfg)
    check_optional_packages(cfg)
    check_tensor_parallel(cfg)
    if cfg["runner"]["name"] == "train":   # its own settings, before any worker starts
        from runners.train import check_settings
        check_settings(cfg)
