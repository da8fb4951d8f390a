"""Batched generation: requests bucketed by input length into batches; while one batch
generates, background workers decode the next batch's media and build its inputs (the
processor: resizing, tiling, tokenising), so the main thread only copies inputs to the device
and runs the model; a warm-up before timing; a failing sample never sinks its batch."""
from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

from inference.media import MediaError
from inference.models.protocol import BuiltInputs, ModelAdapter, PreparedRequest
from inference.requests import Request, Response

log = logging.getLogger(__name__)


def length_buckets(requests: list[Request], batch_size: int,
                   length: Callable[[Request], int] | None = None) -> list[list[Request]]:
    """Batches of similar model input length (less padding), by `length` (the adapter's
    estimate including image and video tokens; text characters without one); callers
    restore order by id."""
    def measure(request: Request) -> int:
        if length is not None:
            try:
                return int(length(request))
            except Exception:   # a missing or bad file: its error comes from prepare()
                pass
        return len(request.text)

    lengths = {id(r): measure(r) for r in requests}
    # questions on one video stay together (ordered among videos by their shortest input),
    # so that the per-run video cache holds each video only while its questions run
    per_video: dict[str, int] = {}
    for r in requests:
        if r.video is not None:
            per_video[r.video] = min(per_video.get(r.video, lengths[id(r)]), lengths[id(r)])
    ordered = sorted(requests, key=lambda r: (
        len(r.images), r.video is not None,
        (per_video[r.video], r.video) if r.video is not None else (0, ""), lengths[id(r)]))
    return [ordered[i:i + batch_size] for i in range(0, len(ordered), batch_size)]


@dataclass
class StagedBatch:
    """A batch made ready by the background workers: its requests with media decoded, the
    errors of those whose media failed, and the inputs built for the rest (or the error
    that building them raised: the main thread then retries them one at a time)."""
    order: list[str] = field(default_factory=list)        # request ids, as in the batch
    ready: list[PreparedRequest] = field(default_factory=list)
    failed: dict[str, Response] = field(default_factory=dict)
    inputs: BuiltInputs | None = None
    build_error: Exception | None = None


class InputTooLong(ValueError):
    """A sample's input does not fit the model's context (that sample's error)."""


class Engine:
    def __init__(self, adapter: ModelAdapter, batch_size: int = 1, workers: int = 2,
                 bucket_by_length: bool = True):
        self.adapter = adapter
        self.context = adapter.context_length()
        self.batch_size = max(1, int(batch_size))
        self.workers = max(1, int(workers))
        self.bucket_by_length = bucket_by_length

    def batches(self, requests: list[Request]) -> list[list[Request]]:
        if self.bucket_by_length:
            return length_buckets(requests, self.batch_size, self.adapter.estimate_input_length)
        return [requests[i:i + self.batch_size] for i in range(0, len(requests), self.batch_size)]

    def warm_up(self, request: Request) -> None:
        """One short generation so that timings exclude first-call costs."""
        try:
            self.check_length(request)
            self.adapter.generate([self.adapter.prepare(request)], max_new_tokens=2)
        except Exception as err:  # the real run reports per-sample errors
            log.info("warm-up skipped: %s", err)

    def run(self, requests: list[Request], on_batch: Callable[[list[Response]], None]) -> None:
        """Generate for every request; `on_batch` receives each batch's responses as it ends."""
        batches = self.batches(requests)
        with ThreadPoolExecutor(self.workers, thread_name_prefix="media") as pool:
            pending = self._stage(pool, batches[0]) if batches else None
            for index, batch in enumerate(batches):
                current = pending
                pending = self._stage(pool, batches[index + 1]) \
                    if index + 1 < len(batches) else None
                on_batch(self._run_batch(current.result()))

    def _stage(self, pool: ThreadPoolExecutor, batch: list[Request]) -> Future:
        """Submit the batch's media decoding, one task per request, then the building of its
        inputs, which waits for them (the pool is first in, first out: the decoding tasks
        are running or done when it starts)."""
        decoded = [pool.submit(self._prepare, r) for r in batch]
        return pool.submit(self._build, batch, decoded)

    def _prepare(self, request: Request) -> PreparedRequest:
        """The request's media decoded, once its input is known to fit the model's context:
        a sample too long for the model is its error before anything is decoded or built
        (the estimate reads only file headers)."""
        self.check_length(request)
        return self.adapter.prepare(request)

    def check_length(self, request: Request) -> None:
        """InputTooLong when the adapter's estimate of the input (text, image and video
        tokens) plus the tokens to generate exceed the model's context."""
        context = self.context
        if context is None:
            return
        try:
            estimate = int(self.adapter.estimate_input_length(request))
        except Exception:    # a missing or bad file: its error comes from prepare()
            return
        if estimate + request.max_new_tokens > context:
            raise InputTooLong(
                f"the input is about {estimate} tokens (text, image and video tokens, "
                f"estimated before building) and {request.max_new_tokens} more are to be "
                f"generated: over the model's context of {context} positions "
                "(max_position_embeddings)")

    def _build(self, batch: list[Request], decoded: list[Future]) -> StagedBatch:
        staged = StagedBatch([r.request_id for r in batch])
        for request, future in zip(batch, decoded):
            try:
                staged.ready.append(future.result())
            except (MediaError, InputTooLong) as err:
                staged.failed[request.request_id] = Response(request.request_id, None, str(err))
            except Exception as err:   # a family's own refusal (e.g. a model that needs an
                # image): that sample's error, counted against runtime.max_error_rate
                staged.failed[request.request_id] = Response(
                    request.request_id, None, f"{type(err).__name__}: {err}")
        if staged.ready:
            try:
                staged.inputs = self.adapter.build(staged.ready)
            except Exception as err:   # a sample the processor rejects: retried one by one
                staged.build_error = err
        return staged

    def _run_batch(self, staged: StagedBatch) -> list[Response]:
        responses = dict(staged.failed)
        ready = staged.ready
        if ready:
            try:
                if staged.build_error is not None:
                    raise staged.build_error
                responses.update(self._generate(ready, staged.inputs))
            except Exception as err:  # one bad sample must not sink the others: retry alone
                log.warning("batch of %d failed (%s); retrying one sample at a time",
                            len(ready), err)
                for prepared in ready:
                    try:
                        responses.update(self._generate([prepared]))
                    except Exception as single_err:
                        rid = prepared.request.request_id
                        responses[rid] = Response(rid, None, f"{type(single_err).__name__}: "
                                                             f"{single_err}")
        return [responses[rid] for rid in staged.order]

    def _generate(self, ready: list[PreparedRequest],
                  inputs: BuiltInputs | None = None) -> dict[str, Response]:
        max_new = max(p.request.max_new_tokens for p in ready)
        result = self.adapter.generate(ready, max_new, inputs=inputs)
        rows = len(ready)
        ids = result.output_ids or [None] * rows
        top = result.top_answers or [None] * rows
        inputs = result.input_fingerprints or [None] * rows
        logprobs = result.top_logprobs or [None] * rows
        errors, retry = result.row_errors()
        e2e, first = result.row_times()
        return {p.request.request_id: Response(p.request.request_id, text, error,
                                               result.prompt_len, count, row_e2e, row_first,
                                               row_ids, row_top, row_input, row_logprobs,
                                               row_retry)
                for p, text, count, row_ids, row_top, row_input, row_logprobs, error, row_retry,
                row_e2e, row_first
                in zip(ready, result.texts, result.output_tokens, ids, top, inputs, logprobs,
                       errors, retry, e2e, first)}
