"""Adapter registry: `model.adapter` in the yaml picks one."""
from __future__ import annotations

from inference.compiled_decode import CompiledDecode, DecodePlan
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
    """The checkpoint's files are there: a one-line error before anything loads."""
    adapter_class(model_cfg).check(model_cfg)


def create_adapter(model_cfg, device, dtype, tp_mesh=None,
                   decode_plan: DecodePlan | None = None) -> ModelAdapter:
    """The loaded adapter; `decode_plan` (inference.compiled_decode.plan_for, from
    runtime.compile) picks its decode path (eager when not given)."""
    adapter = adapter_class(model_cfg)(model_cfg, device, dtype, tp_mesh)
    if decode_plan is not None:
        if adapter.supports_compiled_decode:
            adapter.decode = CompiledDecode(decode_plan)
        else:
            adapter.decode = CompiledDecode.eager(
                decode_plan.setting, f"{type(adapter).__name__} has no decode loop to compile")
    return adapter


__all__ = ["ADAPTERS", "ModelAdapter", "adapter_class", "create_adapter", "check_model", "check_model_path", "ModelPathError"]
