"""A small HTTP client for inference servers (standard library only): JSON requests, streamed
replies (server-sent events or NUL-delimited JSON), timeouts, and retries with exponential
backoff on connection errors, 429 and 5xx. Header values (tokens) are never put in messages."""
from __future__ import annotations

import http.client
import json
import logging
import os
import re
import socket
import threading
import time
import urllib.error
import urllib.request
from typing import Any, Iterator

log = logging.getLogger(__name__)

RETRIED_STATUS = {408, 429, 500, 502, 503, 504}


class EndpointError(RuntimeError):
    """The server did not give a usable answer. `transient` errors (connection refused, a
    timeout, 429, 5xx) are retried; `fatal` ones stop the whole run (not one sample's fault)."""

    def __init__(self, message: str, status: int | None = None, transient: bool = False,
                 fatal: bool = True):
        super().__init__(message)
        self.status = status
        self.transient = transient
        self.fatal = fatal


def expand_headers(headers: dict | None) -> dict[str, str]:
    """`{"Authorization": "Bearer $TOKEN"}`: `$NAME` / `${NAME}` come from the environment at
    run time, so a token is in memory only, never in config.yaml or a report."""
    out = {}
    for key, value in (headers or {}).items():
        def lookup(match):
            name = match.group(1) or match.group(2)
            if name not in os.environ:
                raise ValueError(f"model.headers.{key}: environment variable {name} is not set")
            return os.environ[name]
        out[str(key)] = re.sub(r"\$\{(\w+)\}|\$(\w+)", lookup, str(value))
    return out


def _error_text(body: bytes) -> str:
    """The server's own error message, from the usual JSON error shapes, on one line."""
    text = body.decode("utf-8", "replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        return " ".join(text.split())[:300]
    if isinstance(data, dict):
        error = data.get("error", data.get("message", data.get("detail", data)))
        if isinstance(error, dict):
            error = error.get("message", error)
        return " ".join(str(error).split())[:300]
    return " ".join(str(data).split())[:300]


class HttpClient:
    def __init__(self, endpoint: str, headers: dict[str, str] | None = None,
                 timeout: float = 120.0, retries: int = 3, backoff: float = 1.0):
        self.endpoint = endpoint.rstrip("/")
        self.headers = dict(headers or {})
        self.timeout = float(timeout)
        self.retries = max(0, int(retries))
        self.backoff = float(backoff)
        self.retried = 0                  # transient failures that were retried
        # a reply (or a stream's events together) longer than this is refused while it is
        # read, before it fills memory (the adapter sets it from max_new_tokens)
        self.max_reply_bytes: int | None = None
        self._lock = threading.Lock()

    def url(self, path: str) -> str:
        return f"{self.endpoint}/{path.lstrip('/')}"

    # -- one attempt --------------------------------------------------------------------
    def _open(self, method: str, path: str, payload: Any | None):
        data = None if payload is None else json.dumps(payload).encode()
        headers = {"Accept": "application/json, text/event-stream", **self.headers}
        if data is not None:
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self.url(path), data=data, method=method,
                                         headers=headers)
        where = f"{method} {self.url(path)}"
        try:
            return urllib.request.urlopen(request, timeout=self.timeout)
        except urllib.error.HTTPError as err:
            body = err.read() if err.fp else b""
            status = err.code
            message = f"{where}: HTTP {status}: {_error_text(body) or err.reason}"
            # 4xx other than 408/429 concern this request (bad prompt, unknown model...)
            raise EndpointError(message, status, transient=status in RETRIED_STATUS,
                                fatal=status in RETRIED_STATUS or status in (401, 403, 404))
        except (urllib.error.URLError, ConnectionError, socket.timeout, TimeoutError,
                http.client.HTTPException) as err:
            reason = getattr(err, "reason", err)
            raise EndpointError(f"{where}: {reason or type(err).__name__}",
                                transient=True) from None

    def _with_retries(self, attempt):
        delay = self.backoff
        for number in range(self.retries + 1):
            try:
                return attempt()
            except EndpointError as err:
                if not err.transient or number == self.retries:
                    if err.transient and self.retries:
                        err.args = (f"{err.args[0]} (after {self.retries} retries)",)
                    raise
                with self._lock:
                    self.retried += 1
                log.warning("%s; retry %d of %d in %.1f s", err, number + 1, self.retries, delay)
                time.sleep(delay)
                delay *= 2

    # -- calls ---------------------------------------------------------------------------
    def get_json(self, path: str) -> Any:
        return self._with_retries(lambda: self._read_json("GET", path, None))

    def ping(self, path: str) -> None:
        """GET `path`; any 2xx reply passes (it proves the server is up, nothing more)."""
        def attempt():
            with self._open("GET", path, None) as response:
                response.read()
        self._with_retries(attempt)

    def post_json(self, path: str, payload: Any) -> Any:
        return self._with_retries(lambda: self._read_json("POST", path, payload))

    def _read_json(self, method: str, path: str, payload: Any | None) -> Any:
        with self._open(method, path, payload) as response:
            limit = self.max_reply_bytes
            body = response.read() if limit is None else response.read(limit + 1)
        if limit is not None and len(body) > limit:
            raise self.too_long(method, path)
        try:
            return json.loads(body)
        except ValueError:
            snippet = " ".join(body.decode("utf-8", "replace").split())[:120]
            raise EndpointError(f"{method} {self.url(path)}: the reply is not JSON: "
                                f"{snippet!r}") from None

    def too_long(self, method: str, path: str) -> "EndpointError":
        error = EndpointError(f"{method} {self.url(path)}: the reply is longer than "
                              f"{self.max_reply_bytes} bytes, more than max_new_tokens allows",
                              transient=False, fatal=False)
        error.bad_reply = True      # asked again by the caller (ServedAdapter), not here
        return error

    def post_stream(self, path: str, payload: Any, framing: str = "sse",
                    on_event=None) -> None:
        """POST and hand each streamed JSON event to `on_event(event)` as it arrives.
        `framing`: "sse" (lines `data: {...}`, `data: [DONE]`) or "nul" (JSON objects
        separated by NUL bytes, as vLLM's /generate streams). A stream that fails before
        its first event is retried like any request; one that fails later is not (the
        caller would see tokens twice)."""
        def attempt():
            started = False
            try:
                with self._open("POST", path, payload) as response:
                    for event in self._events(response, framing, path):
                        started = True
                        on_event(event)
            except EndpointError as err:
                if started:
                    err.transient = False
                raise
            except (ConnectionError, socket.timeout, TimeoutError, http.client.HTTPException,
                    OSError) as err:
                raise EndpointError(f"POST {self.url(path)}: stream broken: {err}",
                                    transient=not started) from None

        self._with_retries(attempt)

    def _events(self, response, framing: str, path: str) -> Iterator[dict]:
        def parse(text: str):
            try:
                return json.loads(text)
            except ValueError:
                snippet = " ".join(text.split())[:120]
                raise EndpointError(f"POST {self.url(path)}: a streamed event is not JSON: "
                                    f"{snippet!r}") from None

        limit, seen = self.max_reply_bytes, 0
        if framing == "nul":
            buffer = b""
            while chunk := response.read1(65536) if hasattr(response, "read1") \
                    else response.read(65536):
                seen += len(chunk)
                if limit is not None and seen > limit:
                    raise self.too_long("POST", path)
                buffer += chunk
                *parts, buffer = buffer.split(b"\0")
                for part in parts:
                    if part.strip():
                        yield parse(part.decode("utf-8"))
            if buffer.strip():
                yield parse(buffer.decode("utf-8"))
            return
        for raw in response:
            seen += len(raw)
            if limit is not None and seen > limit:
                raise self.too_long("POST", path)
            line = raw.decode("utf-8").strip()
            if not line.startswith("data:"):
                continue          # comments, event names, blank separators
            data = line[5:].strip()
            if data == "[DONE]":
                return
            yield parse(data)
