"""The config's structured schema: the type and range of every key the code reads, checked at
start-up before any data or model loads (a one-line error naming the key, exit code 2).

The defaults themselves live in conf/ only; a schema class says what a value may be, never
what it is by default. Each field's type is its annotation (int, float, bool, str, a Literal,
Optional[...], list[...], dict); `check()` in the metadata narrows it further:
`at_least(n)`, `between(a, b)`, `matching(pattern)`. Keys a schema does not list are left
alone (a family's or a hook's own keys are checked by that family or hook).
"""
from __future__ import annotations

import dataclasses
import re
import typing
from dataclasses import dataclass, field
from typing import Any, Literal, Optional, Union

from inference.compiled_decode import SETTINGS as COMPILE_SETTINGS
from runners.config import ConfigError


# -- value checks ------------------------------------------------------------------------------
def at_least(minimum: float):
    def check(value, key):
        if value < minimum:
            raise ConfigError(f"{key}={value}: must be at least {minimum}")
    return check


def above(minimum: float):
    def check(value, key):
        if value <= minimum:
            raise ConfigError(f"{key}={value}: must be above {minimum}")
    return check


def strictly_between(low: float, high: float):
    def check(value, key):
        if not low < value < high:
            raise ConfigError(f"{key}={value}: must be above {low} and below {high}")
    return check


def between(low: float, high: float):
    def check(value, key):
        if not low <= value <= high:
            raise ConfigError(f"{key}={value}: must be between {low} and {high}")
    return check


def matching(pattern: str, what: str):
    compiled = re.compile(pattern)

    def check(value, key):
        if not compiled.fullmatch(str(value)):
            raise ConfigError(f"{key}={value}: unknown ({what})")
    return check


def one_of(words: tuple[str, ...]):
    def check(value, key):
        if isinstance(value, bool):   # YAML 1.1 reads an unquoted on/off as true/false
            raise ConfigError(f"{key}={value}: write it as a quoted word "
                              f"({', '.join(repr(w) for w in words)})")
        if value not in words:
            raise ConfigError(f"{key}={value}: unknown (use {', '.join(words)})")
    return check


def checked(check=None, each=None) -> Any:
    """A schema field with a value check (on the value, or on each list item)."""
    return field(metadata={"check": check, "each": each})


# -- the schema ------------------------------------------------------------------------------------
@dataclass
class VLLMEngine:
    max_model_len: Optional[int] = checked(at_least(1))
    gpu_memory_utilization: float = checked(between(0.01, 1))
    kv_cache_memory_bytes: Optional[int] = checked(at_least(1))
    enforce_eager: bool = checked()


@dataclass
class Runtime:
    device: str = checked(matching(r"auto|cpu|(npu|cuda)(:\d+)?", "use auto, npu, cuda, cpu"))
    tp: int = checked(at_least(1))
    dp: Union[int, Literal["auto"]] = checked(at_least(1))
    nnodes: int = checked(at_least(1))
    node_rank: int = checked(at_least(0))
    master_addr: str = checked(matching(r"[A-Za-z0-9_.:\-\[\]]+", "a host name or address"))
    master_port: int = checked(between(1, 65535))
    join_timeout: float = checked(above(0))
    node_timeout: float = checked(above(0))
    batch_size: int = checked(at_least(1))
    warm_up: bool = checked()
    # the decode path (inference/compiled_decode.py); Any: a YAML on/off arrives as a bool,
    # which one_of names
    compile: Any = checked(one_of(COMPILE_SETTINGS))
    loader_workers: int = checked(at_least(1))
    video_cache_entries: int = checked(at_least(0))
    video_cache_mb: int = checked(at_least(0))
    resume: bool = checked()
    max_error_rate: float = checked(between(0, 1))
    concurrency: int = checked(at_least(1))
    logprobs: int = checked(at_least(0))
    verify_weights: bool = checked()
    max_image_pixels: int = checked(at_least(1))
    vllm: VLLMEngine = checked()


@dataclass
class Generation:
    max_new_tokens: Optional[int] = checked(at_least(1))
    repetition_penalty: float = checked(above(0))
    no_repeat_ngram_size: int = checked(at_least(0))
    stop_token_ids: list[int] = checked(each=at_least(0))
    stop_strings: list[str] = checked()
    from_checkpoint: bool = checked()


@dataclass
class Model:
    name: str = checked()
    adapter: str = checked()
    backend: Literal["embedded", "vllm"] = checked()
    model_path: Optional[str] = checked()
    dtype: Literal["bf16", "bfloat16", "fp16", "float16", "fp32", "float32"] = checked()
    trust_remote_code: bool = checked()
    prompts: dict = checked()
    generation: Generation = checked()
    stop_strings: Optional[list[str]] = checked()


def known_prepare_rule(value, key):
    from inference.served.media_rules import RULES

    if value not in RULES:
        raise ConfigError(f"{key}={value}: unknown (known: {', '.join(RULES)}, or null)")


@dataclass
class ServedModel(Model):
    """model.adapter=served: the endpoint's settings (conf/model/served.yaml)."""
    endpoint: str = checked()
    api: str = checked()
    served_model: Optional[str] = checked()
    headers: dict = checked()
    timeout: float = checked(above(0))
    retries: int = checked(at_least(0))
    backoff: float = checked(at_least(0))
    concurrency: int = checked(at_least(1))
    stream: bool = checked()
    media: Literal["base64", "file"] = checked()
    extra_body: Optional[dict] = checked()
    return_token_ids: bool = checked()
    prepare_as: Optional[str] = checked(known_prepare_rule)


@dataclass
class Aggregation:
    groups: Optional[dict] = checked()
    final: Optional[Literal["mean_of_groups"]] = checked()
    hook: Optional[str] = checked()
    headline: list[str] = checked()


@dataclass
class Task:
    name: str = checked()
    format: Optional[str] = checked()
    default_format: str = checked()
    local_dataset_path: Optional[str] = checked()
    data_split: Optional[str] = checked()
    columns: dict = checked()
    subject_field: Optional[str] = checked()
    subject_separator: Optional[str] = checked()
    record_fields: list[str] = checked()
    limit: Optional[int] = checked(at_least(1))
    skip_bad_lines: bool = checked()
    prompt_template: str = checked()
    prompt_fields: list[str] = checked()
    prompt_hook: Optional[str] = checked()
    image_markers: bool = checked()
    max_new_tokens: int = checked(at_least(1))
    answer_start: str = checked()
    scorer: str = checked()
    aggregation: Aggregation = checked()
    submission: Optional[dict] = checked()
    predictions_reader: Optional[str] = checked()
    answer_baselines: list[str] = checked()
    train: Optional[dict] = checked()
    demo_builder: Optional[str] = checked()


@dataclass
class Judge:
    model: Optional[str] = checked()
    weights: Optional[str] = checked()
    config: Optional[str] = checked()
    batch_size: int = checked(at_least(1))


@dataclass
class AccuracyRunner:
    name: str = checked()
    folder: str = checked()
    judge: Judge = checked()


@dataclass
class ScoreRunner:
    name: str = checked()
    folder: str = checked()
    predictions: Optional[str] = checked()
    allow_partial: bool = checked()
    judge: Judge = checked()


@dataclass
class GateRunner:
    name: str = checked()
    folder: str = checked()
    summary: Optional[str] = checked()


@dataclass
class PerformanceRunner:
    name: str = checked()
    folder: str = checked()
    batch_sizes: list[int] = checked(each=at_least(1))
    max_output_length: int = checked(at_least(1))
    warmup: int = checked(at_least(0))
    repeats: int = checked(at_least(1))
    max_latency_ms: Optional[float] = checked(above(0))
    max_batch_size: int = checked(at_least(1))


@dataclass
class ClipCompareRunner:
    name: str = checked()
    folder: str = checked()
    predictions_a: Optional[str] = checked()
    predictions_b: Optional[str] = checked()
    labels: list[str] = checked()
    judge: Judge = checked()
    tolerance: float = checked(at_least(0))
    tie_margin: float = checked(at_least(0))
    bootstrap: int = checked(at_least(1))


@dataclass
class KLCriterion:
    token_kl: float = checked(above(0))
    token_share: float = checked(strictly_between(0, 1))
    max_kl: float = checked(above(0))


@dataclass
class CompareRunner:
    name: str = checked()
    folder: str = checked()
    a: Optional[str] = checked()
    b: Optional[str] = checked()
    labels: list[str] = checked()
    margin: float = checked(above(0))
    require: Literal["not_worse", "equivalent"] = checked()
    allow_mismatch: bool = checked()
    bootstrap: int = checked(at_least(1))
    seed: int = checked(at_least(0))
    power: float = checked(strictly_between(0, 1))
    kl: KLCriterion = checked()
    decode_tokens: bool = checked()


@dataclass
class TrainRunner:
    name: str = checked()
    folder: str = checked()
    trainable: Literal["full", "language"] = checked()
    dtype: Literal["bf16", "bfloat16", "fp16", "float16", "fp32", "float32"] = checked()
    autocast: Literal["auto", "bf16", "none"] = checked()
    micro_batch_size: int = checked(at_least(1))
    grad_accum: int = checked(at_least(1))
    max_steps: Optional[int] = checked(at_least(1))
    epochs: float = checked(above(0))
    learning_rate: float = checked(above(0))
    vision_learning_rate: Optional[float] = checked(above(0))
    weight_decay: float = checked(at_least(0))
    betas: list[float] = checked(each=strictly_between(0, 1))
    eps: float = checked(above(0))
    warmup_steps: int = checked(at_least(0))
    schedule: Literal["cosine", "linear", "constant"] = checked()
    min_lr_ratio: float = checked(between(0, 1))
    max_grad_norm: Optional[float] = checked(above(0))
    limit: Optional[int] = checked(at_least(1))
    subjects: Optional[list[str]] = checked()
    save_every: int = checked(at_least(1))
    log_every: int = checked(at_least(1))
    save_dir: Optional[str] = checked()


@dataclass
class Gate:
    baseline: Optional[str] = checked()
    write_baseline: Optional[str] = checked()
    tolerance: float = checked(at_least(0))


@dataclass
class Report:
    thumbnails: bool = checked()


@dataclass
class Root:
    output_dir: str = checked()
    seed: int = checked()
    gate: Gate = checked()
    report: Report = checked()
    runtime: Runtime = checked()
    model: Model = checked()
    task: Task = checked()


# runner.name -> its schema; a runner registered without one is checked for its name only
RUNNER_SCHEMAS: dict[str, type] = {
    "accuracy": AccuracyRunner, "score": ScoreRunner, "gate": GateRunner,
    "performance": PerformanceRunner, "clip_compare": ClipCompareRunner,
    "compare": CompareRunner, "train": TrainRunner,
}


# -- the checker --------------------------------------------------------------------------------------
def _type_name(annotation) -> str:
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return " or ".join(repr(a) for a in typing.get_args(annotation))
    if origin is Union:
        return " or ".join(_type_name(a) for a in typing.get_args(annotation)
                           if a is not type(None))
    if origin is list:
        return f"a list of {_type_name(typing.get_args(annotation)[0])}"
    if dataclasses.is_dataclass(annotation):
        return "a mapping"
    return {int: "a whole number", float: "a number", bool: "true or false", str: "a string",
            dict: "a mapping", Any: "anything"}.get(annotation, str(annotation))


def _type_error(annotation) -> str:
    """What is wrong with a value of the wrong type, in the words the checks always used."""
    plain = [a for a in typing.get_args(annotation) if a is not type(None)] \
        if typing.get_origin(annotation) is Union else [annotation]
    plain = [a for a in plain if typing.get_origin(a) is not Literal] or plain
    if plain == [int]:
        return "not a whole number"
    if plain == [float]:
        return "not a number"
    if plain == [bool]:
        return "not true or false"
    return f"must be {_type_name(annotation)}"


def _matches(value, annotation) -> bool:
    origin = typing.get_origin(annotation)
    if annotation is Any:
        return True
    if value is None:
        return origin is Union and type(None) in typing.get_args(annotation)
    if origin is Union:
        return any(_matches(value, a) for a in typing.get_args(annotation) if a is not type(None))
    if origin is Literal:
        return value in typing.get_args(annotation)
    if origin is list:
        item = typing.get_args(annotation)[0]
        return isinstance(value, list) and all(_matches(v, item) for v in value)
    if dataclasses.is_dataclass(annotation) or annotation is dict:
        return isinstance(value, dict)
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is str:
        return isinstance(value, str)
    return isinstance(value, annotation)


def _is_word(value, annotation) -> bool:
    """`value` is one of the words a Literal inside a Union allows (e.g. dp: auto)."""
    if typing.get_origin(annotation) is not Union:
        return False
    return any(typing.get_origin(a) is Literal and value in typing.get_args(a)
               for a in typing.get_args(annotation))


def check_section(values: Any, schema: type, prefix: str) -> None:
    """Every field of `schema` present in `values`, of its type and in its range."""
    if not isinstance(values, dict):
        raise ConfigError(f"{prefix.rstrip('.')}: expected a mapping, got {values!r}")
    hints = typing.get_type_hints(schema)
    for item in dataclasses.fields(schema):
        key = f"{prefix}{item.name}"
        if item.name not in values:
            raise ConfigError(f"{key}: missing (every config key has its default in conf/)")
        value, annotation = values[item.name], hints[item.name]
        if not _matches(value, annotation):
            raise ConfigError(f"{key}={value}: {_type_error(annotation)}")
        if dataclasses.is_dataclass(annotation):
            check_section(value, annotation, f"{key}.")
            continue
        if (value is None and annotation is not Any) or _is_word(value, annotation):
            continue   # null where Optional allows it, or the word of an int-or-word key
                       # (dp: auto); an Any key's check judges null itself
        check, each = item.metadata.get("check"), item.metadata.get("each")
        if check is not None:
            check(value, key)
        if each is not None:
            for index, element in enumerate(value):
                each(element, f"{key}[{index}]")


# model.adapter -> a schema with the family's own keys (the rest: Model's)
MODEL_SCHEMAS: dict[str, type] = {"served": ServedModel}


def check_config(cfg: dict) -> None:
    """The whole composed config against the schema; ConfigError on the first bad value."""
    check_section(cfg, Root, "")
    model = MODEL_SCHEMAS.get(cfg["model"]["adapter"])
    if model is not None:
        check_section(cfg["model"], model, "model.")
    runner = cfg.get("runner")
    if not isinstance(runner, dict) or not isinstance(runner.get("name"), str):
        raise ConfigError("runner.name: missing (choose runner=<name>)")
    schema = RUNNER_SCHEMAS.get(runner["name"])
    if schema is not None:
        check_section(runner, schema, "runner.")
