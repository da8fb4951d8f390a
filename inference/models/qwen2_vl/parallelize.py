"""Qwen2-VL's tensor-parallel plan: the language model as every family's, and its vision
tower too (fused-qkv blocks and the patch merger's MLP), which other families keep whole."""
from __future__ import annotations

from torch import nn

from inference.tensor_parallel import COLUMN, PACKED_QKV, ROW, default_plan


def qwen2_vl_vision_plan(model: nn.Module, size: int) -> dict[str, str]:
    """Qwen2-VL's vision blocks (fused qkv, proj, fc1/fc2) and its patch merger's MLP."""
    plan: dict[str, str] = {}
    for name, module in model.named_modules():
        attn, mlp = getattr(module, "attn", None), getattr(module, "mlp", None)
        if attn is None or not all(hasattr(attn, a) for a in ("qkv", "proj", "num_heads")) \
                or mlp is None or not (hasattr(mlp, "fc1") and hasattr(mlp, "fc2")):
            continue
        if attn.num_heads % size or mlp.fc1.out_features % size:
            return {}        # cannot split evenly: keep the tower whole
        plan.update({f"{name}.attn.qkv": PACKED_QKV, f"{name}.attn.proj": ROW,
                     f"{name}.mlp.fc1": COLUMN, f"{name}.mlp.fc2": ROW})
    for name, module in model.named_modules():
        sequential = getattr(module, "mlp", None)
        if type(module).__name__.endswith("PatchMerger") and isinstance(sequential, nn.Sequential) \
                and len(sequential) == 3 and sequential[0].out_features % size == 0:
            plan.update({f"{name}.mlp.0": COLUMN, f"{name}.mlp.2": ROW})
    return plan


def tp_plan(model: nn.Module, size: int) -> dict[str, str]:
    """The language model, the vision tower by `qwen2_vl_vision_plan`, the rest of its MLPs."""
    return default_plan(model, size, qwen2_vl_vision_plan(model, size))
