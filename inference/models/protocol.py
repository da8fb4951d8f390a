"""The adapter protocol every model family implements (transformers-layout models, VLMo,
DeepSeek-VL2, a model behind a server), and the types it speaks.

The life of a batch, and which thread runs each step:

    for_checkpoint(model_cfg)     the family's class for the checkpoint's layout (registry lookup)
    check(model_cfg)              static, before loading: a one-line error on a bad config
    Adapter(model_cfg, device, dtype, tp_mesh=None)             loads the model
    prepare(request)              background worker: decode the media (MediaError on bad files)
    build(batch) -> BuiltInputs   background worker: build_inputs(batch) timed; CPU tensors
    generate(batch, max_new_tokens, ignore_eos=False, inputs=None) -> Generation
                                  main thread: copy to the device, run the model (builds the
                                  inputs itself when none are given)
    estimate_input_length(request), close(), run_stats()
    input_fingerprints(batch, inputs) per row, what the model was given (inference.fingerprints);
                                  computed in build, after the timed build_inputs
    set_logprobs(k)               record the top-k log-probabilities of every generated step
                                  (inference.logprobs; the clock carries the recorder)
    decode                        the decode path (inference.compiled_decode, runtime.compile,
                                  set by runners.models.create_adapter): a family's _generate
                                  calls decode.run(model, clock, **kwargs) where it would call
                                  model.generate(**kwargs), with the same kwargs either way

Training (runner=train) goes through the same prepare(), so the model is trained on the
prompt and pixels evaluation gives it:
    build_training_inputs(batch, answers)   the evaluation prompt + answer + end of turn,
                                            labels on the answer tokens only (CPU tensors)
    training_loss(inputs) -> (loss, answer tokens, input tokens)   forward on the device
    language_parameters()                   what runner.trainable=language trains
    save_checkpoint(folder)                 the weights in the family's own layout

`build_inputs` runs while the main thread generates the previous batch, so it must touch
no state that generation changes; `build` serialises build_inputs calls per adapter (a
tokenizer's padding settings are mutable state), and the main thread decodes with its own
copy of a tokenizer (`decoding_copy`).

Timings (`GenerationClock`, one place for every family): preprocess = building the inputs
(measured where they were built) + the copy to the device; prefill = until the first token's
logits exist (device synchronised); decode = the rest. e2e = preprocess + prefill + decode.
"""
from __future__ import annotations

import copy
import threading
import time
from abc import ABC, abstractmethod
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch

from inference import image_markers
from inference.compiled_decode import CompiledDecode
from inference.device import synchronize
from inference.fingerprints import decoded_media
from inference.logprobs import StepLogprobs, steps_per_row
from inference.requests import Request


class FirstTokenClock:
    """A logits processor that notes when the first token's logits exist (end of prefill).
    On CUDA/NPU it synchronises first, so the time is when prefill finished on the device
    rather than when its kernels were queued."""

    def __init__(self, device: str | None = None):
        self.device = device
        self.time: float | None = None

    def __call__(self, input_ids, scores):
        if self.time is None:
            synchronize(self.device)
            self.time = time.perf_counter()
        return scores


@dataclass
class PreparedRequest:
    """A request with its media decoded, ready for the processor."""
    request: Request
    images: list = field(default_factory=list)
    video_frames: list | None = None
    # image_sizes / video_frames as decoded from the files, for the input fingerprint; a
    # family that resizes in prepare() notes them first (else taken from images/video_frames)
    decoded: dict | None = None
    # a request with image markers: its text and image slots in the family's layout (an int
    # is the position in `images`); None: the images go where the family puts them unmarked
    pieces: list | None = None

    def media(self) -> dict:
        return self.decoded if self.decoded is not None \
            else decoded_media(self.images, self.video_frames)


@dataclass
class BuiltInputs:
    """What `build_inputs` returned for a batch (CPU tensors), and the seconds it took."""
    value: Any
    seconds: float = 0.0
    fingerprints: list[dict] | None = None     # per row (inference.fingerprints)


@dataclass
class Generation:
    texts: list[str]
    output_tokens: list[int]          # per row, up to its end of sequence
    # the real model input length: the sequence the model's prefill runs over (padded to the
    # batch's longest row, image/video tokens included)
    prompt_len: int
    e2e_time: float                   # seconds: inputs built, prefill, decode
    first_token_time: float           # seconds from the start until the first token's logits
    steps: int                        # decode steps the batch ran
    output_ids: list[list[int]] = field(default_factory=list)  # per row, cut at its EOS
    # classifiers (VLMo): per row, the best answers as [answer, logit], best first
    top_answers: list[list[list]] | None = None
    # seconds of the above spent building inputs (processor, tiling, tokenising, copy to the
    # device) before the model runs: prefill is first_token_time - preprocess_time
    preprocess_time: float = 0.0
    text_len: int = 0                 # text tokens of the longest row (no image/pad tokens)
    # per row: what the model was given (inference.fingerprints), and with runtime.logprobs
    # the top-k [token, log-prob] of each of its steps (inference.logprobs)
    input_fingerprints: list[dict] | None = None
    top_logprobs: list | None = None

    # -- per row (a batch shares its timings and succeeds or fails as one; a served model's
    # requests have their own: ServedGeneration) ------------------------------------------
    def row_times(self) -> tuple[list[float], list[float]]:
        """(e2e seconds, first-token seconds) per row."""
        rows = len(self.texts)
        return [self.e2e_time] * rows, [self.first_token_time] * rows

    def row_errors(self) -> tuple[list[str | None], list[bool]]:
        """(error message or None, leave for a rerun) per row."""
        rows = len(self.texts)
        return [None] * rows, [False] * rows


class GenerationClock:
    """The timings of one generate call; every adapter's generate uses it.

    Created when generate starts (inputs already built, `built_seconds` ago in total); the
    adapter calls `inputs_on_device()` once its inputs are on the device, passes
    `first_token` to the model's generate as a logits processor (a classifier leaves it
    unused: its first token is its end), and calls `finish()` when the output exists.
    Work inside `with clock.untimed():` (a compiled decode step's warm-up) is left out of
    every timing.
    """

    def __init__(self, device: str | None, built_seconds: float = 0.0, logprobs: int = 0):
        self.device = device
        self.built_seconds = float(built_seconds)
        self.first_token = FirstTokenClock(device)
        # runtime.logprobs: the recorder rides with the clock, the one object every family's
        # generate already passes to the model as logits processors
        self.step_logprobs = StepLogprobs(logprobs) if logprobs else None
        self.start = time.perf_counter()
        self.ready: float | None = None
        self.end: float | None = None
        self.excluded: list[tuple[float, float]] = []

    @contextmanager
    def untimed(self):
        """Leave the work inside out of the timings (device synchronised at both ends)."""
        synchronize(self.device)
        started = time.perf_counter()
        try:
            yield
        finally:
            synchronize(self.device)
            self.excluded.append((started, time.perf_counter()))

    def _since_start(self, moment: float) -> float:
        """Seconds from the start to `moment`, less the untimed work before it."""
        left_out = sum(min(end, moment) - begin for begin, end in self.excluded
                       if begin < moment)
        return moment - self.start - left_out

    def logits_processors(self) -> list:
        """What a family passes to transformers' generate as `logits_processor`."""
        return [self.first_token] + ([self.step_logprobs] if self.step_logprobs else [])

    def row_logprobs(self, output_ids: list[list[int]], steps: int) -> list | None:
        """Each row's recorded steps, or None when runtime.logprobs is off."""
        if self.step_logprobs is None:
            return None
        return self.step_logprobs.rows(steps_per_row(output_ids, steps))

    def inputs_on_device(self) -> None:
        synchronize(self.device)
        self.ready = time.perf_counter()

    def finish(self) -> None:
        synchronize(self.device)
        self.end = time.perf_counter()

    def timings(self) -> dict[str, float]:
        """Generation's e2e_time, first_token_time and preprocess_time, in seconds."""
        end = self.end if self.end is not None else time.perf_counter()
        ready = self.ready if self.ready is not None else self.start
        first = self.first_token.time if self.first_token.time is not None else end
        return {"e2e_time": self.built_seconds + self._since_start(end),
                "first_token_time": self.built_seconds + self._since_start(first),
                "preprocess_time": self.built_seconds + self._since_start(ready)}


class ModelAdapter(ABC):
    """One model family: load, prepare media, build inputs, generate with timings.

    `video_mode` says how a video reaches the model: natively ("native"), as a sequence of
    images ("frames"), or as a file sent to a server ("served").
    """

    video_mode = "frames"
    # requests per engine batch the adapter asks for (a served model: its concurrency);
    # None: runtime.batch_size
    requests_per_batch: int | None = None
    device: str | None = None         # where the model runs (None: not in this process)
    logprobs: int = 0                 # runtime.logprobs: top-k per generated step (0: off)
    # a classifier answers with its best label (VLMo): no model.generation setting applies
    classifier = False
    # how the family lays out a question that marks where its images go
    # (inference/image_markers.py): interleaved, numbered_in_front or first_in_front
    image_layout = staticmethod(image_markers.interleaved)
    # the decode path (inference/compiled_decode.py), set by create_adapter; families whose
    # _generate decodes through it say so (a classifier or a served model has no decode loop)
    supports_compiled_decode = False
    decode: CompiledDecode = CompiledDecode.eager()

    @classmethod
    def for_checkpoint(cls, model_cfg) -> type["ModelAdapter"]:
        """The adapter class for the checkpoint `model_cfg` names: a family that takes several
        checkpoint layouts has one class per layout (InternVL) and picks here; others are
        their own."""
        return cls

    @staticmethod
    @abstractmethod
    def check(model_cfg) -> None:
        """Fail early, before any model loads, with a one-line error (ModelPathError)."""

    @abstractmethod
    def __init__(self, model_cfg, device: str, dtype: torch.dtype, tp_mesh=None):
        """Load the model (on `device`, in `dtype`, sharded over `tp_mesh` when given)."""

    @abstractmethod
    def prepare(self, request: Request) -> PreparedRequest:
        """Decode the request's media (background worker; MediaError on a bad file)."""

    @abstractmethod
    def build_inputs(self, batch: list[PreparedRequest]) -> Any:
        """The model's inputs for a batch, on the CPU: processor, tiling, tokenising
        (background worker, while the main thread generates: no state generation changes)."""

    @abstractmethod
    def _generate(self, batch: list[PreparedRequest], inputs: Any, max_new_tokens: int,
                  ignore_eos: bool, clock: GenerationClock) -> Generation:
        """Copy `inputs` (build_inputs' value) to the device and run the model, calling the
        clock's `inputs_on_device()` and `finish()`; the timings come from `clock.timings()`."""

    def input_fingerprints(self, batch: list[PreparedRequest], inputs: Any) -> list[dict] | None:
        """Per row, what the model is given (inference.fingerprints); None when the family
        cannot say. Called with build_inputs' value, before generation touches it."""
        return None

    def set_logprobs(self, k: int) -> None:
        """Record the top-k log-probabilities of every generated step (0: off)."""
        self.logprobs = int(k)
    def placed_images(self, request: Request) -> tuple[list | None, list[str]]:
        """(pieces in this family's layout, image paths in the order shown) of a request
        whose text marks where its images go; (None, its images) for any other request."""
        if request.image_markers and request.video:
            raise ValueError("a question that marks where its images go cannot also have a "
                             "video")
        return image_markers.placed(request.text, request.images, request.image_markers,
                                    self.image_layout)

    # -- what callers use -------------------------------------------------------------------
    def build(self, batch: list[PreparedRequest]) -> BuiltInputs:
        """build_inputs, timed, then the input fingerprints (not timed); one at a time per
        adapter (any thread)."""
        with self._build_lock():
            start = time.perf_counter()
            value = self.build_inputs(batch)
            seconds = time.perf_counter() - start
            return BuiltInputs(value, seconds, self.input_fingerprints(batch, value))

    @torch.inference_mode()
    def generate(self, batch: list[PreparedRequest], max_new_tokens: int,
                 ignore_eos: bool = False, inputs: BuiltInputs | None = None) -> Generation:
        """Greedy generation for a batch, with its timings; `inputs` from `build(batch)`
        (built here when not given). `ignore_eos`: always produce max_new_tokens."""
        if inputs is None:
            inputs = self.build(batch)
        clock = GenerationClock(self.device, inputs.seconds, self.logprobs)
        generation = self._generate(batch, inputs.value, max_new_tokens, ignore_eos, clock)
        if generation.input_fingerprints is None:
            generation.input_fingerprints = inputs.fingerprints
        return generation

    def estimate_input_length(self, request: Request) -> int:
        """A cheap measure of the model input length (no decoding), for bucketing batches
        by length: here the text's characters; families that know their token counts,
        vision tokens included, override it."""
        return len(request.text)

    def context_length(self) -> int | None:
        """The most positions the model's language model takes (its config's
        max_position_embeddings), or None when unknown or not this process's to check (a
        served model: the server refuses what it cannot take)."""
        model = getattr(self, "model", None)
        for owner in (model, getattr(model, "language", None)):
            config = getattr(owner, "config", None)
            if config is None:
                continue
            text = config.get_text_config() if hasattr(config, "get_text_config") else config
            value = getattr(text, "max_position_embeddings", None)
            if isinstance(value, int) and value > 0:
                return value
        return None

    def close(self) -> None:
        """Release what the adapter holds besides the model (threads, connections)."""

    # -- training (runner=train); families that can be fine-tuned override these ----------
    # MoE layers leave experts without tokens in a batch: data parallelism must expect that
    has_unused_parameters = False

    def build_training_inputs(self, batch: list[PreparedRequest], answers: list[str]) -> Any:
        """The inputs of `batch` (prepared as for evaluation) with `answers` as targets, on
        the CPU: each row is the prompt build_inputs gives followed by the answer and the
        end-of-turn token the model stops at; only those tokens carry labels."""
        raise NotImplementedError(f"{type(self).__name__}: this model family cannot be "
                                  "trained by runner=train")

    def training_loss(self, inputs: Any) -> tuple[torch.Tensor, int, int]:
        """(mean cross-entropy over the answer tokens, answer tokens, input tokens) of inputs
        from build_training_inputs, computed on the device with gradients."""
        raise NotImplementedError(f"{type(self).__name__}: this model family cannot be "
                                  "trained by runner=train")

    def language_parameters(self) -> list[torch.nn.Parameter]:
        """The language model's parameters (embeddings and output head included): what
        runner.trainable=language trains, the vision tower and projector left frozen."""
        raise NotImplementedError(f"{type(self).__name__}: this model family cannot be "
                                  "trained by runner=train")

    def save_checkpoint(self, folder) -> None:
        """Write the (trained) model to `folder` in the family's own checkpoint layout, so
        that model.model_path=<folder> loads it like any other checkpoint."""
        raise NotImplementedError(f"{type(self).__name__}: this model family cannot save a "
                                  "checkpoint")

    def run_stats(self) -> dict:
        """Figures for the run's summary (e.g. a served model's request counts)."""
        return {}

    def decode_summary(self) -> dict:
        """The decode path for the run's summary: runtime.compile and what it gave."""
        return self.decode.summary()

    # -- thread safety ----------------------------------------------------------------------
    def _build_lock(self) -> threading.Lock:
        # created on first use; dict.setdefault is atomic, so two threads get the same lock
        return self.__dict__.setdefault("_inputs_lock", threading.Lock())

    def decoding_copy(self, tokenizer):
        """A copy of `tokenizer` for the main thread's decoding, made once (while no inputs
        are being built), so that it never shares the tokenizer build_inputs uses."""
        copies = self.__dict__.setdefault("_decoding_copies", {})
        if id(tokenizer) not in copies:
            with self._build_lock():
                copies.setdefault(id(tokenizer), (tokenizer, copy.deepcopy(tokenizer)))
        return copies[id(tokenizer)][1]
