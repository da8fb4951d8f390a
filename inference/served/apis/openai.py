"""OpenAI chat completions (`POST /v1/chat/completions`), as served by vLLM, vllm-ascend,
MindIE Service, SGLang, TGI's Messages API... The user turn is sent as messages with image
and video content parts; the server applies the checkpoint's chat template, as the embedded
runtime does. Streaming: server-sent events of `chat.completion.chunk` objects."""
from __future__ import annotations

import re

from inference.served.apis.base import Options, Reply, ServedApi
from inference.served.http import EndpointError
from inference.served.prompts import ServedCall, content_parts


TOKEN_ID = re.compile(r"token_id:(\d+)")


def read_logprobs(choice: dict) -> list | None:
    """choices[].logprobs.content as [[token, log-prob], ...] per step, most likely first; a
    token named `token_id:<n>` (vLLM's return_tokens_as_token_ids) becomes the id n."""
    content = (choice.get("logprobs") or {}).get("content")
    if content is None:
        return None
    steps = []
    for step in content:
        top = step.get("top_logprobs") or [step]
        steps.append([[_token(entry.get("token")), float(entry.get("logprob"))]
                      for entry in sorted(top, key=lambda e: -float(e.get("logprob")))])
    return steps


def _token(token):
    match = TOKEN_ID.fullmatch(str(token))
    return int(match.group(1)) if match else token


class OpenAIApi(ServedApi):
    name = "openai"
    reports_finish = True
    text_in = False
    returns_logprobs = True
    sends = ("repetition_penalty", "stop_strings", "stop_token_ids")

    def __init__(self, client, model_cfg):
        super().__init__(client, model_cfg)
        self.token_ids = bool(model_cfg["return_token_ids"])

    @property
    def base(self) -> str:
        return "" if self.client.endpoint.endswith("/v1") else "/v1"

    def preflight(self) -> None:
        try:
            listing = self.client.get_json(f"{self.base}/models")
        except EndpointError as err:
            if err.status == 404:       # a server without the model list: the run will tell
                return
            raise
        served = [m.get("id") for m in (listing or {}).get("data", []) if isinstance(m, dict)]
        if self.model is None:
            if len(served) != 1:
                raise EndpointError(f"{self.client.endpoint}: set model.served_model (this server "
                                    f"serves: {', '.join(map(str, served)) or 'nothing'})")
            self.model = served[0]
        elif served and self.model not in served:
            names = ", ".join(map(str, served))
            raise EndpointError(f"model.served_model={self.model}: not served by "
                                f"{self.client.endpoint} (it serves: {names})")

    def request(self, call: ServedCall, options: Options) -> tuple[str, dict]:
        # greedy and every token-changing setting explicit: vLLM otherwise takes the
        # checkpoint's generation_config.json values (repetition_penalty 1.05 on Qwen2-VL);
        # return_token_ids (vLLM >= 0.10.2) gives the generated ids for output_ids
        payload = {"model": self.model,
                   "messages": [{"role": "user", "content": content_parts(call)}],
                   "max_tokens": options.max_new_tokens, "temperature": 0.0, "top_p": 1.0,
                   "top_k": -1, "min_p": 0.0, "presence_penalty": 0.0,
                   "frequency_penalty": 0.0, "repetition_penalty": options.repetition_penalty,
                   "n": 1, "stream": options.stream}
        if self.token_ids:
            payload["return_token_ids"] = True
        if options.stop:
            payload["stop"] = list(options.stop)
        if options.stop_token_ids:
            payload["stop_token_ids"] = list(options.stop_token_ids)
        if options.stream:
            payload["stream_options"] = {"include_usage": True}
        if options.ignore_eos:   # vLLM's extension: exactly max_tokens tokens
            payload.update(ignore_eos=True, min_tokens=options.max_new_tokens)
        if options.logprobs:
            payload.update(logprobs=True, top_logprobs=options.logprobs)
        payload.update(self.extra)
        return f"{self.base}/chat/completions", payload

    def parse(self, data, call: ServedCall) -> Reply:
        self.check_error(data)
        try:
            choice = data["choices"][0]
            content = choice["message"].get("content")
        except (KeyError, IndexError, TypeError, AttributeError):
            raise self.fail("no choices[0].message in the reply", data) from None
        usage = data.get("usage") or {}
        return Reply(content or "", choice.get("token_ids"), usage.get("prompt_tokens"),
                     usage.get("completion_tokens"), choice.get("finish_reason"),
                     read_logprobs(choice), null_content=content is None)

    def stream_event(self, event: dict, reply: Reply, call: ServedCall) -> str:
        self.check_error(event)
        usage = event.get("usage") or {}
        if usage:
            reply.prompt_tokens = usage.get("prompt_tokens", reply.prompt_tokens)
            reply.output_tokens = usage.get("completion_tokens", reply.output_tokens)
        piece = ""
        for choice in event.get("choices") or []:
            piece += (choice.get("delta") or {}).get("content") or ""
            if choice.get("token_ids"):
                reply.token_ids = (reply.token_ids or []) + list(choice["token_ids"])
            steps = read_logprobs(choice)
            if steps is not None:
                reply.top_logprobs = (reply.top_logprobs or []) + steps
            reply.finish_reason = choice.get("finish_reason") or reply.finish_reason
        reply.text += piece
        return piece
