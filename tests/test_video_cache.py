"""Video decoded once per run (inference.video_cache) and batches bucketed by the adapter's
estimate of the real input length (image and video tokens included)."""
from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest
import torch

from inference import media
from inference.engine import length_buckets
from inference.models.qwen2_vl import adapter as qwen2_vl
from inference.requests import Request
from inference.video_cache import CACHE, VideoCache
from runners.cli import main
from conftest import model_config

FIXTURE = Path(__file__).parent / "fixtures" / "qwen2_vl"
VIDEOS = ["vid_160x120_3s.mp4", "vid_112x200_22s.mp4"]
QUESTIONS = ["What happens in the video?", "Is the square moving?", "What colour is it?"]


@pytest.fixture(autouse=True)
def fresh_cache():
    CACHE.clear()
    CACHE.configure(64, 2 << 30)
    yield
    CACHE.clear()
    CACHE.configure(64, 2 << 30)


def test_two_workers_asking_at_once_decode_once():
    cache, calls = VideoCache(), []

    def decode():
        calls.append(1)
        time.sleep(0.2)
        return [1, 2, 3]

    key = cache.key(str(FIXTURE / VIDEOS[0]), "x")
    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.get(key, decode)))
               for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1 and results == [[1, 2, 3]] * 4


def test_lru_bounds_and_file_identity(tmp_path):
    cache = VideoCache(max_entries=2)
    files = []
    for name in "abc":
        files.append(tmp_path / name)
        files[-1].write_bytes(b"x")
    for path in files:
        cache.get(cache.key(str(path)), lambda: 0)
    assert cache.decodes == 3
    cache.get(cache.key(str(files[0])), lambda: 0)     # evicted (least recently used)
    cache.get(cache.key(str(files[2])), lambda: 0)     # still there
    assert (cache.decodes, cache.hits) == (4, 1)
    os.utime(files[2], ns=(1, 1))                       # rewritten file: decoded again
    cache.get(cache.key(str(files[2])), lambda: 0)
    assert cache.decodes == 5
    small = VideoCache(max_bytes=1000)
    import numpy as np
    small.get(small.key(str(files[0])), lambda: np.zeros(2000, np.uint8))   # too big to keep
    small.get(small.key(str(files[0])), lambda: np.zeros(2000, np.uint8))
    assert small.decodes == 2


def test_generic_frame_path_decodes_once_and_returns_the_same_frames(monkeypatch):
    path = str(FIXTURE / VIDEOS[1])
    direct = media._decode_video_frames(path, 0.5, 8)
    calls = []
    real = media._decode_video_frames
    monkeypatch.setattr(media, "_decode_video_frames",
                        lambda *a: calls.append(a) or real(*a))
    for _ in range(3):
        frames = media.load_video_frames(path, 0.5, 8)
        assert [f.tobytes() for f in frames] == [f.tobytes() for f in direct]
    media.load_video_frames(path, 1.0, 8)               # other parameters: another entry
    assert len(calls) == 2
    real_at = media._decode_video_frames_at
    monkeypatch.setattr(media, "_decode_video_frames_at",
                        lambda *a: calls.append(a) or real_at(*a))
    first = media.load_video_frames_at(path, [0, 5, 9])
    first[:] = 0                                        # a caller's copy, not the cache's
    again = media.load_video_frames_at(path, [0, 5, 9])
    assert len(calls) == 3 and (again == real_at(path, [0, 5, 9])).all()


def _videobench(folder: Path) -> Path:
    """Video-Bench layout, several questions per video."""
    eval_qa = folder / "Eval_QA"
    (eval_qa / "answer").mkdir(parents=True, exist_ok=True)
    questions = {f"{v[:-4]}_{q}": {"vid_path": str(FIXTURE / v), "video_id": v[:-4],
                                   "question": text, "choices": {"A": "yes", "B": "no"}}
                 for v in VIDEOS for q, text in enumerate(QUESTIONS)}
    (eval_qa / "MSVD_QA_new.json").write_text(json.dumps(questions))
    (eval_qa / "answer" / "ANSWER.json").write_text(json.dumps(
        {"MSVD": {qid: {"answer": "A"} for qid in questions}}))
    return eval_qa


def _run(eval_qa: Path, out: Path, *extra: str) -> dict[str, list[int]]:
    assert main(["model=qwen2_vl", f"model.model_path={FIXTURE}", "model.dtype=fp32",
                 "task=videobench", f"task.local_dataset_path={eval_qa}",
                 "task.subjects=[MSVD]", "task.prompt_template='{question}'",
                 "task.max_new_tokens=4", "runtime.batch_size=2", f"output_dir={out}",
                 *extra]) == 0
    records = {}
    for path in out.rglob("debug/samples.jsonl"):
        for line in path.read_text().splitlines():
            record = json.loads(line)
            records[str(record["question_id"])] = record["output_ids"]
    return records


def test_videobench_decodes_each_video_once_with_the_same_predictions(tmp_path, monkeypatch):
    calls = []
    real = qwen2_vl._decode_video_frames_at
    monkeypatch.setattr(qwen2_vl, "_decode_video_frames_at",
                        lambda path, indices: calls.append(path) or real(path, indices))
    eval_qa = _videobench(tmp_path / "vb")
    cached = _run(eval_qa, tmp_path / "cached")
    assert sorted(calls) == sorted(str(FIXTURE / v) for v in VIDEOS)   # once per video
    calls.clear()
    CACHE.clear()
    uncached = _run(eval_qa, tmp_path / "uncached", "runtime.video_cache_entries=0")
    assert len(calls) >= len(VIDEOS) * len(QUESTIONS)   # every question (and the warm-up)
    assert len(cached) == 6 and cached == uncached


# -- length bucketing --------------------------------------------------------------------
def test_buckets_follow_the_estimate_not_the_characters():
    requests = [Request("long-text-small-image", "x" * 400, images=["a"]),
                Request("short-text-big-image", "x", images=["b"]),
                Request("mid", "x" * 50, images=["c"])]
    tokens = {"a": 10, "b": 5000, "c": 300}
    estimate = lambda r: len(r.text) // 4 + tokens[r.images[0]]          # noqa: E731
    batches = length_buckets(requests, 2, estimate)
    assert [r.request_id for b in batches for r in b] == \
        ["long-text-small-image", "mid", "short-text-big-image"]
    by_chars = length_buckets(requests, 2)
    assert [r.request_id for b in by_chars for r in b][0] == "short-text-big-image"
    failing = lambda r: 1 / 0                                            # noqa: E731
    assert len(length_buckets(requests, 2, failing)) == 2               # falls back to text


@pytest.fixture(scope="module")
def adapter():
    from runners.models import create_adapter

    return create_adapter(model_config("qwen2_vl", model_path=str(FIXTURE), dtype="fp32"),
                          "cpu", torch.float32)


@pytest.mark.parametrize("name", ["img_30x20.png", "img_350x238.png", "img_90x400.png",
                                  *VIDEOS])
def test_qwen2_vl_estimate_counts_the_vision_tokens_exactly(adapter, name):
    video = name.endswith(".mp4")
    request = Request(name, "Describe it.", images=[] if video else [str(FIXTURE / name)],
                      video=str(FIXTURE / name) if video else None)
    decodes = CACHE.decodes
    estimate = adapter.estimate_input_length(request)
    if video:
        assert CACHE.decodes - decodes <= 1      # the container header only, no frames
    ids = adapter.build_inputs([adapter.prepare(request)])["input_ids"][0].tolist()
    config = adapter.model.config
    pad = config.video_token_id if video else config.image_token_id
    assert estimate - len(request.text) // 4 == ids.count(pad)


# -- seeking ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def long_video(tmp_path_factory):
    from modeltest.demo_data import write_video

    path = tmp_path_factory.mktemp("video") / "long.mp4"
    write_video(path, 3, seconds=40, fps=25, size=64)
    return str(path)


@pytest.mark.parametrize("fps,max_frames", [(0.5, 8), (0.1, 4), (1, 3), (2, 100)])
def test_seeking_gives_the_frames_decoding_from_the_start_gives(long_video, monkeypatch,
                                                                fps, max_frames):
    import av

    seeks = []
    real_seek = av.container.InputContainer.seek
    monkeypatch.setattr(av.container.InputContainer, "seek",
                        lambda self, *a, **k: seeks.append(a) or real_seek(self, *a, **k))
    for path in [long_video, *(str(FIXTURE / v) for v in VIDEOS)]:
        linear = media._decode_video_frames(path, fps, max_frames, seek_gap=0)
        seeking = media._decode_video_frames(path, fps, max_frames)
        assert [f.tobytes() for f in seeking] == [f.tobytes() for f in linear], path
    if 1 / fps > media.SEEK_GAP_SECONDS or max_frames * 10 < 40 * fps:
        assert seeks        # sparse samples on the long video: it did seek


def test_questions_on_one_video_stay_together_ordered_by_the_video_length():
    tokens = {"big.mp4": 1005, "small.mp4": 1000}   # by estimate alone they interleave
    requests = [Request(f"{v}-{i}", "x" * (40 * i + (3 if v == "big.mp4" else 0)), video=v)
                for i in range(4) for v in tokens]
    estimate = lambda r: len(r.text) // 4 + tokens[r.video]              # noqa: E731
    order = [r.request_id for b in length_buckets(requests, 3, estimate) for r in b]
    assert order == [f"small.mp4-{i}" for i in range(4)] + [f"big.mp4-{i}" for i in range(4)]
