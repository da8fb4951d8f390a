"""NVIDIA Triton Inference Server's generate extension (and MindIE Service's Triton-compatible
interface): `POST /v2/models/<model>/generate` and `.../generate_stream` with `text_input` and
`parameters`, reply `{"model_name", "model_version", "text_output"}`; errors `{"error": ...}`.
Images go as base64 strings in the `image` input, as Triton's vLLM backend takes them."""
from __future__ import annotations

from inference.served.apis.base import Options, Reply, ServedApi
from inference.served.http import EndpointError
from inference.served.prompts import ServedCall, base64_of


class TritonApi(ServedApi):
    name = "triton"

    def __init__(self, client, model_cfg):
        super().__init__(client, model_cfg)
        if not self.model:
            raise EndpointError("model.served_model: Triton needs the model's name")

    def preflight(self) -> None:
        try:
            self.client.get_json(f"/v2/models/{self.model}")
        except EndpointError as err:
            if err.status in (400, 404):
                raise EndpointError(f"model.served_model={self.model}: not served by "
                                    f"{self.client.endpoint}: {err}") from None
            raise

    def request(self, call: ServedCall, options: Options) -> tuple[str, dict]:
        parameters = {"max_tokens": options.max_new_tokens, "temperature": 0.0, "top_p": 1.0,
                      "stream": options.stream}
        parameters["repetition_penalty"] = options.repetition_penalty
        if options.stop:
            parameters["stop"] = list(options.stop)
        if options.ignore_eos:
            parameters.update(ignore_eos=True, min_tokens=options.max_new_tokens)
        parameters.update(self.extra)
        payload = {"text_input": call.prompt, "exclude_input_in_output": True,
                   "parameters": parameters}
        if call.images:
            payload["image"] = [base64_of(url) for url in call.images]
        verb = "generate_stream" if options.stream else "generate"
        return f"/v2/models/{self.model}/{verb}", payload

    def parse(self, data, call: ServedCall) -> Reply:
        self.check_error(data)
        if not isinstance(data, dict) or "text_output" not in data:
            raise self.fail("no text_output in the reply", data)
        return Reply(data["text_output"])

    def stream_event(self, event: dict, reply: Reply, call: ServedCall) -> str:
        self.check_error(event)
        piece = event.get("text_output", "")
        reply.text += piece
        return piece
