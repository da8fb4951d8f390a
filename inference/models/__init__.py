"""Adapter registry: `model.adapter` in the yaml picks one."""
from __future__ import annotations

from inference.generation import GenerationConfigError, GenerationSettings, resolve_generation
from inference.models.base import ImageTextAdapter, ModelPathError, check_model_path
from inference.models.deepseek_vl import DeepseekVLAdapter
from inference.models.deepseek_vl2 import DeepseekVL2Adapter
from inference.models.internvl import InternVLAdapter
from inference.models.protocol import ModelAdapter
from inference.models.qwen2_vl import Qwen2VLAdapter
from inference.models.vlmo import VLMoAdapter

ADAPTERS = {
    "qwen2_vl": Qwen2VLAdapter,
    "internvl": InternVLAdapter,
    "deepseek_vl": DeepseekVLAdapter,
    "generic": ImageTextAdapter,
    "vlmo": VLMoAdapter,
    "deepseek_vl2": DeepseekVL2Adapter,
    "served": "inference.served.adapter:ServedAdapter",   # imported on use (no cycle)
}


def adapter_class(model_cfg):
    name = model_cfg.get("adapter", "generic")
    if name not in ADAPTERS:
        raise ModelPathError(f"model.adapter={name}: unknown (known: {', '.join(ADAPTERS)})")
    if isinstance(ADAPTERS[name], str):
        import importlib

        module, _, attribute = ADAPTERS[name].partition(":")
        ADAPTERS[name] = getattr(importlib.import_module(module), attribute)
    return ADAPTERS[name]


def check_model(model_cfg) -> None:
    """The checkpoint's files are there and the generation settings usable: a one-line error
    before anything loads."""
    adapter = adapter_class(model_cfg)
    adapter.check(model_cfg)
    generation_settings(model_cfg)


def generation_settings(model_cfg) -> GenerationSettings:
    """The effective generation settings of this model config (model.generation, and the
    checkpoint's generation_config.json with from_checkpoint); GenerationConfigError (a
    ValueError, one line naming the key) on a bad value. Reads only small JSON files."""
    try:
        return resolve_generation(model_cfg, adapter_class(model_cfg).classifier)
    except GenerationConfigError as err:
        raise ModelPathError(str(err)) from None


def create_adapter(model_cfg, device, dtype, tp_mesh=None) -> ModelAdapter:
    return adapter_class(model_cfg)(model_cfg, device, dtype, tp_mesh)


__all__ = ["ADAPTERS", "ModelAdapter", "adapter_class", "create_adapter", "check_model",
           "check_model_path", "generation_settings", "ModelPathError"]
