"""One adapter protocol: every registered family implements it, and the engine builds the next
batch's inputs (the processor) in its background workers while the main thread only runs the
model, with the same predictions as building them on the main thread."""
import threading
import time

import pytest
import torch

from inference.engine import Engine
from inference.media import MediaError
from runners.models import ADAPTERS, adapter_class, create_adapter
from inference.models.protocol import Generation, ModelAdapter, PreparedRequest
from inference.requests import Request
from modeltest.tasks import load_samples
from runners.config import compose, to_container
from runners.demo import ensure_demo_assets


@pytest.mark.parametrize("name", sorted(ADAPTERS))
def test_every_registered_adapter_implements_the_protocol(name):
    cls = adapter_class({"adapter": name})
    assert issubclass(cls, ModelAdapter), f"{name}: {cls.__name__} is not a ModelAdapter"
    assert not getattr(cls, "__abstractmethods__", None), \
        f"{name}: {cls.__name__} leaves {sorted(cls.__abstractmethods__)} unimplemented"


class FakeAdapter(ModelAdapter):
    """Records which thread runs each step; sample "bad" fails in the processor, sample
    "missing" in media decoding."""

    BUILD_SECONDS = 0.05

    @staticmethod
    def check(model_cfg):
        pass

    def __init__(self, model_cfg=None, device="cpu", dtype=None, tp_mesh=None):
        self.device = device
        self.threads = {"prepare": set(), "build_inputs": set(), "generate": set()}
        self.batches: list[list[str]] = []

    def prepare(self, request):
        self.threads["prepare"].add(threading.current_thread())
        if request.request_id == "missing":
            raise MediaError("image not found: missing.png")
        if request.request_id == "imageless":     # a family's own refusal, not a bad file
            raise ValueError("this model needs an image (request imageless)")
        return PreparedRequest(request)

    def build_inputs(self, batch):
        self.threads["build_inputs"].add(threading.current_thread())
        if any(p.request.request_id == "bad" for p in batch):
            raise ValueError("the processor rejects sample bad")
        time.sleep(self.BUILD_SECONDS)
        return torch.tensor([len(p.request.text) for p in batch])

    def _generate(self, batch, inputs, max_new_tokens, ignore_eos, clock):
        self.threads["generate"].add(threading.current_thread())
        self.batches.append([p.request.request_id for p in batch])
        lengths = inputs.to(self.device)
        clock.inputs_on_device()
        clock.first_token(None, None)
        clock.finish()
        return Generation([f"{p.request.text}:{n}" for p, n in zip(batch, lengths.tolist())],
                          [1] * len(batch), int(lengths.max()), steps=1, **clock.timings())


def run_engine(engine, requests):
    responses = {}
    engine.run(requests, lambda batch: responses.update({r.request_id: r for r in batch}))
    return responses


def test_engine_builds_inputs_off_the_main_thread_and_times_them():
    adapter = FakeAdapter()
    requests = [Request(str(i), "q" * (i + 1)) for i in range(6)]
    responses = run_engine(Engine(adapter, batch_size=2), requests)
    main = threading.main_thread()
    assert adapter.threads["generate"] == {main}
    assert main not in adapter.threads["build_inputs"] and adapter.threads["build_inputs"]
    assert main not in adapter.threads["prepare"]
    assert [responses[r.request_id].text for r in requests] == \
        [f"{r.text}:{len(r.text)}" for r in requests]
    for response in responses.values():
        # preprocessing (the processor, timed in the worker) is part of first-token and e2e
        assert response.first_token_time >= FakeAdapter.BUILD_SECONDS
        assert response.e2e_time >= response.first_token_time


def test_bad_samples_never_sink_their_batch():
    adapter = FakeAdapter()
    requests = [Request(rid, "same length") for rid in ("a", "bad", "missing", "b", "c", "d",
                                                         "imageless", "e", "f")]
    responses = run_engine(Engine(adapter, batch_size=3, bucket_by_length=False), requests)
    assert "image not found" in responses["missing"].error
    assert responses["imageless"].error == \
        "ValueError: this model needs an image (request imageless)"
    assert "ValueError: the processor rejects sample bad" == responses["bad"].error
    assert all(responses[r].text == "same length:11" for r in "abcdef")
    # the batch holding "bad" was retried one sample at a time ("bad" fails again while
    # building); the next went whole, and the one with "imageless" ran without it
    assert adapter.batches == [["a"], ["b", "c", "d"], ["e", "f"]]


def test_generate_builds_the_inputs_itself_when_given_none():
    adapter = FakeAdapter()
    prepared = [adapter.prepare(Request("x", "hello"))]
    result = adapter.generate(prepared, 4)
    assert result.texts == ["hello:5"] and result.preprocess_time >= FakeAdapter.BUILD_SECONDS
    assert threading.main_thread() in adapter.threads["build_inputs"]
    built = adapter.build(prepared)
    assert built.seconds >= FakeAdapter.BUILD_SECONDS
    assert adapter.generate(prepared, 4, inputs=built).texts == ["hello:5"]


@pytest.mark.parametrize("model, task", [("demo_qwen2_vl", "textvqa"),
                                         ("demo_qwen2_vl", "videobench"),
                                         ("demo_deepseek_vl2", "textvqa"),
                                         ("demo_vlmo", "vqav2")])
def test_background_building_gives_the_same_predictions(model, task):
    cfg = to_container(compose([f"model={model}", f"task={task}"]))
    ensure_demo_assets([cfg["model"]["model_path"], cfg["task"].get("local_dataset_path")
                        or cfg["task"].get("question_file")])
    samples, _ = load_samples(cfg["task"], cfg["task"]["prompt_template"])
    adapter = create_adapter(cfg["model"], "cpu", torch.float32)
    requests = [Request(str(i), s.prompt, s.images, s.video, 6) for i, s in enumerate(samples)]
    engine = Engine(adapter, batch_size=4)
    background = {k: (r.text, r.output_ids) for k, r in run_engine(engine, requests).items()}
    on_main = {}
    for batch in engine.batches(requests):     # the same batches, built on the main thread
        prepared = [adapter.prepare(r) for r in batch]
        result = adapter.generate(prepared, 6)
        on_main.update({p.request.request_id: (text, ids) for p, text, ids
                        in zip(prepared, result.texts, result.output_ids)})
    assert background == on_main
    assert all(text is not None for text, _ in background.values())
