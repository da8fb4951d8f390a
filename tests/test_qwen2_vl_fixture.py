"""Qwen2-VL against its model card's stack (transformers 4.46 + qwen-vl-utils' process_vision_info).

tests/fixtures/qwen2_vl was built and recorded by tests/fixtures/build/qwen2_vl_build.py with the
original code (see its HOW.md). Loaded the way a user loads a checkpoint (model=qwen2_vl, the
shipped yaml defaults), the project must generate the recorded ids exactly, at batch 1 and 4,
for the images (task textvqa) and the videos (task videobench, fps 0.5), and build the same
pixel tensors.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from runners.cli import main
from conftest import model_config

FIXTURE = Path(__file__).parent / "fixtures" / "qwen2_vl"
REFERENCE = json.loads((FIXTURE / "reference.json").read_text())
IMAGES = [s for s in REFERENCE["samples"] if s["kind"] == "image"]
VIDEOS = [s for s in REFERENCE["samples"] if s["kind"] == "video"]
MODEL = ["model=qwen2_vl", f"model.model_path={FIXTURE}", "model.dtype=fp32"]


def _records(out: Path) -> dict[str, dict]:
    records = {}
    for path in out.rglob("debug/samples.jsonl"):
        for line in path.read_text().splitlines():
            record = json.loads(line)
            records[str(record["question_id"])] = record
    return records


def _textvqa(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / "textvqa_val.jsonl"
    data.write_text("".join(
        json.dumps({"image": str(FIXTURE / s["file"]), "question": s["question"],
                    "question_id": s["id"], "answer": "x"}) + "\n" for s in IMAGES))
    (folder / "textvqa_val_annotations.json").write_text(json.dumps({"annotations": [
        {"question_id": s["id"], "answers": [{"answer": "x"}] * 10} for s in IMAGES]}))
    return data


def _videobench(folder: Path) -> Path:
    eval_qa = folder / "Eval_QA"
    (eval_qa / "answer").mkdir(parents=True, exist_ok=True)
    questions = {s["id"]: {"vid_path": str(FIXTURE / s["file"]), "video_id": s["id"],
                           "question": s["question"], "choices": {"A": "yes", "B": "no"}}
                 for s in VIDEOS}
    (eval_qa / "MSVD_QA_new.json").write_text(json.dumps(questions))
    (eval_qa / "answer" / "ANSWER.json").write_text(json.dumps(
        {"MSVD": {s["id"]: {"answer": "A"} for s in VIDEOS}}))
    return eval_qa


@pytest.mark.parametrize("batch_size", [1, 4])
def test_images_generate_the_recorded_ids(tmp_path, batch_size):
    data = _textvqa(tmp_path / "data")
    out = tmp_path / "out"
    assert main([*MODEL, "task=textvqa", f"task.local_dataset_path={data}",
                 "task.prompt_template='{question}'", "task.max_new_tokens=16",
                 f"runtime.batch_size={batch_size}", f"output_dir={out}"]) == 0
    records = _records(out)
    for sample in IMAGES:
        assert records[sample["id"]]["output_ids"] == sample["output_ids"], sample["id"]


@pytest.mark.parametrize("batch_size", [1, 4])
def test_videos_at_half_fps_generate_the_recorded_ids(tmp_path, batch_size):
    eval_qa = _videobench(tmp_path / "videobench")
    out = tmp_path / "out"
    assert main([*MODEL, "task=videobench", f"task.local_dataset_path={eval_qa}",
                 "task.subjects=[MSVD]", "task.prompt_template='{question}'",
                 "task.max_new_tokens=16", f"runtime.batch_size={batch_size}",
                 f"output_dir={out}"]) == 0
    records = _records(out)
    for sample in VIDEOS:
        assert records[f"MSVD/{sample['id']}"]["output_ids"] == sample["output_ids"], sample["id"]


@pytest.fixture(scope="module")
def adapter():
    from runners.models import create_adapter

    return create_adapter(model_config("qwen2_vl", model_path=str(FIXTURE), dtype="fp32"),
                          "cpu", torch.float32)


@pytest.mark.parametrize("sample", REFERENCE["samples"], ids=lambda s: s["id"])
def test_prompt_ids_and_pixels_match_the_original(adapter, sample):
    from inference.requests import Request

    video = sample["kind"] == "video"
    request = Request(sample["id"], sample["question"],
                      images=[] if video else [str(FIXTURE / sample["file"])],
                      video=str(FIXTURE / sample["file"]) if video else None)
    prepared = adapter.prepare(request)
    if video:
        assert prepared.video_frames.shape[0] == sample["frames"]
        assert [prepared.video_frames.shape[3], prepared.video_frames.shape[2]] == \
            sample["frame_size"]
    else:
        assert list(prepared.images[0].size) == sample["resized_size"]
    inputs = adapter.build_inputs([prepared])
    assert inputs["input_ids"][0].tolist() == sample["prompt_ids"]
    pixels = inputs[sample["pixel_key"]]
    assert list(pixels.shape) == sample["pixel_shape"]
    grid = inputs["video_grid_thw" if video else "image_grid_thw"].tolist()
    assert grid == sample["grid_thw"]
    assert math.isclose(float(pixels.double().sum()), sample["pixel_sum"], rel_tol=1e-5)
    # The plain sum hides a resize that moves a few pixels by a grey level (letting transformers
    # 5's processor resize the 350x238 image is off by only 3e-6 of the sum); a weighted sum
    # does not: float noise is ~1e-10 of its scale, one grey level on one pixel ~1e-8 to 1e-7.
    checksum, scale = _checksum(pixels)
    assert abs(checksum - sample["pixel_checksum"]) <= 1e-8 * scale


def _checksum(pixels) -> tuple[float, float]:
    """The build script's weighted pixel sum, and the sum of |x_i * w_i| as its scale."""
    flat = pixels.double().flatten()
    index = torch.arange(flat.numel(), dtype=torch.int64)
    weights = ((index * 2654435761) % (2 ** 32)).double() / 2 ** 32 - 0.5
    return float((flat * weights).sum()), float((flat * weights).abs().sum())


def test_qwen_vl_utils_frame_rule():
    from inference.models.qwen2_vl.processor import frame_count, frame_indices, smart_size

    assert frame_count(30, 10.0, 0.5, 4, 768) == 4          # short: at least 4 frames
    assert frame_count(88, 4.0, 0.5, 4, 768) == 12          # 11 rounds (half to even) to 12
    assert frame_count(3, 30.0, 0.5, 4, 768) == 2           # capped by the frame count, even
    assert frame_indices(30, 4) == [0, 10, 19, 29]
    assert smart_size(238, 350, 28, 3136, 12845056) == (224, 336)
    assert smart_size(20, 30, 28, 3136, 12845056) == (56, 84)


def test_demo_qwen2_vl_runs_in_bf16(tmp_path):
    out = tmp_path / "out"
    assert main(["model=demo_qwen2_vl", "model.dtype=bf16", "task=textvqa", "task.limit=4",
                 "runtime.batch_size=4", f"output_dir={out}"]) == 0
    records = list(_records(out).values())
    assert len(records) == 4 and all(r["output_ids"] is not None for r in records)

    from runners.demo import ensure_asset
    from runners.models import create_adapter
    from inference.requests import Request

    adapter = create_adapter(model_config("demo_qwen2_vl",
                                          model_path=str(ensure_asset("models", "qwen2_vl"))),
                             "cpu", torch.bfloat16)
    prepared = adapter.prepare(Request("x", "What is this?",
                                       images=[str(FIXTURE / IMAGES[0]["file"])]))
    inputs = adapter.build_inputs([prepared])
    inputs["pixel_values"] = inputs["pixel_values"].to(torch.bfloat16)
    with torch.inference_mode():
        logits = adapter.model(**inputs).logits
    assert logits.dtype == torch.bfloat16 and torch.isfinite(logits.float()).all()

