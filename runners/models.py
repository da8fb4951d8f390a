"""`model.adapter` -> the family's adapter (inference/models/), imported on use: choosing one
family never imports the others. `model.backend` -> what generates with it: the embedded
runtime (the family's class as it is) or vLLM's engine (inference/vllm_backend/), which
takes the family's prompt and media building and replaces its model."""
from __future__ import annotations

from inference.compiled_decode import CompiledDecode, DecodePlan
from inference.generation import GenerationConfigError, GenerationSettings, resolve_generation
from inference.models.protocol import ModelAdapter
from modeltest.registry import Registry, RegistryError
from runners.config import ConfigError

ADAPTERS = Registry("model.adapter", {
    "qwen2_vl": "inference.models.qwen2_vl.adapter:Qwen2VLAdapter",
    # transformers' layout, or OriginalInternVLAdapter for the OpenGVLab one (for_checkpoint)
    "internvl": "inference.models.internvl.adapter:InternVLAdapter",
    "deepseek_vl": "inference.models.deepseek_vl.adapter:DeepseekVLAdapter",
    "deepseek_vl2": "inference.models.deepseek_vl2.adapter:DeepseekVL2Adapter",
    "vlmo": "inference.models.vlmo.adapter:VLMoAdapter",
    "generic": "inference.models.base:ImageTextAdapter",
    "served": "inference.served.adapter:ServedAdapter",
})


def embedded(family: type[ModelAdapter], runtime: dict | None = None) -> type[ModelAdapter]:
    """The embedded runtime: the family's own adapter."""
    return family


# model.backend -> f(family adapter class, runtime section or None) -> the adapter class
BACKENDS = Registry("model.backend", {
    "embedded": embedded,
    "vllm": "inference.vllm_backend.adapter:vllm_adapter",
})


def adapter_class(model_cfg: dict, runtime: dict | None = None) -> type[ModelAdapter]:
    """The adapter class for this model (the family's class for its checkpoint's layout:
    `for_checkpoint`); `runtime` (the run's runtime section) is needed to create one, not to
    check one."""
    try:
        family = ADAPTERS.get(model_cfg["adapter"]).for_checkpoint(model_cfg)
        return BACKENDS.get(model_cfg["backend"])(family, runtime)
    except RegistryError as err:
        raise ConfigError(str(err)) from None


def check_model(model_cfg: dict) -> None:
    """The checkpoint's files are there and the generation settings usable: a one-line error
    before anything loads."""
    adapter_class(model_cfg).check(model_cfg)
    generation_settings(model_cfg)


def generation_settings(model_cfg: dict) -> GenerationSettings:
    """The effective generation settings of this model config (model.generation, and the
    checkpoint's generation_config.json with from_checkpoint); a one-line ConfigError naming
    the key on a bad value. Reads only small JSON files."""
    try:
        return resolve_generation(model_cfg, adapter_class(model_cfg).classifier)
    except GenerationConfigError as err:
        raise ConfigError(str(err)) from None


def backend_version(model_cfg: dict) -> str | None:
    """The installed version of the engine model.backend names (None: the embedded runtime,
    this project's own code); read from package metadata, nothing is imported."""
    if model_cfg["backend"] == "vllm":
        from inference.vllm_backend.support import installed_version

        return installed_version()
    return None


def create_adapter(model_cfg: dict, device, dtype, tp_mesh=None,
                   runtime: dict | None = None,
                   decode_plan: DecodePlan | None = None) -> ModelAdapter:
    """The loaded adapter; `decode_plan` (inference.compiled_decode.plan_for, from
    runtime.compile) picks the embedded runtime's decode path (eager when not given)."""
    adapter = adapter_class(model_cfg, runtime)(model_cfg, device, dtype, tp_mesh)
    if decode_plan is not None:
        if model_cfg["backend"] != "embedded":
            adapter.decode = CompiledDecode.eager(
                decode_plan.setting, f"model.backend={model_cfg['backend']} decodes in its own "
                "engine")
        elif adapter.supports_compiled_decode:
            adapter.decode = CompiledDecode(decode_plan)
        else:
            adapter.decode = CompiledDecode.eager(
                decode_plan.setting, f"{type(adapter).__name__} has no decode loop to compile")
    return adapter
