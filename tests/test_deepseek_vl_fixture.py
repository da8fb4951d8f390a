"""DeepSeek-VL 7B (`multi_modality`) against references recorded with the ORIGINAL deepseek-ai
code (tests/fixtures/deepseek_vl/HOW.md): the checkpoint, regenerated bit for bit from the
committed weight manifest, loaded through the CLI as a user loads it, must generate the
recorded ids exactly at batch 1 and 4 in fp32; its pixels must match the recorded sums."""
from __future__ import annotations

import json
import logging
import os
import shutil
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from runners.cli import main

FIXTURE = Path(__file__).parent / "fixtures" / "deepseek_vl"
RECORDING = json.loads((FIXTURE / "recording.json").read_text())
sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "build"))
from deepseek_vl_weights import build_checkpoint  # noqa: E402
from conftest import model_config




@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory):
    """The ~260 MB checkpoint, generated once per session (or kept between sessions in
    $MODELTEST_FIXTURE_CACHE), checked against the recorded sha256 of every shard."""
    cache = os.environ.get("MODELTEST_FIXTURE_CACHE")
    root = Path(cache) if cache else tmp_path_factory.mktemp("fixtures")
    return build_checkpoint(root / "deepseek-vl-7b-chat-tiny")


def _dataset(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines, annotations = [], []
    for index, sample in enumerate(RECORDING["samples"]):
        lines.append(json.dumps({"image": str(FIXTURE / "images" / sample["image"]),
                                 "question": sample["question"], "question_id": index,
                                 "answer": "x"}))
        annotations.append({"question_id": index, "answers": [{"answer": "x"}] * 10})
    data = folder / "textvqa_val.jsonl"
    data.write_text("\n".join(lines) + "\n")
    (folder / "textvqa_val_annotations.json").write_text(json.dumps({"annotations": annotations}))
    return data


def _run(model_path, out: Path, *extra) -> dict[int, list[int]]:
    data = _dataset(out / "data")
    assert main(["model=deepseek_vl", f"model.model_path={model_path}", "model.dtype=fp32",
                 "task=textvqa", f"task.local_dataset_path={data}",
                 "task.prompt_template='{question}'", "task.max_new_tokens=16",
                 # no warm-up: a sample through the 1024-px SAM tower costs ~25 s on a CPU
                 "runtime.warm_up=false", f"output_dir={out / 'run'}", *extra]) == 0
    records = [json.loads(line) for line in
               (out / "run" / "debug" / "samples.jsonl").read_text().splitlines()]
    return {int(r["question_id"]): r["output_ids"] for r in records}


def test_recording_is_a_meaningful_reference():
    assert RECORDING["min_margin"] >= 2e-3
    assert RECORDING["distinct_outputs"] == len(RECORDING["samples"]) == 4


@pytest.mark.parametrize("batch", [1, 4])
def test_fixture_generates_the_original_ids(checkpoint, tmp_path, batch):
    ids = _run(checkpoint, tmp_path, f"runtime.batch_size={batch}")
    summary = json.loads((tmp_path / "run" / "results" / "summary.json").read_text())
    assert summary["warm_up"] is False and summary["batch_size"] == batch
    assert ids == {i: s["output_ids"] for i, s in enumerate(RECORDING["samples"])}


def test_prompt_and_pixels_match_the_original(checkpoint):
    from runners.models import create_adapter
    from inference.models.protocol import PreparedRequest
    from inference.requests import Request

    adapter = create_adapter(model_config("deepseek_vl", model_path=str(checkpoint)), "cpu",
                             torch.float32)
    for index, sample in enumerate(RECORDING["samples"]):
        image = Image.open(FIXTURE / "images" / sample["image"]).convert("RGB")
        prepared = PreparedRequest(Request(str(index), sample["question"]), [image])
        content = adapter._content(prepared)
        prompt = adapter.processor.apply_chat_template(
            [{"role": "user", "content": content}], add_generation_prompt=True)
        assert prompt == sample["prompt"]
        inputs = adapter.build_inputs([prepared])
        assert inputs["input_ids"][0].tolist() == sample["prompt_ids"]
        for key, name in (("high_res_pixel_values", "high_res"), ("pixel_values", "low_res")):
            assert list(inputs[key].shape) == sample[f"{name}_pixel_shape"]
            assert float(inputs[key].double().sum()) == pytest.approx(
                sample[f"{name}_pixel_sum"], rel=1e-5)


def _linked_copy(checkpoint: Path, folder: Path) -> Path:
    folder.mkdir()
    for item in checkpoint.iterdir():
        if item.suffix == ".safetensors":
            (folder / item.name).symlink_to(item)
        else:
            shutil.copy(item, folder / item.name)
    return folder


def test_unused_tensors_are_ignored_and_foreign_ones_refused(checkpoint, tmp_path, caplog):
    """Also: `model_type: deepseekvl` (as the seed harness tells users to edit it) is the same
    layout, and Python files shipped with the checkpoint never run."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    from inference.models.deepseek_vl.loader import load_original

    edited = _linked_copy(checkpoint, tmp_path / "edited")
    config = json.loads((edited / "config.json").read_text())
    (edited / "config.json").write_text(json.dumps({**config, "model_type": "deepseekvl"}))
    marker = tmp_path / "remote_code_ran"
    (edited / "modeling_vlm.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    with caplog.at_level(logging.INFO, logger="inference.sharded_loading"):
        assert main(["model=deepseek_vl", f"model.model_path={edited}", "model.dtype=fp32",
                     "task=textvqa", "task.limit=1", "task.max_new_tokens=2",
                     "runtime.warm_up=false", f"output_dir={tmp_path / 'out'}"]) == 0
    assert not marker.exists()
    message = caplog.text
    assert "never uses are ignored" in message
    for name in ("vision_model.high_layer_norm.weight", "vision_model.low_layer_norm.bias",
                 "vision_model.vision_tower_low.vision_tower.attn_pool.latent"):
        assert name in message

    broken = _linked_copy(checkpoint, tmp_path / "broken")
    shard = broken / "model-00001-of-00002.safetensors"
    with safe_open(str(shard.resolve()), framework="pt") as handle:
        tensors = {k: handle.get_tensor(k) for k in handle.keys()}
    tensors["vision_model.extra_head.weight"] = torch.zeros(2, 2, dtype=torch.float16)
    shard.unlink()
    save_file(tensors, str(shard), metadata={"format": "pt"})
    index = json.loads((broken / "model.safetensors.index.json").read_text())
    index["weight_map"]["vision_model.extra_head.weight"] = shard.name
    (broken / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(ValueError, match="vision_model.extra_head.weight"):
        load_original(broken, torch.float32)


def test_placeholder_count_must_match_images(checkpoint):
    from runners.models import create_adapter
    from inference.models.protocol import PreparedRequest
    from inference.requests import Request

    adapter = create_adapter(model_config("deepseek_vl", model_path=str(checkpoint)), "cpu",
                             torch.float32)
    image = Image.new("RGB", (32, 32))
    twice = PreparedRequest(Request("0", "<image_placeholder> or <image_placeholder>?"), [image])
    with pytest.raises(ValueError, match="2 <image_placeholder> tags for 1 images"):
        adapter._content(twice)


def test_demo_deepseek_vl_runs_in_bf16(tmp_path):
    assert main(["model=demo_deepseek_vl", "model.dtype=bf16", "task=textvqa", "task.limit=4",
                 "runtime.batch_size=4", f"output_dir={tmp_path}"]) == 0
    records = [json.loads(line) for line in
               (tmp_path / "debug" / "samples.jsonl").read_text().splitlines()]
    assert len(records) == 4 and all("output_ids" in r for r in records)


def test_tensor_parallel_gives_the_ids_of_one_process(tmp_path):
    """runtime.tp=2 (torchrun, gloo on CPU) generates what one process generates."""
    import subprocess

    def ids(out: Path) -> dict:
        lines = (out / "debug" / "samples.jsonl").read_text().splitlines()
        return {json.loads(l)["question_id"]: json.loads(l)["output_ids"] for l in lines}

    common = ["model=demo_deepseek_vl", "task.limit=4", "runtime.batch_size=2"]
    assert main(["task=textvqa", *common, f"output_dir={tmp_path / 'one'}"]) == 0
    root = Path(__file__).resolve().parent.parent
    env = dict(os.environ, PYTHON=sys.executable, NPROC="2", OMP_NUM_THREADS="1")
    result = subprocess.run(["bash", "scripts/mm_run.sh", "textvqa", "demo_deepseek_vl",
                             *common[1:], "runtime.tp=2", f"output_dir={tmp_path / 'tp2'}"],
                            cwd=root, env=env,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert ids(tmp_path / "tp2") == ids(tmp_path / "one")
    assert all(ids(tmp_path / "one").values())


def test_loading_streams_into_an_empty_model(checkpoint, monkeypatch):
    """The config comes from the safetensors headers (no tensor read before the model is
    built), the model is built on the meta device in the target dtype (no random init of a
    full model, no cast afterwards) and filled tensor by tensor."""
    import inference.sharded_loading as sharded_loading
    from inference.models.deepseek_vl.loader import load_original
    from inference.safetensors_reader import SafetensorsFolder

    calls, reads = [], []
    real_fill, real_read = sharded_loading.fill, SafetensorsFolder.read

    def fill(model, entries, *args, **kwargs):
        calls.append((all(p.is_meta for p in model.parameters()),
                      {p.dtype for p in model.parameters()}))
        return real_fill(model, entries, *args, **kwargs)

    def read(self, name, *args, **kwargs):
        reads.append(len(calls))
        return real_read(self, name, *args, **kwargs)

    monkeypatch.setattr(sharded_loading, "fill", fill)
    monkeypatch.setattr(SafetensorsFolder, "read", read)
    _, model = load_original(checkpoint, torch.bfloat16)
    assert calls == [(True, {torch.bfloat16})]
    assert reads and set(reads) == {1}, "a tensor was read before the model was filled"
    assert model.loaded_sharded and not any(p.is_meta for p in model.parameters())
