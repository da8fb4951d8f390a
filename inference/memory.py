"""Peak memory of the device the model runs on (process RSS on CPU)."""
from __future__ import annotations

import resource
import sys

import torch


def reset_peak(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    elif device.startswith("npu"):
        torch.npu.reset_peak_memory_stats()


def peak_memory_mb(device: str) -> float:
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**20
    if device.startswith("npu"):
        return torch.npu.max_memory_allocated() / 2**20
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10   # bytes vs KiB
