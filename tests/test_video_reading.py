"""Videos read as their benchmark says (inference/video_reading.py): MVBench's frame folders
(`00001.jpg`, ... at 3 frames per second) and GIFs, question spans, and the benchmarks'
reference frames, for every video model; the answer's given start (`task.answer_start`) in
every family's prompt.

The reference formulas themselves are golden-tested (tests/test_scorer_mvbench_golden.py,
tests/test_video_prompts_golden.py against the notebook's and VLMEvalKit's own code); here:
which files and frames they pick, and that the models get exactly those pixels."""
import json
import os

import numpy as np
import pytest
import torch
from PIL import Image, ImageSequence

from conftest import model_config
from inference import benchmark_frames
from inference.media import MediaError, video_info
from inference.requests import Request, VideoSpec
from inference.video_reading import (decode_at, frames_for_model, reference_indices,
                                     source_info, span)
from runners.cli import main
from runners.demo import ensure_asset, ensure_demo_model
from runners.models import create_adapter

SPEC_FOLDER = VideoSpec(frame_rate=3, start=1.0, end=7.0)


def _adapter(name: str):
    cfg = model_config(name)
    ensure_demo_model(cfg["model_path"])
    return create_adapter(cfg, "cpu", torch.float32)


@pytest.fixture(scope="module")
def demo():
    root = ensure_asset("data", "mvbench") / "MVBench" / "video"
    return {"folder": str(root / "tvqa/frames_fps3_hq/friends_s01e01_seg01_clip_00"),
            "gif": str(root / "Moments_in_Time_Raw/videos/running_demo.gif"),
            "mp4": str(root / "star/Charades_v1_480/C0A1B.mp4")}


def test_frame_folder_reference_frames_are_the_notebooks_files(demo):
    """read_frame: max_frame = the number of files, get_index(first_idx=1), then
    Image.open(f"{index:05d}.jpg")."""
    count = len(os.listdir(demo["folder"]))
    spec = VideoSpec(frame_rate=3, start=1.0, end=7.0, sampler="mvbench_segments", frames=16)
    numbers = benchmark_frames.mvbench_segments(16, count, 3, (1.0, 7.0), first_idx=1)
    frames = decode_at(demo["folder"], reference_indices(demo["folder"], spec))
    expected = np.stack([np.asarray(Image.open(f"{demo['folder']}/{n:05d}.jpg").convert("RGB"))
                         for n in numbers])
    assert frames.shape == (16, 64, 64, 3) and np.array_equal(frames, expected)
    assert source_info(demo["folder"], spec)[:2] == (24, 3.0)


def test_frame_folder_needs_a_rate_and_the_official_names(demo, tmp_path):
    with pytest.raises(MediaError, match="no frame rate"):
        source_info(demo["folder"], VideoSpec(start=1.0, end=2.0))
    for name in ("frame_a.jpg", "frame_b.jpg", "frame_c.jpg"):
        Image.new("RGB", (8, 8)).save(tmp_path / name)
    with pytest.raises(MediaError, match="not 00001.jpg"):
        reference_indices(str(tmp_path), VideoSpec(frame_rate=3, sampler="mvbench_segments",
                                                   frames=2))
    (tmp_path / "empty").mkdir()
    with pytest.raises(MediaError, match="holds no image"):
        source_info(str(tmp_path / "empty"), SPEC_FOLDER)


def test_gif_frames_are_its_decoded_frames(demo):
    """A GIF's frames (what PIL, and the notebook's imageio reader, decode), read at its own
    timing or at the rate the notebook's gif reader assumes (25)."""
    with Image.open(demo["gif"]) as gif:
        pil = [np.asarray(frame.convert("RGB")) for frame in ImageSequence.Iterator(gif)]
    assert np.array_equal(decode_at(demo["gif"], list(range(len(pil)))), np.stack(pil))
    count, rate, _, _ = source_info(demo["gif"], None)
    assert (count, rate) == (20, 10.0)           # 100 ms a frame
    assert source_info(demo["gif"], VideoSpec(frame_rate=25))[1] == 25.0
    as_gif = VideoSpec(frame_rate=25, sampler="mvbench_segments", frames=8)
    assert reference_indices(demo["gif"], as_gif) == benchmark_frames.mvbench_segments(8, 19, 25)


def test_a_span_keeps_its_frames_only(demo):
    count, rate, _, _ = video_info(demo["mp4"])
    spec = VideoSpec(start=1.0, end=6.5)
    first, last = span(count, rate, spec)
    assert (first, last) == (round(1.0 * rate), round(6.5 * rate))
    frames = frames_for_model(demo["mp4"], 1.0, 100, spec)       # one a second of the span
    expected = decode_at(demo["mp4"], [first + round(k * rate) for k in range(len(frames))])
    assert len(frames) == int((last - first + 1) / rate)
    assert np.array_equal(np.stack([np.asarray(f) for f in frames]), expected)
    with pytest.raises(MediaError, match="holds no frame"):
        span(count, rate, VideoSpec(start=100.0, end=120.0))


def test_qwen2_vl_reads_spans_folders_and_reference_frames_by_its_rule(demo):
    adapter = _adapter("demo_qwen2_vl")
    count, rate, _, _ = video_info(demo["mp4"])
    first, last = span(count, rate, VideoSpec(start=1.0, end=6.5))
    indices = adapter._spec_indices(demo["mp4"], VideoSpec(start=1.0, end=6.5))
    assert indices[0] == first and indices[-1] == last and len(indices) == 4   # max_frames 4
    reference = VideoSpec(sampler="vlmevalkit_uniform", frames=8)
    assert adapter._spec_indices(demo["mp4"], reference) == \
        benchmark_frames.vlmevalkit_uniform(count, 8)
    odd = VideoSpec(sampler="vlmevalkit_uniform", frames=3)     # padded to the frame pair
    picked = benchmark_frames.vlmevalkit_uniform(count, 3)
    assert adapter._spec_indices(demo["mp4"], odd) == picked + picked[-1:]
    tensor = adapter.video_tensor(demo["folder"], SPEC_FOLDER)
    assert tensor.shape[0] == 4 and tensor.dtype == torch.uint8
    estimate = adapter.estimate_input_length(Request("a", "x", video=demo["folder"],
                                                     video_spec=SPEC_FOLDER))
    assert estimate > 0


def test_served_models_refuse_what_a_server_cannot_be_asked():
    from inference.served.adapter import ServedAdapter

    served = ServedAdapter.__new__(ServedAdapter)
    with pytest.raises(MediaError, match="whole video file"):
        served.prepare(Request("a", "x", video="/v.mp4", video_spec=VideoSpec(start=1, end=2)))


@pytest.mark.parametrize("model", ["demo_qwen2_vl", "demo_internvl"])
def test_frame_folders_gifs_and_reference_frames_end_to_end(model, tmp_path, capsys):
    """The frame-folder task and the GIF (as a video, and as the gif data type) through the
    runner, with the model's frames and with the notebook's 16."""
    subjects = "task.subjects=[Fine-grained Action,Episodic Reasoning]"
    for label, extra in [("model", []),
                         ("reference", ["task.frames=reference",
                                        "task.data_list.fine_grained_action.data_type=gif"])]:
        out = tmp_path / label
        assert main(["task=mvbench", f"model={model}", subjects, f"output_dir={out}",
                     *extra]) == 0
        summary = json.loads((out / "results" / "summary.json").read_text())
        assert summary["num_samples"] == 2 and summary["num_errors"] == 0, summary["errors"]
        specs = [json.loads(line).get("video_spec")
                 for line in (out / "debug/samples.jsonl").open()]
        if label == "reference":
            assert specs == [{"frame_rate": 25.0, "sampler": "mvbench_segments", "frames": 16},
                             {"frame_rate": 3.0, "start": 1.0, "end": 7.0,
                              "sampler": "mvbench_segments", "frames": 16}]
        else:
            assert specs == [None, {"frame_rate": 3.0, "start": 1.0, "end": 7.0}]
    # the frames a model sees are part of the run's identity: no mixing into that folder
    assert main(["task=mvbench", f"model={model}", subjects, f"output_dir={tmp_path / 'model'}",
                 "task.frames=reference"]) == 2
    assert "differs in: video_specs" in capsys.readouterr().err


@pytest.mark.parametrize("model, ending", [
    ("demo_qwen2_vl", "<|im_start|>assistant\nBest option:("),
    ("demo_internvl", "<|im_start|>assistant\nBest option:("),
    ("demo_deepseek_vl", "Assistant: Best option:("),
    ("demo_deepseek_vl2", "<|Assistant|>: Best option:("),
])
def test_the_answer_start_follows_each_familys_assistant_turn(model, ending):
    adapter = _adapter(model)
    image = str(sorted((ensure_asset("data", "textvqa") / "images").iterdir())[0])
    request = Request("a", "What is shown?", [image], answer_start="Best option:(")
    built = adapter.build([adapter.prepare(request)]).value
    ids = built.prompt_ids[0] if hasattr(built, "prompt_ids") else built["input_ids"][0].tolist()
    text = adapter.tokenizer.decode(ids, skip_special_tokens=False)
    assert text.endswith(ending), text[-80:]
