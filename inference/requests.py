"""What the engine is asked to do, and what it answers."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class VideoSpec:
    """How a benchmark says a question's video is read (inference/video_reading.py); a
    request without one reads the whole file by the model's own frame rule.

    `frame_rate`: the rate a folder of frames (or a GIF) is read at, as the benchmark reads
    it (MVBench: 3 for its frame folders, 25 for GIFs); None: a file's own rate.
    `start`/`end`: seconds; the question is about this span only (MVBench's bounded tasks).
    `sampler`: the benchmark's reference frames (a rule of inference/benchmark_frames.py:
    mvbench_segments, vlmevalkit_uniform, vlmevalkit_fps) instead of the model's rule, with
    `frames` (segments, nframe) or `fps`."""
    frame_rate: float | None = None
    start: float | None = None
    end: float | None = None
    sampler: str | None = None
    frames: int | None = None
    fps: float | None = None


@dataclass
class Request:
    request_id: str
    text: str                           # user text, before the model's chat template
    images: list[str] = field(default_factory=list)
    video: str | None = None
    max_new_tokens: int = 32
    video_spec: VideoSpec | None = None  # None: the whole video, the model's frame rule
    # the text the model's answer begins with, after its chat template's assistant turn
    # opens (MVBench's own evaluation: "Best option:("); the model continues from it
    answer_start: str = ""
    # the text marks with `<image k>` where image k goes (inference/image_markers.py); each
    # family lays the images out as its own code does for such a question
    image_markers: bool = False


@dataclass
class Response:
    request_id: str
    text: str | None
    error: str | None = None
    num_input_tokens: int = 0           # padded prompt length of its batch
    num_output_tokens: int = 0
    e2e_time: float = 0.0               # seconds for the batch this request ran in
    first_token_time: float = 0.0       # seconds until its batch's first token
    output_ids: list[int] | None = None  # generated ids, cut at end of sequence
    top_answers: list | None = None     # classifiers: [[answer, logit], ...], best first
    input_fingerprint: dict | None = None   # what the model was given (inference.fingerprints)
    top_logprobs: list | None = None    # runtime.logprobs: per step [[token, log-prob], ...]
    retry: bool = False                 # not the sample's fault (a served endpoint failed):
                                        # left for a rerun instead of recorded
