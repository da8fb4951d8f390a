"""Hugging Face text-generation-inference (and MindIE Service's TGI-compatible interface):
`POST /generate` and `POST /generate_stream` with `{"inputs", "parameters"}`. The prompt is
rendered with the checkpoint's chat template; each image goes in as a markdown image
`![](data:...)` where the template puts its image placeholder, as TGI's vision-language
models expect. `details: true` returns the generated token ids."""
from __future__ import annotations

from inference.served.apis.base import Options, Reply, ServedApi
from inference.served.prompts import ServedCall


class TgiApi(ServedApi):
    name = "tgi"
    reports_finish = True

    def preflight(self) -> None:
        info = self.client.get_json("/info")
        served = isinstance(info, dict) and info.get("model_id")
        if self.model and served and self.model != served:
            raise self.fail(f"model.served_model={self.model}: this server serves", served)

    def inputs(self, call: ServedCall) -> str:
        text = call.prompt
        images = [f"![]({url})" for url in call.images]
        placeholder = call.image_placeholder
        if placeholder and text.count(placeholder) >= len(images):
            for markdown in images:
                text = text.replace(placeholder, markdown, 1)
            return text
        return "".join(images) + text

    def request(self, call: ServedCall, options: Options) -> tuple[str, dict]:
        parameters = {"max_new_tokens": options.max_new_tokens, "do_sample": False,
                      "details": True, "return_full_text": False}
        parameters["repetition_penalty"] = options.repetition_penalty
        if options.stop:
            parameters["stop"] = list(options.stop)
        parameters.update(self.extra)
        path = "/generate_stream" if options.stream else "/generate"
        return path, {"inputs": self.inputs(call), "parameters": parameters}

    def parse(self, data, call: ServedCall) -> Reply:
        if isinstance(data, list) and data:
            data = data[0]
        self.check_error(data)
        if not isinstance(data, dict) or "generated_text" not in data:
            raise self.fail("no generated_text in the reply", data)
        details = data.get("details") or {}
        tokens = details.get("tokens")
        ids = [t["id"] for t in tokens if not t.get("special")] if tokens else None
        return Reply(data["generated_text"], ids, None, details.get("generated_tokens"),
                     details.get("finish_reason"))

    def stream_event(self, event: dict, reply: Reply, call: ServedCall) -> str:
        self.check_error(event)
        token = event.get("token") or {}
        piece = "" if token.get("special") else token.get("text", "")
        if "id" in token and not token.get("special"):
            reply.token_ids = (reply.token_ids or []) + [token["id"]]
        reply.text += piece
        details = event.get("details") or {}
        if details:
            reply.output_tokens = details.get("generated_tokens")
            reply.finish_reason = details.get("finish_reason")
        return piece
