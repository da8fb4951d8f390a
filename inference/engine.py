"""Batched generation: media decoded by background workers while the previous batch
generates; a failing sample never sinks its batch."""
from __future__ import annotations

import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Iterable

from inference.media import MediaError
from inference.models.base import ImageTextAdapter, PreparedRequest
from inference.requests import Request, Response

log = logging.getLogger(__name__)


def _batches(items: list, size: int) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


class Engine:
    def __init__(self, adapter: ImageTextAdapter, batch_size: int = 1, workers: int = 2):
        self.adapter = adapter
        self.batch_size = max(1, int(batch_size))
        self.workers = max(1, int(workers))

    def run(self, requests: list[Request], on_batch: Callable[[list[Response]], None]) -> None:
        """Generate for every request; `on_batch` receives each batch's responses as it ends."""
        batches = list(_batches(requests, self.batch_size))
        with ThreadPoolExecutor(self.workers, thread_name_prefix="media") as pool:
            submit = lambda batch: [pool.submit(self.adapter.prepare, r) for r in batch]  # noqa: E731
            pending = submit(batches[0]) if batches else []
            for index, batch in enumerate(batches):
                current = pending
                pending = submit(batches[index + 1]) if index + 1 < len(batches) else []
                on_batch(self._run_batch(batch, current))

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
        start = time.perf_counter()
        max_new = max(p.request.max_new_tokens for p in ready)
        texts, counts, prompt_len = self.adapter.generate(ready, max_new)
        elapsed = time.perf_counter() - start
        return {p.request.request_id: Response(p.request.request_id, text, None, prompt_len,
                                               count, elapsed)
                for p, text, count in zip(ready, texts, counts)}
