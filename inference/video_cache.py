"""Decoded video frames kept in memory for the run, so that a video asked about by many
questions (Video-Bench, SQA3D) is decoded once.

Keys are (path, file size, mtime in ns, what was decoded and with which frame-selection
parameters): a file rewritten in place is decoded again. The cache is a bounded LRU (by
entry count and by bytes), shared by the engine's background workers; two workers asking for
the same video at once decode it once (the second waits for the first).
"""
from __future__ import annotations

import os
import threading
from collections import OrderedDict
from typing import Any, Callable

import numpy as np


def _nbytes(value: Any) -> int:
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    if isinstance(value, (list, tuple)):
        return sum(_nbytes(v) for v in value)
    size = getattr(value, "size", None)   # PIL image: width x height x bands
    if isinstance(size, tuple) and len(size) == 2 and hasattr(value, "getbands"):
        return size[0] * size[1] * len(value.getbands())
    return 64


class VideoCache:
    def __init__(self, max_entries: int = 64, max_bytes: int = 2 << 30):
        self.max_entries = int(max_entries)
        self.max_bytes = int(max_bytes)
        self._items: OrderedDict[tuple, tuple[Any, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._inflight: dict[tuple, threading.Event] = {}
        self.decodes = 0      # calls that reached the decoder
        self.hits = 0

    def configure(self, max_entries: int | None = None, max_bytes: int | None = None) -> None:
        with self._lock:
            if max_entries is not None:
                self.max_entries = int(max_entries)
            if max_bytes is not None:
                self.max_bytes = int(max_bytes)
            self._evict()

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0
            self.decodes = self.hits = 0

    def _evict(self) -> None:
        while self._items and (len(self._items) > self.max_entries
                               or self._bytes > self.max_bytes):
            _, (_, size) = self._items.popitem(last=False)
            self._bytes -= size

    @staticmethod
    def key(path: str, *params) -> tuple:
        try:
            st = os.stat(path)
            ident = (st.st_size, st.st_mtime_ns)
        except OSError:
            ident = None
        return (os.path.abspath(path), ident) + params

    def get(self, key: tuple, decode: Callable[[], Any]) -> Any:
        """The cached value for `key`, or decode() once (errors are not cached)."""
        if self.max_entries <= 0 or key[1] is None:
            with self._lock:
                self.decodes += 1
            return decode()
        while True:
            with self._lock:
                if key in self._items:
                    self._items.move_to_end(key)
                    self.hits += 1
                    return self._items[key][0]
                waiting = self._inflight.get(key)
                if waiting is None:
                    done = self._inflight[key] = threading.Event()
                    self.decodes += 1
                    break
            waiting.wait()          # another worker decodes it; then look again
        try:
            value = decode()
        except BaseException:
            with self._lock:
                del self._inflight[key]
            done.set()
            raise
        size = _nbytes(value)
        with self._lock:
            del self._inflight[key]
            if size <= self.max_bytes:
                self._items[key] = (value, size)
                self._bytes += size
                self._evict()
        done.set()
        return value


CACHE = VideoCache()


def configure_from(runtime) -> None:
    """Set the shared cache's bounds from the run's `runtime` config."""
    get = runtime.get if hasattr(runtime, "get") else lambda k, d=None: d
    CACHE.configure(get("video_cache_entries", CACHE.max_entries),
                    int(float(get("video_cache_mb", CACHE.max_bytes >> 20)) * (1 << 20)))
