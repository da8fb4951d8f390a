"""What the engine is asked to do, and what it answers."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Request:
    request_id: str
    text: str                           # user text, before the model's chat template
    images: list[str] = field(default_factory=list)
    video: str | None = None
    max_new_tokens: int = 32


@dataclass
class Response:
    request_id: str
    text: str | None
    error: str | None = None
    num_input_tokens: int = 0           # padded prompt length of its batch
    num_output_tokens: int = 0
    e2e_time: float = 0.0               # seconds for the batch this request ran in
    first_token_time: float = 0.0       # seconds until its batch's first token
    output_ids: list[int] | None = None  # generated ids, cut at end of sequence
    top_answers: list | None = None     # classifiers: [[answer, logit], ...], best first
    input_fingerprint: dict | None = None   # what the model was given (inference.fingerprints)
    top_logprobs: list | None = None    # runtime.logprobs: per step [[token, log-prob], ...]
    retry: bool = False                 # not the sample's fault (a served endpoint failed):
                                        # left for a rerun instead of recorded
