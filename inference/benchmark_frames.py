"""Which frame indices the video benchmarks' reference evaluations read (pure arithmetic).

Each function repeats one official formula operation for operation (Python's `round` and
numpy's `np.round` both round half to even; `int` truncates toward zero), so that a loader
can read exactly the frames the reference code reads. tests/golden/mvbench_prompts.json and
videomme_prompts.json hold the indices recorded from the original code: OpenGVLab/Ask-Anything
video_chat2/mvbench.ipynb at 4dd8210 (last changed in 71ac7a2) and open-compass/VLMEvalKit
vlmeval/dataset/{videomme,mvbench}.py at e8e78f0.

- `mvbench_segments`: MVBench's notebook (`MVBench_dataset.get_index`; VLMEvalKit's
  `MVBench.get_index` is the same): the span [start, end] seconds (the whole video when
  there is no bound) is cut into `num_segments` equal segments and the middle of each is
  taken. Videos: `max_frame = len(video) - 1`, `fps` the average frame rate, `first_idx=0`;
  frame folders (Episodic Reasoning): `max_frame` = the number of files, fps 3, `first_idx=1`
  (files are `00001.jpg`...); GIFs: fps 25. The notebook uses 16 segments, VLMEvalKit
  `nframe` (8 in `MVBench_8frame`).
- `vlmevalkit_uniform`: VLMEvalKit `VideoMME.save_video_frames` with `nframe > 0` (and
  `VideoBaseDataset.save_video_frames`): `nframe` points strictly inside the video, at
  i * len / (nframe + 1) for i = 1..nframe — neither the first nor the last frame.
- `vlmevalkit_fps`: the same with `fps > 0`: one frame every video_fps / fps frames over
  int(duration * fps) frames.
- `vlmevalkit_mvbench_mp4`: VLMEvalKit `MVBench_MP4.get_index_by_frame`.
"""
from __future__ import annotations


def mvbench_segments(num_segments: int, max_frame: int, fps: float,
                     bound: tuple[float, float] | None = None, first_idx: int = 0) -> list[int]:
    start, end = bound if bound else (-100000, 100000)
    start_idx = max(first_idx, round(start * fps))
    end_idx = min(round(end * fps), max_frame)
    seg_size = float(end_idx - start_idx) / num_segments
    return [int(start_idx + (seg_size / 2) + round(seg_size * idx))
            for idx in range(num_segments)]


def vlmevalkit_uniform(n_frames: int, nframe: int) -> list[int]:
    step_size = n_frames / (nframe + 1)
    return [int(i * step_size) for i in range(1, nframe + 1)]


def vlmevalkit_fps(n_frames: int, video_fps: float, fps: float) -> list[int]:
    total_duration = n_frames / video_fps
    required_frames = int(total_duration * fps)
    step_size = video_fps / fps
    return [int(i * step_size) for i in range(required_frames)]


def vlmevalkit_mvbench_mp4(max_frame: int, num_segments: int) -> list[int]:
    seg_size = float(max_frame) / num_segments
    return [int((seg_size / 2) + round(seg_size * idx)) for idx in range(num_segments)]
