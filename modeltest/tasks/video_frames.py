"""Which frames of a question's video a model sees (task keys `frames` and `reference_frames`).

`frames: model` (the default): the model's own rule (`model.vision`: Qwen2-VL's fps and frame
limits as qwen-vl-utils applies them, the frame sampler of the other families), on the span
the question is about. `frames: reference`: the frames the benchmark's reference evaluation
reads, by its own formula (inference/benchmark_frames.py), named in `reference_frames`:
  {sampler: mvbench_segments, frames: 16}     MVBench's notebook (VLMEvalKit: 8)
  {sampler: vlmevalkit_uniform, frames: 8}    VLMEvalKit's Video-MME_8frame (nframe)
  {sampler: vlmevalkit_fps, fps: 1}           VLMEvalKit's Video-MME_1fps
The choice travels with each sample as its `video_spec` (inference.requests.VideoSpec), so it
is part of every sample's fingerprint and record.
"""
from __future__ import annotations

from modeltest.samples import DataError

FRAMES = ("model", "reference")
# the reference rules of inference/benchmark_frames.py and the parameter each one takes
SAMPLERS = {"mvbench_segments": "frames", "vlmevalkit_uniform": "frames",
            "vlmevalkit_fps": "fps"}


def reference_spec(task: dict) -> dict:
    """The video_spec keys `task.frames` adds to every sample ({} for the model's rule)."""
    choice = task["frames"]
    if choice == "model":
        return {}
    if choice != "reference":
        raise DataError(f"task.frames={choice}: unknown (known: {', '.join(FRAMES)})")
    reference = task["reference_frames"] or {}
    sampler = reference.get("sampler")
    if sampler not in SAMPLERS:
        raise DataError(f"task.reference_frames.sampler={sampler}: unknown (known: "
                        f"{', '.join(SAMPLERS)})")
    parameter = SAMPLERS[sampler]
    value = reference.get(parameter)
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = 0.0
    if number <= 0 or (parameter == "frames" and number != int(number)):
        raise DataError(f"task.reference_frames.{parameter}={value}: sampler {sampler} needs "
                        f"a positive {'whole number' if parameter == 'frames' else 'number'}")
    return {"sampler": sampler, parameter: int(number) if parameter == "frames" else number}
