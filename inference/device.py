"""Device choice (npu > cuda > cpu), dtypes, and the one helper that maps a device string to
its torch module (torch.cuda / torch.npu), so no other module needs a cuda/npu if-chain."""
from __future__ import annotations

import torch

DTYPES = {"bf16": torch.bfloat16, "bfloat16": torch.bfloat16, "fp16": torch.float16,
          "float16": torch.float16, "fp32": torch.float32, "float32": torch.float32}


def npu_available() -> bool:
    try:
        import torch_npu  # noqa: F401  (registers the npu device)
    except Exception:  # ImportError, or an OSError/RuntimeError without CANN
        return False
    return hasattr(torch, "npu") and torch.npu.is_available()


def pick_device(requested: str | None = None) -> str:
    """`runtime.device` when given ("npu", "cuda", "cpu"), else the best available."""
    if requested and requested != "auto":
        if requested.startswith("npu") and not npu_available():
            raise RuntimeError("runtime.device=npu but torch_npu is not usable here")
        if requested.startswith("cuda") and not torch.cuda.is_available():
            raise RuntimeError("runtime.device=cuda but no CUDA device is visible")
        return requested
    if npu_available():
        return "npu"
    if torch.cuda.is_available():
        return "cuda"
    return "cpu"


def resolve_dtype(name: str, device: str) -> torch.dtype:
    if name not in DTYPES:
        raise ValueError(f"model.dtype={name}: unknown (use bf16, fp16 or fp32)")
    dtype = DTYPES[name]
    if device == "cpu" and dtype == torch.float16:
        raise ValueError("model.dtype=fp16 is not supported for generation on cpu; use fp32 or bf16")
    if device.startswith("cuda") and dtype == torch.bfloat16 and not torch.cuda.is_bf16_supported():
        raise ValueError("model.dtype=bf16 is not supported by this GPU; use fp16 or fp32")
    return dtype


def accelerator(device: str | None):
    """torch.cuda or torch.npu for a device string ("cuda", "npu:1"); None for the CPU."""
    kind = str(device or "cpu").split(":")[0]
    return getattr(torch, kind) if kind in ("cuda", "npu") else None


def synchronize(device: str | None) -> None:
    """Wait for the device's queued kernels (CUDA/NPU run asynchronously); no-op on CPU."""
    module = accelerator(device)
    if module is not None:
        module.synchronize()
