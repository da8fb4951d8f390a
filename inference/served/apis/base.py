"""What every request format implements: the request for one call, reading a reply, reading
one streamed event, and a check before the run that the server and the model are there."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from inference.served.http import EndpointError, HttpClient
from inference.served.prompts import ServedCall


@dataclass
class Reply:
    text: str = ""
    token_ids: list[int] | None = None     # generated ids, when the server returns them
    prompt_tokens: int | None = None
    output_tokens: int | None = None
    finish_reason: str | None = None
    # runtime.logprobs: per generated step, the server's top-k as [token, log-prob] (token an
    # id where the server names tokens by id, else its text)
    top_logprobs: list | None = None
    null_content: bool = False             # the reply said `content: null`


@dataclass
class Options:
    max_new_tokens: int
    stop: list[str]
    ignore_eos: bool = False
    stream: bool = False
    logprobs: int = 0          # top-k log-probabilities per generated step (0: not asked)
    # model.generation's token-changing settings, sent in every request so that a server's
    # own defaults (vLLM applies the checkpoint's generation_config.json) cannot differ
    repetition_penalty: float = 1.0
    stop_token_ids: list[int] = field(default_factory=list)


class ServedApi(ABC):
    name = ""
    framing = "sse"            # how streamed events are delimited: "sse" or "nul"
    text_in = True             # the prompt is rendered here with the checkpoint's template
    returns_logprobs = False   # answers runtime.logprobs (top-k log-probabilities per step)
    # model.generation settings a request of this API can carry besides max_new_tokens and
    # greedy decoding; a run that sets another one is refused (it could not be honoured)
    sends = ("repetition_penalty", "stop_strings")
    # its replies end with a finish reason (a streamed one in its last event): a reply
    # without one was cut before its end
    reports_finish = False

    def __init__(self, client: HttpClient, model_cfg: dict):
        self.client = client
        self.model = model_cfg.get("served_model")
        self.extra = dict(model_cfg.get("extra_body") or {})

    def preflight(self) -> None:
        """Raise EndpointError when the server or the model is not there."""

    @abstractmethod
    def request(self, call: ServedCall, options: Options) -> tuple[str, dict]:
        """(path, JSON body) of one call."""

    @abstractmethod
    def parse(self, data, call: ServedCall) -> Reply:
        """A whole (non-streamed) reply."""

    @abstractmethod
    def stream_event(self, event: dict, reply: Reply, call: ServedCall) -> str:
        """Fold one streamed event into `reply`; the new text."""

    # shared helpers
    def fail(self, what: str, data) -> EndpointError:
        return EndpointError(f"{self.client.endpoint} ({self.name}): {what}: "
                             f"{str(data)[:200]}")

    def check_error(self, data) -> None:
        if isinstance(data, dict) and data.get("error"):
            error = data["error"]
            if isinstance(error, dict):
                error = error.get("message", error)
            raise EndpointError(f"{self.client.endpoint} ({self.name}): server error: "
                                f"{' '.join(str(error).split())[:300]}")
