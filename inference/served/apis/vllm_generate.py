"""vLLM's plain generate server (`python -m vllm.entrypoints.api_server`, and the
vLLM-compatible `/generate` of MindIE Service): `POST /generate` with the rendered prompt and
sampling parameters at the top level; the reply is `{"text": [prompt + completion]}`.
Streaming replies are the same objects separated by NUL bytes. Images travel beside the
prompt as `multi_modal_data.image` (data URLs), the shape of vLLM's own prompt dict."""
from __future__ import annotations

from inference.served.apis.base import Options, Reply, ServedApi
from inference.served.prompts import ServedCall


class VllmGenerateApi(ServedApi):
    name = "vllm_generate"
    sends = ("repetition_penalty", "stop_strings", "stop_token_ids")
    framing = "nul"

    def preflight(self) -> None:
        self.client.ping("/health")

    def request(self, call: ServedCall, options: Options) -> tuple[str, dict]:
        payload = {"prompt": call.prompt, "max_tokens": options.max_new_tokens,
                   "temperature": 0.0, "top_p": 1.0, "n": 1, "stream": options.stream}
        payload["repetition_penalty"] = options.repetition_penalty
        if options.stop:
            payload["stop"] = list(options.stop)
        if options.stop_token_ids:
            payload["stop_token_ids"] = list(options.stop_token_ids)
        if options.ignore_eos:
            payload.update(ignore_eos=True, min_tokens=options.max_new_tokens)
        if call.images:
            payload["multi_modal_data"] = {"image": list(call.images)}
        if call.video:
            payload.setdefault("multi_modal_data", {})["video"] = call.video
        payload.update(self.extra)
        return "/generate", payload

    def _completion(self, data, call: ServedCall) -> str:
        self.check_error(data)
        try:
            full = data["text"][0]
        except (KeyError, IndexError, TypeError):
            raise self.fail("no text[0] in the reply", data) from None
        return full[len(call.prompt):] if full.startswith(call.prompt) else full

    def parse(self, data, call: ServedCall) -> Reply:
        return Reply(self._completion(data, call))

    def stream_event(self, event: dict, reply: Reply, call: ServedCall) -> str:
        text = self._completion(event, call)     # each event holds the whole text so far
        piece = text[len(reply.text):]
        reply.text = text
        return piece
