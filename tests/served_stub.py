"""A small local inference server for the tests (127.0.0.1 only), speaking the request and reply
schemas of the formats that cannot run on this machine, each as its own documentation gives it:

- openai: OpenAI chat completions (`GET /v1/models`, `POST /v1/chat/completions`, SSE chunks
  ending in `data: [DONE]`; errors `{"error": {"message", "type", "code"}}`), as vLLM serves it.
- vllm_generate: vLLM's `vllm/entrypoints/api_server.py` (`GET /health`, `POST /generate`,
  reply `{"text": [prompt + completion]}`, streamed as NUL-separated JSON objects).
- tgi: text-generation-inference (`GET /info`, `POST /generate` -> `{"generated_text",
  "details"}`, `POST /generate_stream` SSE `{"token", "generated_text", "details"}`; errors
  `{"error", "error_type"}` with 422 validation, 424 generation, 429 overloaded).
- triton: Triton's generate extension (`GET /v2/models/<m>`, `POST /v2/models/<m>/generate`
  -> `{"model_name", "model_version", "text_output"}`, `generate_stream` SSE; errors
  `{"error": "..."}` with 400).
- mindie: MindIE Service's native `POST /infer` (`{"inputs", "stream", "parameters"}` ->
  `{"generated_text", "details"}`; stream SSE `{"prefill_time", "decode_time", "token"}`).

A `backend(prompt, images, max_new_tokens) -> (text, [(id, piece), ...])` answers; for openai
the stub renders the messages itself with `render(parts)` (the server applies the chat template).
Failures can be injected: `fail_first` 503s, a 500 `fail_after` N answers, non-JSON replies;
and slowness: `delay` for every request, `delay_of(headers)` for some.
"""
from __future__ import annotations

import base64
import io
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from PIL import Image


def image_from_url(url: str) -> Image.Image:
    if url.startswith("data:"):
        return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB")
    if url.startswith("file://"):
        return Image.open(url[len("file://"):]).convert("RGB")
    return Image.open(io.BytesIO(base64.b64decode(url))).convert("RGB")   # bare base64


class StubServer:
    def __init__(self, api: str, backend, render=None, model: str = "stub-model",
                 placeholder: str | None = None):
        self.api, self.backend, self.model = api, backend, model
        self.render = render or (lambda parts: " ".join(p.get("text", "") for p in parts))
        self.placeholder = placeholder      # tgi: what a markdown image stands for
        self.requests: list[dict] = []      # every generation request's JSON body
        self.answered = 0
        self.fail_first = 0                 # 503 for the first N generation requests
        self.fail_after: int | None = None  # 500 for every request after N answers
        # bad replies to the next N generation requests (openai): "cut" (a stream ended
        # before its finish reason and [DONE], a whole reply without a finish reason),
        # "null" (content null), "huge" (an answer far longer than max_tokens allows)
        self.bad_reply: str | None = None
        self.bad_replies = 0
        self.non_json = False
        self.reject = None                  # body -> error message: a 4xx for that request
        self.delay = 0.0                    # seconds before each answer
        self.delay_of = None                # request headers -> extra seconds before it
        self.headers_seen: list[dict] = []
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()

    # -- log-probabilities ------------------------------------------------------------------
    @staticmethod
    def logprob_entry(body: dict, token_id: int, piece: str) -> dict:
        """OpenAI's `logprobs.content[]` entry for one generated token: the token itself at
        -0.1, then `top_logprobs - 1` others at -2, -3, ...; tokens named `token_id:<n>` when
        the request asks vLLM's return_tokens_as_token_ids, else by their text."""
        as_ids = bool(body.get("return_tokens_as_token_ids"))
        name = (lambda i, p: f"token_id:{i}") if as_ids else (lambda i, p: p)
        top = [{"token": name(token_id, piece), "logprob": -0.1, "bytes": None}]
        top += [{"token": name(token_id + n, f"{piece}~{n}"), "logprob": -1.0 - n,
                 "bytes": None} for n in range(1, int(body.get("top_logprobs") or 0))]
        return {"token": name(token_id, piece), "logprob": -0.1, "bytes": None,
                "top_logprobs": top}

    # -- failures ---------------------------------------------------------------------------
    def _injected(self) -> tuple[int, object] | None:
        with self.lock:
            if self.fail_first > 0:
                self.fail_first -= 1
                return 503, self._error("the server is loading", "overloaded", 503)
            if self.fail_after is not None and self.answered >= self.fail_after:
                return 500, self._error("internal error: the engine died", "generation", 500)
            if self.non_json:
                return 200, "<html>Bad gateway</html>"
        return None

    def _error(self, message: str, kind: str, code: int):
        if self.api == "openai":
            return {"error": {"message": message, "type": kind, "code": code}}
        if self.api == "tgi":
            return {"error": message, "error_type": kind}
        if self.api == "vllm_generate":
            return {"detail": message}
        return {"error": message}

    # -- generation ------------------------------------------------------------------------
    def _generate(self, body: dict, path: str):
        """(prompt-independent reply pieces) -> (text, ids, prompt_len, max_new, stream)"""
        api = self.api
        if api == "openai":
            parts = body["messages"][-1]["content"]
            images = [image_from_url(p["image_url"]["url"]) for p in parts
                      if p["type"] == "image_url"]
            prompt = self.render(parts)
            return prompt, images, body.get("max_tokens", 16), bool(body.get("stream"))
        if api == "vllm_generate":
            images = [image_from_url(u) for u in (body.get("multi_modal_data") or {})
                      .get("image", [])]
            return body["prompt"], images, body.get("max_tokens", 16), bool(body.get("stream"))
        if api == "tgi":
            urls = re.findall(r"!\[\]\(([^)]*)\)", body["inputs"])
            prompt = re.sub(r"!\[\]\([^)]*\)", self.placeholder or "", body["inputs"])
            parameters = body.get("parameters") or {}
            return (prompt, [image_from_url(u) for u in urls],
                    parameters.get("max_new_tokens", 20), path.endswith("_stream"))
        if api == "triton":
            parameters = body.get("parameters") or {}
            return (body["text_input"], [image_from_url(b) for b in body.get("image", [])],
                    parameters.get("max_tokens", 16), path.endswith("_stream"))
        if api == "mindie":
            inputs = body["inputs"]
            parameters = body.get("parameters") or {}
            if isinstance(inputs, list):
                images = [image_from_url(p["image_url"]) for p in inputs
                          if p["type"] == "image_url"]
                text = "".join(p["text"] for p in inputs if p["type"] == "text")
                prompt = self.render([{"type": "image_url"}] * len(images)
                                     + [{"type": "text", "text": text}])
            else:
                prompt, images = inputs, []
            return prompt, images, parameters.get("max_new_tokens", 20), bool(body.get("stream"))
        raise ValueError(api)

    def _handler(self):
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _send(self, status: int, body, content_type="application/json"):
                data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type if not isinstance(body, str)
                                 or content_type != "application/json" else "text/html")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, events, framing="sse"):
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream" if framing == "sse"
                                 else "application/json")
                self.send_header("Connection", "close")
                self.end_headers()
                for event in events:
                    if framing == "sse":
                        data = event if isinstance(event, str) else json.dumps(event)
                        self.wfile.write(f"data: {data}\n\n".encode())
                    else:
                        self.wfile.write(json.dumps(event).encode() + b"\0")
                    self.wfile.flush()
                self.close_connection = True

            def do_GET(self):
                api, path = stub.api, self.path
                if api == "openai" and path == "/v1/models":
                    return self._send(200, {"object": "list", "data": [
                        {"id": stub.model, "object": "model", "owned_by": "stub"}]})
                if path == "/health" and api in ("vllm_generate", "mindie"):
                    return self._send(200, {})
                if api == "tgi" and path == "/info":
                    return self._send(200, {"model_id": stub.model, "max_input_tokens": 4096})
                if api == "triton" and path.startswith("/v2/models/"):
                    name = path.split("/")[3]
                    if name != stub.model:
                        return self._send(400, {"error": f"Request for unknown model: '{name}' "
                                                         "is not found"})
                    return self._send(200, {"name": name, "versions": ["1"],
                                            "platform": "ensemble"})
                return self._send(404, stub._error(f"no route {path}", "not_found", 404))

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                api, path = stub.api, self.path
                routes = {"openai": ("/v1/chat/completions",), "vllm_generate": ("/generate",),
                          "tgi": ("/generate", "/generate_stream"),
                          "mindie": ("/infer",),
                          "triton": (f"/v2/models/{stub.model}/generate",
                                     f"/v2/models/{stub.model}/generate_stream")}[api]
                if path not in routes:
                    if api == "triton" and path.startswith("/v2/models/"):
                        return self._send(400, {"error": "Request for unknown model: "
                                                         f"'{path.split('/')[3]}' is not found"})
                    return self._send(404, stub._error(f"no route {path}", "not_found", 404))
                if api == "openai" and body.get("model") != stub.model:
                    return self._send(404, stub._error(
                        f"The model `{body.get('model')}` does not exist.", "NotFoundError", 404))
                with stub.lock:
                    stub.requests.append(body)
                    stub.headers_seen.append(dict(self.headers))
                if stub.delay:
                    time.sleep(stub.delay)
                if stub.delay_of:
                    time.sleep(stub.delay_of(self.headers))
                rejected = stub.reject(body) if stub.reject else None
                if rejected:
                    status = 422 if api == "tgi" else 400
                    return self._send(status, stub._error(rejected, "validation", status))
                injected = stub._injected()
                if injected:
                    status, reply = injected
                    return self._send(status, reply)
                try:
                    prompt, images, max_new, stream = stub._generate(body, path)
                except (KeyError, TypeError, ValueError, OSError) as err:
                    status = 422 if api == "tgi" else 400
                    return self._send(status, stub._error(f"Input validation error: {err}",
                                                          "validation", status))
                text, ids = stub.backend(prompt, images, int(max_new))
                with stub.lock:
                    stub.answered += 1
                self._reply(api, body, prompt, text, ids, stream)

            def _reply(self, api, body, prompt, text, ids, stream):
                pieces = list(ids)          # [(token id, its text)]
                with stub.lock:
                    bad = stub.bad_reply if stub.bad_replies > 0 else None
                    stub.bad_replies -= 1 if bad else 0
                if api == "openai" and bad:
                    return self._bad_openai(bad, text, pieces, stream)
                if api == "openai":
                    usage = {"prompt_tokens": 7, "completion_tokens": len(ids),
                             "total_tokens": 7 + len(ids)}
                    logprobs = [stub.logprob_entry(body, i, p) for i, p in pieces] \
                        if body.get("logprobs") else None
                    if not stream:
                        choice = {"index": 0, "finish_reason": "stop",
                                  "message": {"role": "assistant", "content": text}}
                        if logprobs is not None:
                            choice["logprobs"] = {"content": logprobs}
                        if body.get("return_token_ids"):       # vLLM's extension
                            choice["token_ids"] = [i for i, _ in pieces]
                        return self._send(200, {
                            "id": "chatcmpl-1", "object": "chat.completion", "model": stub.model,
                            "choices": [choice], "usage": usage})
                    events = [{"id": "chatcmpl-1", "object": "chat.completion.chunk",
                               "choices": [{"index": 0, "delta": {"content": piece},
                                            "finish_reason": None,
                                            **({"logprobs": {"content": [logprobs[n]]}}
                                               if logprobs is not None else {}),
                                            **({"token_ids": [token]}
                                               if body.get("return_token_ids") else {})}]}
                              for n, (token, piece) in enumerate(pieces)]
                    events.append({"id": "chatcmpl-1", "object": "chat.completion.chunk",
                                   "choices": [{"index": 0, "delta": {},
                                                "finish_reason": "stop"}]})
                    events.append({"id": "chatcmpl-1", "object": "chat.completion.chunk",
                                   "choices": [], "usage": usage})
                    return self._stream(events + ["[DONE]"])
                if api == "vllm_generate":
                    if not stream:
                        return self._send(200, {"text": [prompt + text]})
                    so_far, events = "", []
                    for _, piece in pieces:
                        so_far += piece
                        events.append({"text": [prompt + so_far]})
                    return self._stream(events, framing="nul")
                token_list = [{"id": i, "text": p, "logprob": -0.1, "special": False}
                              for i, p in pieces]
                details = {"finish_reason": "eos_token", "generated_tokens": len(ids),
                           "seed": None}
                if api == "tgi":
                    if not stream:
                        return self._send(200, {"generated_text": text,
                                                "details": {**details, "tokens": token_list}})
                    events = [{"index": n, "token": t, "generated_text": None, "details": None}
                              for n, t in enumerate(token_list)]
                    if events:
                        events[-1].update(generated_text=text, details=details)
                    return self._stream(events)
                if api == "triton":
                    if not stream:
                        return self._send(200, {"model_name": stub.model, "model_version": "1",
                                                "text_output": text})
                    return self._stream([{"model_name": stub.model, "model_version": "1",
                                          "text_output": p} for _, p in pieces])
                if api == "mindie":
                    if not stream:
                        return self._send(200, {"generated_text": text, "details": details})
                    events = [{"prefill_time": 1.0 if n == 0 else None,
                               "decode_time": None if n == 0 else 1.0,
                               "token": {"id": i, "text": p}} for n, (i, p) in enumerate(pieces)]
                    if events:
                        events[-1].update(generated_text=text, details=details)
                    return self._stream(events)

            def _bad_openai(self, bad, text, pieces, stream):
                if bad == "huge":    # 200 KB of text, whatever max_tokens said
                    text, pieces = "x" * 200_000, [(1, "x" * 1000)] * 200
                if not stream:
                    content = None if bad == "null" else text
                    finish = None if bad == "cut" else "stop"
                    return self._send(200, {"id": "chatcmpl-1", "object": "chat.completion",
                                            "choices": [{"index": 0, "finish_reason": finish,
                                                         "message": {"role": "assistant",
                                                                     "content": content}}]})
                events = [{"id": "chatcmpl-1", "object": "chat.completion.chunk",
                           "choices": [{"index": 0, "delta": {"content": piece},
                                        "finish_reason": None}]} for _, piece in pieces]
                if bad == "cut":     # the connection closes mid-answer
                    return self._stream(events[:max(1, len(events) // 2)])
                events.append({"id": "chatcmpl-1", "object": "chat.completion.chunk",
                               "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
                return self._stream(events + ["[DONE]"])

        return Handler
