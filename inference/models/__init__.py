"""Adapter registry: `model.adapter` in the yaml picks one."""
from __future__ import annotations

from inference.models.base import ImageTextAdapter, ModelPathError, check_model_path
from inference.models.deepseek_vl import DeepseekVLAdapter
from inference.models.internvl import InternVLAdapter
from inference.models.qwen2_vl import Qwen2VLAdapter

ADAPTERS = {
    "qwen2_vl": Qwen2VLAdapter,
    "internvl": InternVLAdapter,
    "deepseek_vl": DeepseekVLAdapter,
    "generic": ImageTextAdapter,
}


def create_adapter(model_cfg, device, dtype, tp_mesh=None) -> ImageTextAdapter:
    name = model_cfg.get("adapter", "generic")
    if name not in ADAPTERS:
        raise KeyError(f"model.adapter={name}: unknown (known: {', '.join(ADAPTERS)})")
    return ADAPTERS[name](model_cfg, device, dtype, tp_mesh)


__all__ = ["ADAPTERS", "create_adapter", "check_model_path", "ModelPathError"]
