"""MindIE Service's own interface: `POST /infer` with `{"inputs", "stream", "parameters"}`,
reply `{"generated_text", "details"}`; streamed as server-sent events
`data: {"token": {"id", "text"}, ...}`. Text-only requests send the prompt rendered with the
checkpoint's chat template; requests with images use the list form of `inputs`
(`image_url` parts, then the user text), which MindIE templates with the model's own
template."""
from __future__ import annotations

from inference.served.apis.base import Options, Reply, ServedApi
from inference.served.prompts import ServedCall


class MindieApi(ServedApi):
    name = "mindie"
    reports_finish = True

    def preflight(self) -> None:
        self.client.ping("/health")

    def request(self, call: ServedCall, options: Options) -> tuple[str, dict]:
        if call.images or call.video:
            inputs = [{"type": "image_url", "image_url": url} for url in call.images]
            if call.video:
                inputs.append({"type": "video_url", "video_url": call.video})
            inputs.append({"type": "text", "text": call.text})
        else:
            inputs = call.prompt
        parameters = {"max_new_tokens": options.max_new_tokens, "do_sample": False,
                      "details": True}
        parameters["repetition_penalty"] = options.repetition_penalty
        if options.stop:
            parameters["stop"] = list(options.stop)
        if options.ignore_eos:
            parameters["ignore_eos"] = True
        parameters.update(self.extra)
        payload = {"inputs": inputs, "stream": options.stream, "parameters": parameters}
        if self.model:
            payload["model"] = self.model
        return "/infer", payload

    def parse(self, data, call: ServedCall) -> Reply:
        if isinstance(data, list) and data:
            data = data[0]
        self.check_error(data)
        if not isinstance(data, dict) or "generated_text" not in data:
            raise self.fail("no generated_text in the reply", data)
        details = data.get("details") or {}
        return Reply(data["generated_text"], None, None, details.get("generated_tokens"),
                     details.get("finish_reason"))

    def stream_event(self, event: dict, reply: Reply, call: ServedCall) -> str:
        self.check_error(event)
        token = event.get("token") or {}
        piece = token.get("text", "")
        if "id" in token:
            reply.token_ids = (reply.token_ids or []) + [token["id"]]
        reply.text += piece
        details = event.get("details") or {}
        if details:
            reply.output_tokens = details.get("generated_tokens")
            reply.finish_reason = details.get("finish_reason")
        return piece
