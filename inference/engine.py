"""Batched generation: requests bucketed by prompt length into batches, media decoded by
background workers while the previous batch generates, a warm-up before timing, and a
failing sample never sinks its batch."""
from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable

from inference.media import MediaError
from inference.models.base import ImageTextAdapter, PreparedRequest
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


class Engine:
    def __init__(self, adapter: ImageTextAdapter, batch_size: int = 1, workers: int = 2,
                 bucket_by_length: bool = True):
        self.adapter = adapter
        self.batch_size = max(1, int(batch_size))
        self.workers = max(1, int(workers))
        self.bucket_by_length = bucket_by_length

    def batches(self, requests: list[Request]) -> list[list[Request]]:
        if self.bucket_by_length:
            estimate = getattr(self.adapter, "estimate_input_length", None)
            return length_buckets(requests, self.batch_size, estimate)
        return [requests[i:i + self.batch_size] for i in range(0, len(requests), self.batch_size)]

    def warm_up(self, request: Request) -> None:
        """One short generation so that timings exclude first-call costs."""
        try:
            self.adapter.generate([self.adapter.prepare(request)], max_new_tokens=2)
        except Exception as err:  # the real run reports per-sample errors
            log.info("warm-up skipped: %s", err)

    def run(self, requests: list[Request], on_batch: Callable[[list[Response]], None],
            num_batches: int | None = None) -> None:
        """Generate for every request; `on_batch` receives each batch's responses as it ends.

        `num_batches` pads with empty batches so that data-parallel ranks call `on_batch` the
        same number of times (it may hold a collective).
        """
        batches = self.batches(requests)
        batches += [[] for _ in range(max(0, (num_batches or 0) - len(batches)))]
        with ThreadPoolExecutor(self.workers, thread_name_prefix="media") as pool:
            submit = lambda batch: [pool.submit(self.adapter.prepare, r) for r in batch]  # noqa: E731
            pending = submit(batches[0]) if batches else []
            for index, batch in enumerate(batches):
                current = pending
                pending = submit(batches[index + 1]) if index + 1 < len(batches) else []
                on_batch(self._run_batch(batch, current) if batch else [])

    def _run_batch(self, batch: list[Request], futures: list[Future]) -> list[Response]:
        responses: dict[str, Response] = {}
        ready: list[PreparedRequest] = []
        for request, future in zip(batch, futures):
            try:
                ready.append(future.result())
            except MediaError as err:
                responses[request.request_id] = Response(request.request_id, None, str(err))
        if ready:
            try:
                responses.update(self._generate(ready))
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
        return [responses[r.request_id] for r in batch]

    def _generate(self, ready: list[PreparedRequest]) -> dict[str, Response]:
        max_new = max(p.request.max_new_tokens for p in ready)
        result = self.adapter.generate(ready, max_new)
        rows = len(ready)
        ids = result.output_ids or [None] * rows
        top = result.top_answers or [None] * rows
        # served adapters answer per request: own latency, own error
        errors = getattr(result, "errors", None) or [None] * rows
        retry = getattr(result, "retry", None) or [False] * rows
        e2e = getattr(result, "e2e_times", None) or [result.e2e_time] * rows
        first = getattr(result, "first_token_times", None) or [result.first_token_time] * rows
        return {p.request.request_id: Response(p.request.request_id, text, error,
                                               result.prompt_len, count, row_e2e, row_first,
                                               row_ids, row_top, row_retry)
                for p, text, count, row_ids, row_top, error, row_retry, row_e2e, row_first
                in zip(ready, result.texts, result.output_tokens, ids, top, errors, retry, e2e,
                       first)}
