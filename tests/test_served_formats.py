"""model.adapter=served against a local stub server of each request format (tests/served_stub.py),
answering with the demo Qwen2-VL itself: the served answers must equal the in-process ones,
and the requests must carry the embedded runtime's prompt."""
import json
import threading
from pathlib import Path

import pytest
import torch
from PIL import Image

from inference.models.base import cut_at_eos, trim_padding
from inference.models.qwen2_vl.processor import smart_size
from runners.cli import main
from runners.demo import ensure_asset
from tests.served_stub import StubServer

FORMATS = ["openai", "vllm_generate", "tgi", "triton", "mindie"]


def samples(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "debug" / "samples.jsonl").read_text().splitlines()]


def by_id(records, key="cleaned_prediction"):
    return {str(r["question_id"]): r[key] for r in records}


@pytest.fixture(scope="module")
def demo_model():
    """The demo Qwen2-VL loaded in-process: the stub's engine."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    folder = ensure_asset("models", "qwen2_vl")
    processor = AutoProcessor.from_pretrained(folder)
    model = AutoModelForImageTextToText.from_pretrained(folder, dtype=torch.float32).eval()
    return folder, processor, model


def make_backend(demo_model):
    folder, processor, model = demo_model
    tokenizer = processor.tokenizer
    lock = threading.Lock()

    size = processor.image_processor.size
    factor = processor.image_processor.patch_size * processor.image_processor.merge_size

    def model_card_resize(image):
        # the Qwen2-VL model card's serving recipe resizes on the client with qwen-vl-utils
        # before the processor, as the in-process adapter does; model=served sends the file
        # as it is, so this stub stands for a server fed that way
        height, width = smart_size(image.height, image.width, factor, size["shortest_edge"],
                                   size["longest_edge"])
        return image.resize((width, height), Image.Resampling.BICUBIC)

    def backend(prompt, images, max_new):
        images = [model_card_resize(image) for image in images or []]
        with lock, torch.inference_mode():
            inputs = processor(text=[prompt], images=images or None, return_tensors="pt")
            output = model.generate(**inputs, max_new_tokens=max_new, do_sample=False,
                                    num_beams=1)
        row = output[0, inputs["input_ids"].shape[1]:].tolist()
        ids = cut_at_eos(trim_padding(row, tokenizer.pad_token_id),
                         model.generation_config.eos_token_id)
        return (tokenizer.decode(ids, skip_special_tokens=True),
                [(i, tokenizer.decode([i])) for i in ids])

    def render(parts):
        content = [{"type": "image"} if p["type"] == "image_url" else
                   {"type": "text", "text": p["text"]} for p in parts]
        return processor.apply_chat_template([{"role": "user", "content": content}],
                                             add_generation_prompt=True, tokenize=False)

    return backend, render


@pytest.fixture(scope="module")
def in_process(tmp_path_factory):
    out = tmp_path_factory.mktemp("in_process")
    assert main(["model=demo_qwen2_vl", "task=textvqa", "runtime.batch_size=1",
                 f"output_dir={out}"]) == 0
    return samples(out)


def served_args(stub, api, out, *extra):
    folder = ensure_asset("models", "qwen2_vl")
    return ["model=served", f"model.endpoint={stub.url}", f"model.api={api}",
            f"model.served_model={stub.model}", f"model.model_path={folder}",
            "task=textvqa", "runtime.concurrency=3", "model.backoff=0.01",
            f"output_dir={out}", *extra]


@pytest.mark.parametrize("api", FORMATS)
@pytest.mark.parametrize("stream", [True, False])
def test_served_answers_equal_in_process(api, stream, demo_model, in_process, tmp_path):
    backend, render = make_backend(demo_model)
    placeholder = "<|vision_start|><|image_pad|><|vision_end|>"
    with StubServer(api, backend, render, placeholder=placeholder) as stub:
        assert main(served_args(stub, api, tmp_path, f"model.stream={str(stream).lower()}")) == 0
        received = list(stub.requests)
    served = samples(tmp_path)
    assert by_id(served) == by_id(in_process)
    assert all(r["error"] is None for r in served)
    summary = json.loads((tmp_path / "results" / "summary.json").read_text())
    assert summary["served"]["api"] == api and summary["served"]["retried"] == 0
    assert summary["metrics"]["overall"] == json.loads(json.dumps(summary["metrics"]["overall"]))
    # 12 samples + 1 warm-up, each sent once
    assert len(received) == 13
    body = received[-1]
    if api == "openai":
        parts = body["messages"][0]["content"]
        assert [p["type"] for p in parts] == ["image_url", "text"]
        assert parts[0]["image_url"]["url"].startswith("data:image/")
        assert body["temperature"] == 0.0 and body["max_tokens"] == 10
    elif api == "tgi":
        assert body["inputs"].startswith("<|im_start|>user\n![](data:image/")
        assert body["parameters"]["do_sample"] is False
        assert body["parameters"]["max_new_tokens"] == 10
    elif api in ("vllm_generate", "triton"):
        prompt = body["prompt"] if api == "vllm_generate" else body["text_input"]
        assert prompt.startswith("<|im_start|>user\n" + placeholder)
        assert prompt.endswith("<|im_end|>\n<|im_start|>assistant\n")


def test_token_ids_travel_when_the_server_returns_them(demo_model, in_process, tmp_path):
    backend, render = make_backend(demo_model)
    with StubServer("tgi", backend, render,
                    placeholder="<|vision_start|><|image_pad|><|vision_end|>") as stub:
        assert main(served_args(stub, "tgi", tmp_path, "model.stream=false")) == 0
    assert by_id(samples(tmp_path), "output_ids") == by_id(in_process, "output_ids")
