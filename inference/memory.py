"""Peak memory of the device the model runs on (process RSS on CPU)."""
from __future__ import annotations

import resource
import sys

from inference.device import accelerator


def reset_peak(device: str) -> None:
    module = accelerator(device)
    if module is not None:
        module.reset_peak_memory_stats()


def peak_memory_mb(device: str) -> float:
    module = accelerator(device)
    if module is not None:
        return module.max_memory_allocated() / 2**20
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10   # bytes vs KiB
