"""Request formats of inference servers, one module each; `model.api` picks one."""
from __future__ import annotations

from inference.served.apis.base import Reply, ServedApi
from inference.served.apis.mindie import MindieApi
from inference.served.apis.openai import OpenAIApi
from inference.served.apis.tgi import TgiApi
from inference.served.apis.triton import TritonApi
from inference.served.apis.vllm_generate import VllmGenerateApi

APIS: dict[str, type[ServedApi]] = {
    "openai": OpenAIApi,
    "vllm_generate": VllmGenerateApi,
    "tgi": TgiApi,
    "triton": TritonApi,
    "mindie": MindieApi,
}

__all__ = ["APIS", "Reply", "ServedApi"]
