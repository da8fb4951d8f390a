"""`model.adapter` -> the family's adapter (inference/models/), imported on use: choosing one
family never imports the others."""
from __future__ import annotations

from inference.generation import GenerationConfigError, GenerationSettings, resolve_generation
from inference.models.protocol import ModelAdapter
from modeltest.registry import Registry, RegistryError
from runners.config import ConfigError

ADAPTERS = Registry("model.adapter", {
    "qwen2_vl": "inference.models.qwen2_vl:Qwen2VLAdapter",
    "internvl": "inference.models.internvl:InternVLAdapter",
    "deepseek_vl": "inference.models.deepseek_vl:DeepseekVLAdapter",
    "deepseek_vl2": "inference.models.deepseek_vl2:DeepseekVL2Adapter",
    "vlmo": "inference.models.vlmo:VLMoAdapter",
    "generic": "inference.models.base:ImageTextAdapter",
    "served": "inference.served.adapter:ServedAdapter",
})


def adapter_class(model_cfg: dict) -> type[ModelAdapter]:
    try:
        return ADAPTERS.get(model_cfg["adapter"])
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


def create_adapter(model_cfg: dict, device, dtype, tp_mesh=None) -> ModelAdapter:
    return adapter_class(model_cfg)(model_cfg, device, dtype, tp_mesh)
