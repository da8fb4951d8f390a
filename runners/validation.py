"""Values checked before any data or model loads, each a one-line error (exit code 2): the
whole config against its schema (runners/schema.py), prompt template fields, a gate baseline's
rules, optional packages, the backend's support of the family and its generation settings,
and runtime.tp against the heads the checkpoint's config.json declares (read here, before any
worker process starts)."""
from __future__ import annotations

import importlib.util
import json
import os
from importlib import metadata
from pathlib import Path

from modeltest.gate import BaselineError, check_baseline_file
from modeltest.tasks.prompt import template_fields
from runners import slurm
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


def check_backend(cfg: dict) -> None:
    """model.backend=vllm: the family is one vLLM runs (else one line naming why), every
    generation setting is one vLLM applies as the embedded runtime does, vLLM is installed,
    and the layout is one engine in one process (vLLM batches the requests and starts its own
    runtime.tp workers: runtime.dp > 1 has nothing to split)."""
    if cfg["model"]["backend"] == "embedded" or \
            cfg["runner"]["name"] not in ("accuracy", "performance"):
        return
    from inference.generation import GenerationConfigError
    from inference.vllm_backend.support import BackendRefused, check_supported

    dp = cfg["runtime"]["dp"]
    if dp not in ("auto", 1):
        raise ConfigError(f"runtime.dp={dp}: model.backend=vllm runs one engine, which "
                          "schedules every request itself; use runtime.dp=1 (runtime.tp=<n> "
                          "spreads the model over n devices)")
    if cfg["runtime"]["compile"] == "on":
        # vLLM compiles and captures its own graphs; this harness's compiled decode path is
        # the embedded runtime's (auto: eager here, said in summary.json's `compile`)
        raise ConfigError("runtime.compile=on: model.backend=vllm decodes in its own engine "
                          "(its graphs are vLLM's); use runtime.compile=auto or off")
    try:
        check_supported(cfg["model"])
    except (BackendRefused, GenerationConfigError) as err:
        raise ConfigError(str(err)) from None


def check_gate_baseline(cfg: dict) -> None:
    """A baseline file's rules are numbers, before anything runs."""
    baseline = cfg["gate"]["baseline"]
    if baseline:
        try:
            check_baseline_file(baseline)
        except BaselineError as err:
            raise ConfigError(str(err)) from None


def check_nodes(cfg: dict) -> None:
    """A multi-node layout that every node can agree on: this node's place inside the job,
    whole data-parallel groups per node (tensor parallelism stays within a node), one Slurm
    task per node."""
    runtime = cfg["runtime"]
    nnodes, node_rank, dp = runtime["nnodes"], runtime["node_rank"], runtime["dp"]
    if node_rank >= nnodes:
        raise ConfigError(f"runtime.node_rank={node_rank}: must be below runtime.nnodes={nnodes}"
                          f" (nodes are numbered 0 .. {nnodes - 1})")
    if nnodes == 1:
        return
    if cfg["runner"]["name"] != "accuracy":
        raise ConfigError(f"runtime.nnodes={nnodes}: runner={cfg['runner']['name']} runs on one "
                          "node; only runner=accuracy spreads over several")
    if dp != "auto" and dp % nnodes:
        raise ConfigError(f"runtime.dp={dp} data-parallel groups cannot be shared evenly by "
                          f"runtime.nnodes={nnodes} nodes: make dp a multiple of nnodes "
                          "(runtime.dp is the whole job's)")
    if slurm.in_job_step() and slurm.step_tasks() != int(os.environ["SLURM_STEP_NUM_NODES"]):
        raise ConfigError(f"srun started {slurm.step_tasks()} tasks on "
                          f"{os.environ['SLURM_STEP_NUM_NODES']} nodes: start one task per node "
                          "(srun --ntasks-per-node=1); each starts its node's workers")


def validate(cfg: dict) -> None:
    """Every check that needs no data and no model; raises ConfigError."""
    check_config(cfg)
    check_nodes(cfg)
    check_prompt_templates(cfg)
    check_gate_baseline(cfg)
    check_optional_packages(cfg)
    check_backend(cfg)
    check_tensor_parallel(cfg)
    if cfg["runner"]["name"] == "train":   # its own settings, before any worker starts
        from runners.train import check_settings
        check_settings(cfg)
