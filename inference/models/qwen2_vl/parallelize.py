"""Qwen2-VL's own tensor-parallel plan: its vision tower (fused-qkv blocks and the patch
merger's MLP), which other families keep whole. The language model and any vision MLP are split
by the shared plans of inference.tensor_parallel, whose `default_plan` adds this one (found by
the tower's layout, so a model of the same layout under model.adapter=generic is split too)."""
from __future__ import annotations

from torch import nn

from inference.tensor_parallel import COLUMN, PACKED_QKV, ROW


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
