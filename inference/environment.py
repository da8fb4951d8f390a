"""The environment a run's numbers came from: library and driver versions, the device, and the
settings that change floating-point results (deterministic collectives, ATB kernels, cuBLAS
workspaces, TF32). Written into summary.json so that a comparison of two runs can list what
differs before it looks at a single sample."""
from __future__ import annotations

import os
import platform
import re
from importlib import metadata
from pathlib import Path

import torch

# environment variables that change numerics; ATB_* and ASCEND_* taken as a family
NUMERICS_VARIABLES = ("HCCL_DETERMINISTIC", "LCCL_DETERMINISTIC", "CUBLAS_WORKSPACE_CONFIG",
                      "NVIDIA_TF32_OVERRIDE", "TORCH_ALLOW_TF32_CUBLAS_OVERRIDE",
                      "OMP_NUM_THREADS", "MKL_NUM_THREADS")
NUMERICS_PREFIXES = ("ATB_", "ASCEND_LAUNCH_BLOCKING", "INF_NAN_MODE")
CANN_VERSION_FILES = ("{home}/version.cfg", "{home}/ascend_toolkit_install.info",
                      "{home}/compiler/version.info")
DRIVER_FILES = {"nvidia": "/proc/driver/nvidia/version",
                "ascend": "/usr/local/Ascend/driver/version.info"}


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _first_line_matching(path: str, pattern: str) -> str | None:
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return None
    match = re.search(pattern, text)
    return match.group(1).strip() if match else None


def _cann_version() -> str | None:
    home = os.environ.get("ASCEND_TOOLKIT_HOME") or "/usr/local/Ascend/ascend-toolkit/latest"
    for template in CANN_VERSION_FILES:
        found = _first_line_matching(template.format(home=home),
                                     r"(?:version|Version)\s*[=:]\s*([^\n]+)")
        if found:
            return found
    return None


def _cpu_name() -> str:
    found = _first_line_matching("/proc/cpuinfo", r"model name\s*:\s*([^\n]+)")
    return found or platform.processor() or platform.machine()


def _device(device: str) -> dict:
    if device.startswith("cuda") and torch.cuda.is_available():
        index = torch.device(device).index or 0
        return {"name": torch.cuda.get_device_name(index),
                "capability": ".".join(map(str, torch.cuda.get_device_capability(index))),
                "count": torch.cuda.device_count()}
    if device.startswith("npu") and hasattr(torch, "npu"):
        index = torch.device(device).index or 0
        return {"name": torch.npu.get_device_name(index), "count": torch.npu.device_count()}
    return {"name": _cpu_name(), "threads": torch.get_num_threads()}


def _numerics_flags() -> dict:
    flags = {"float32_matmul_precision": torch.get_float32_matmul_precision(),
             "deterministic_algorithms": torch.are_deterministic_algorithms_enabled()}
    if torch.backends.cuda.is_built():
        flags["cuda_matmul_allow_tf32"] = torch.backends.cuda.matmul.allow_tf32
        flags["cudnn_allow_tf32"] = torch.backends.cudnn.allow_tf32
        flags["cudnn_deterministic"] = torch.backends.cudnn.deterministic
        flags["cudnn_benchmark"] = torch.backends.cudnn.benchmark
    return flags


def environment_manifest(device: str) -> dict:
    """Versions, the device and the numerics settings of this process."""
    variables = {name: os.environ[name] for name in NUMERICS_VARIABLES if name in os.environ}
    variables.update({name: value for name, value in sorted(os.environ.items())
                      if name.startswith(NUMERICS_PREFIXES)})
    versions = {"python": platform.python_version(), "torch": torch.__version__,
                "transformers": _version("transformers"), "torch_npu": _version("torch_npu"),
                "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version()
                if torch.backends.cudnn.is_available() else None, "cann": _cann_version()}
    drivers = {kind: _first_line_matching(path, r"(?:Kernel Module|Version=|version=)\s*"
                                                r"([0-9][^\s]*)")
               for kind, path in DRIVER_FILES.items()}
    return {"device": device, "device_info": _device(device),
            "versions": {k: v for k, v in versions.items() if v is not None},
            "drivers": {k: v for k, v in drivers.items() if v is not None},
            "numerics_variables": variables, "numerics_flags": _numerics_flags()}
