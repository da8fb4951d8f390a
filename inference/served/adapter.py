"""`model.adapter=served`: a model behind an inference server, evaluated like an embedded one.

Requests go out `model.concurrency` at a time (runtime.concurrency by default), each with the
same user turn as the embedded runtime builds (messages for the OpenAI API; the prompt rendered
with the checkpoint's chat template for text-in APIs), greedy, `max_new_tokens` and the stop
strings passed through. Transient failures (connection errors, 429, 5xx, timeouts) are retried
with backoff and counted; a request that still fails, or a reply that is not understood, is
left for a rerun (`retry`) and stops the run after the finished samples are written; a 4xx that
concerns one request (a prompt too long, a bad image) is that sample's error.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from inference.fingerprints import header_sizes, sha256_json
from inference.generation import GenerationConfigError, resolve_generation, stop_ids
from inference.models.base import ModelPathError, cut_at_eos
from inference.models.protocol import (Generation, GenerationClock, ModelAdapter,
                                       PreparedRequest)
from inference.requests import Request
from inference.served.apis import APIS
from inference.served.apis.base import Options, Reply
from inference.served.http import EndpointError, HttpClient, expand_headers
from inference.served.media_rules import image_preparer
from inference.served.prompts import ServedCall, TemplateRenderer, media_url

log = logging.getLogger(__name__)

# the longest text one token decodes to that a reply may average (byte-level vocabularies
# hold runs of spaces or dashes of 16 to 32 characters; 64 leaves room)
MAX_CHARACTERS_PER_TOKEN = 64



class EndpointConfigError(ModelPathError):
    """The served model cannot be used: a bad setting, the server not there, a wrong model
    name. One line naming the key or the endpoint (exit code 2)."""


@dataclass
class ServedPrepared(PreparedRequest):
    call: ServedCall | None = None


@dataclass
class ServedGeneration(Generation):
    """Per-request results: each request has its own latency, and may fail alone."""
    errors: list = field(default_factory=list)             # per row: message or None
    retry: list = field(default_factory=list)              # per row: leave it for a rerun
    e2e_times: list = field(default_factory=list)
    first_token_times: list = field(default_factory=list)
    prompt_tokens: list = field(default_factory=list)

    def row_times(self) -> tuple[list[float], list[float]]:
        return self.e2e_times, self.first_token_times

    def row_errors(self) -> tuple[list[str | None], list[bool]]:
        return self.errors, self.retry


class ServedAdapter(ModelAdapter):
    video_mode = "served"
    model = None          # no local model: runners that need one check for it

    @staticmethod
    def check(model_cfg) -> None:
        api = model_cfg["api"]
        if api not in APIS:
            raise EndpointConfigError(f"model.api={api}: unknown (known: {', '.join(APIS)})")
        endpoint = str(model_cfg.get("endpoint") or "")
        if not endpoint.startswith(("http://", "https://")):
            raise EndpointConfigError(f"model.endpoint={endpoint or 'null'}: not an http(s) URL")
        try:
            expand_headers(model_cfg.get("headers"))
        except ValueError as err:
            raise EndpointConfigError(str(err)) from None
        if APIS[api].text_in and not model_cfg.get("model_path"):
            raise EndpointConfigError(
                f"model.model_path: api={api} sends a prompt rendered with the checkpoint's chat "
                "template; point model_path at the checkpoint (its tokenizer files suffice)")
        path = model_cfg.get("model_path")
        if path and not Path(str(path)).expanduser().is_dir():
            raise EndpointConfigError(f"model.model_path={path}: no such directory")
        try:
            image_preparer(model_cfg)
        except ValueError as err:
            raise EndpointConfigError(str(err)) from None
        settings = _generation(model_cfg)
        unsent = [key for key, value in (("no_repeat_ngram_size", settings.no_repeat_ngram_size),
                                         ("stop_token_ids", settings.stop_token_ids),
                                         ("stop_strings", settings.stop_strings),
                                         ("repetition_penalty", settings.repetition_penalty != 1))
                  if value and key not in APIS[api].sends]
        if unsent:
            raise EndpointConfigError(f"model.generation.{unsent[0]}: api={api} cannot send it "
                                      "to the server, so the server would decode without it")

    def __init__(self, model_cfg, device=None, dtype=None, tp_mesh=None):
        self.check(model_cfg)
        self.cfg = model_cfg
        self.endpoint = str(model_cfg["endpoint"]).rstrip("/")
        self.client = HttpClient(self.endpoint, expand_headers(model_cfg.get("headers")),
                                 timeout=float(model_cfg["timeout"]),
                                 retries=int(model_cfg["retries"]),
                                 backoff=float(model_cfg["backoff"]))
        self.concurrency = max(1, int(model_cfg["concurrency"]))
        self.requests_per_batch = self.concurrency * 4   # per engine batch (one write each)
        self.stream = bool(model_cfg["stream"])
        self.media = str(model_cfg["media"])
        self.generation = _generation(model_cfg)
        self.images = image_preparer(model_cfg)
        try:
            self.api = APIS[model_cfg["api"]](self.client, model_cfg)
        except EndpointError as err:
            raise EndpointConfigError(str(err)) from None
        self.eos_ids = _eos_ids(model_cfg.get("model_path"))
        self.renderer = None
        if self.api.text_in:
            self.renderer = TemplateRenderer(str(model_cfg["model_path"]),
                                             bool(model_cfg["trust_remote_code"]))
        try:
            self.api.preflight()
        except EndpointError as err:
            message = str(err)
            if self.endpoint not in message:
                message = f"model.endpoint={self.endpoint}: {message}"
            raise EndpointConfigError(message) from None
        self.pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="served")
        self._lock = threading.Lock()
        self.requests_sent = 0
        self.requests_failed = 0
        self._broken: EndpointError | None = None

    # -- the adapter protocol -------------------------------------------------------------
    def prepare(self, request: Request) -> ServedPrepared:
        """Encode the media (in the engine's loader threads); raises MediaError."""
        images = [self.images.url(p) if self.images else media_url(p, self.media)
                  for p in request.images]
        call = ServedCall(request.request_id, request.text, images,
                          (self.images.video_url(request.video) if self.images
                           else media_url(request.video, self.media)) if request.video else None)
        if self.renderer is not None:
            call.prompt = self.renderer.render(request.text, len(request.images),
                                               request.video is not None)
            call.image_placeholder = self.renderer.image_placeholder
        return ServedPrepared(request, call=call)

    def build_inputs(self, batch: list[ServedPrepared]) -> list[ServedCall]:
        """The calls prepare() made (the server runs the processor)."""
        return [p.call for p in batch]

    def input_fingerprints(self, batch: list[ServedPrepared], inputs: list[ServedCall]
                           ) -> list[dict]:
        """The server runs the processor: what is known here is the request itself (its text,
        rendered prompt and encoded media) and the images' sizes from their headers."""
        return [{"image_sizes": header_sizes(p.request.images),
                 "request_sha256": sha256_json([call.text, call.prompt, call.images,
                                                call.video])}
                for p, call in zip(batch, inputs)]

    def set_logprobs(self, k: int) -> None:
        if k and not self.api.returns_logprobs:
            raise EndpointConfigError(
                f"runtime.logprobs={k}: model.api={self.api.name} returns no log-probabilities "
                f"(served: {', '.join(n for n, a in APIS.items() if a.returns_logprobs)})")
        super().set_logprobs(k)

    def _generate(self, batch: list[ServedPrepared], inputs: list[ServedCall],
                  max_new_tokens: int, ignore_eos: bool,
                  clock: GenerationClock) -> ServedGeneration:
        """The calls sent `model.concurrency` at a time; each request has its own timings."""
        # room for the JSON and SSE framing of every token of an answer, and no more
        self.client.max_reply_bytes = 65536 + int(max_new_tokens) * MAX_CHARACTERS_PER_TOKEN * 16
        options = Options(int(max_new_tokens), list(self.generation.stop_strings), ignore_eos,
                          self.stream, logprobs=self.logprobs,
                          repetition_penalty=self.generation.repetition_penalty,
                          stop_token_ids=list(self.generation.stop_token_ids))
        self._broken = None      # set by a request that failed for good: the rest stay unsent
        clock.inputs_on_device()
        outcomes = list(self.pool.map(lambda call: self._send(call, options), inputs))
        clock.finish()
        result = ServedGeneration([], [], 0, clock.timings()["e2e_time"], 0.0, 0)
        result.top_logprobs = [] if self.logprobs else None
        for reply, error, e2e, first in outcomes:
            failed = error is not None
            result.texts.append(None if failed else reply.text)
            ids = None if failed or reply.token_ids is None else \
                cut_at_eos(list(reply.token_ids), stop_ids(self.generation, self.eos_ids))
            result.output_ids.append(ids)
            count = 0 if failed else (reply.output_tokens if reply.output_tokens is not None
                                      else len(reply.token_ids or []))
            result.output_tokens.append(count)
            result.errors.append(None if not failed else str(error))
            result.retry.append(failed and error.fatal)
            result.e2e_times.append(e2e)
            result.first_token_times.append(first)
            result.prompt_tokens.append(0 if failed else (reply.prompt_tokens or 0))
            if result.top_logprobs is not None:
                result.top_logprobs.append(None if failed else reply.top_logprobs)
        result.prompt_len = max(result.prompt_tokens, default=0)
        result.first_token_time = min(result.first_token_times, default=0.0)
        result.steps = max(result.output_tokens, default=0)
        return result

    def run_stats(self) -> dict:
        return {"served": {"endpoint": self.endpoint, "api": self.api.name,
                           "served_model": self.api.model, "concurrency": self.concurrency,
                           "requests": self.requests_sent, "failed": self.requests_failed,
                           "retried": self.client.retried}}

    def set_concurrency(self, concurrency: int) -> None:
        """Requests in flight at once from now on (runner=performance sweeps it)."""
        self.pool.shutdown(wait=True)
        self.concurrency = max(1, int(concurrency))
        self.pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="served")

    def close(self) -> None:
        self.pool.shutdown(wait=False)

    # -- one request ------------------------------------------------------------------------
    def _send(self, call: ServedCall, options: Options):
        """(reply, error, e2e seconds, first token seconds); never raises. A reply that is
        not a whole answer (see `_bad_reply`) is asked again, `model.retries` times, and is
        then that sample's error: never an answer."""
        with self._lock:
            if self._broken is not None:
                return None, self._broken, 0.0, 0.0
            self.requests_sent += 1
        start = time.perf_counter()
        for attempt in range(self.client.retries + 1):
            reply, error, first = self._attempt(call, options)
            if error is None:
                bad = self._bad_reply(reply, options)
                if bad is None:
                    end = time.perf_counter()
                    return reply, None, end - start, (first or end) - start
                error = EndpointError(f"{self.endpoint} ({self.api.name}): a bad reply: {bad}",
                                      transient=True, fatal=False)
                error.bad_reply = True
            if not getattr(error, "bad_reply", False) or attempt == self.client.retries:
                break
            with self._lock:     # a bad reply to this request: ask again
                self.client.retried += 1
            log.warning("%s; retry %d of %d", error, attempt + 1, self.client.retries)
        if getattr(error, "bad_reply", False) and self.client.retries:
            error.args = (f"{error.args[0]} (after {self.client.retries} retries)",)
        with self._lock:
            self.requests_failed += 1
            if error.fatal:
                self._broken = error
        return None, error, time.perf_counter() - start, 0.0

    def _attempt(self, call: ServedCall, options: Options):
        """(reply, error, time of the first streamed token) of one request."""
        first = [None]
        try:
            path, payload = self.api.request(call, options)
            if options.stream:
                reply = Reply()

                def on_event(event):
                    if self.api.stream_event(event, reply, call) and first[0] is None:
                        first[0] = time.perf_counter()

                self.client.post_stream(path, payload, self.api.framing, on_event)
            else:
                reply = self.api.parse(self.client.post_json(path, payload), call)
        except EndpointError as err:
            return None, err, None
        return reply, None, first[0]

    def _bad_reply(self, reply: Reply, options: Options) -> str | None:
        """Why `reply` is not a whole answer to a request for `options.max_new_tokens`
        tokens, or None."""
        if reply.null_content:
            return "its content is null"
        if self.api.reports_finish and not reply.finish_reason:
            return "no finish reason (the reply or its stream ended before the answer did)"
        most = options.max_new_tokens
        counts = [("tokens", reply.output_tokens),
                  ("token ids", None if reply.token_ids is None else len(reply.token_ids))]
        for what, count in counts:
            if count is not None and count > most:
                return f"{count} {what} for max_new_tokens={most}"
        if len(reply.text) > most * MAX_CHARACTERS_PER_TOKEN:
            return (f"{len(reply.text)} characters for max_new_tokens={most} (at most "
                    f"{MAX_CHARACTERS_PER_TOKEN} a token)")
        return None


def _generation(model_cfg):
    try:
        return resolve_generation(model_cfg)
    except GenerationConfigError as err:
        raise EndpointConfigError(str(err)) from None


def _eos_ids(model_path) -> list[int]:
    """The checkpoint's end-of-sequence ids (generation_config.json, else config.json), so that
    ids a server returns are cut like the embedded runtime's (before the first EOS)."""
    if not model_path:
        return []
    for name in ("generation_config.json", "config.json"):
        path = Path(str(model_path)) / name
        if not path.is_file():
            continue
        config = json.loads(path.read_text())
        eos = config.get("eos_token_id", (config.get("text_config") or {}).get("eos_token_id"))
        if eos is not None:
            return [eos] if isinstance(eos, int) else list(eos)
    return []
