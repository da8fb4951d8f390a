"""The vLLM backend as an adapter: a family's adapter class with vLLM generating.

`vllm_adapter(family, runtime)` puts `VLLMBackend` in front of the family's class, so media
are decoded and resized by the family's `prepare` and the prompt is built by the family's
`build_inputs` (its chat template and processor: for Qwen2-VL the images qwen-vl-utils
resizes, the frames it samples), exactly as the embedded runtime builds them. What changes:
no transformers model is loaded (`_load` returns the vllm.LLM engine in its place) and
`_generate` asks vLLM.

vLLM takes a prompt as token ids with one placeholder token per image or video and expands
each placeholder itself, from the media, with the checkpoint's processor. So each row's ids
go to vLLM with every run of placeholder tokens collapsed to one, the media beside them, and
the processor keyword arguments the family passes; the prompt vLLM then runs is compared with
the embedded runtime's, token for token, and a row whose prompt differs is that sample's
error, never a silently different answer.

Outputs come back as the embedded runtime's: the text decoded from the ids (special tokens
kept), `output_ids` cut before the first end-of-sequence id, the same token counts; with
runtime.logprobs (`set_logprobs`), the top-k log-probabilities of every step.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inference.generation import stop_ids, token_ids_only
from inference.models.base import check_model_path, cut_at_eos
from inference.models.protocol import Generation, PreparedRequest
from inference.vllm_backend.engine import start_engine
from inference.vllm_backend.sampling import sampling_kwargs, step_logprobs
from inference.vllm_backend.support import check_architecture, check_supported, \
    installed_version

# where a checkpoint's config.json names its image/video placeholder tokens
PLACEHOLDER_KEYS = ("image_token_id", "video_token_id", "image_token_index", "video_token_index")


@dataclass
class EnginePrompt:
    """One row for vLLM: the embedded runtime's prompt ids, the same with each placeholder
    run collapsed, and the media the family prepared."""
    ids: list[int]
    collapsed: list[int]
    media: dict[str, list]
    processor_kwargs: dict[str, Any]

    def request(self) -> dict:
        request: dict[str, Any] = {"prompt_token_ids": self.collapsed}
        if self.media:
            request["multi_modal_data"] = self.media
            request["mm_processor_kwargs"] = self.processor_kwargs
        return request


@dataclass
class EngineBatch:
    """build_inputs' value: the rows for vLLM, and the family's processor output they came
    from (what the embedded runtime would have run; kept for per-row input records)."""
    rows: list[EnginePrompt]
    processor_inputs: Any


@dataclass
class VLLMGeneration(Generation):
    """A batch's results, where a row may fail alone (its prompt came out other than the
    embedded runtime's, or the engine's length limit cut it)."""
    errors: list = field(default_factory=list)

    def row_errors(self) -> tuple[list[str | None], list[bool]]:
        return self.errors, [False] * len(self.errors)


def collapse(ids: list[int], placeholders: set[int]) -> list[int]:
    """The ids with each run of one placeholder token reduced to a single token."""
    kept: list[int] = []
    for token in ids:
        if token in placeholders and kept and kept[-1] == token:
            continue
        kept.append(token)
    return kept


def prompt_difference(expected: list[int], got: list[int] | None) -> str | None:
    """Where vLLM's prompt differs from the embedded runtime's (None: identical)."""
    got = list(got or [])
    if got == expected:
        return None
    at = next((i for i, (a, b) in enumerate(zip(expected, got)) if a != b),
              min(len(expected), len(got)))
    return (f"vLLM's prompt differs from the embedded runtime's at token {at} of "
            f"{len(expected)} (vLLM has {len(got)} tokens): the backend cannot reproduce "
            "this family's input")


def placeholder_ids(path: Path) -> set[int]:
    config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    return {config[key] for key in PLACEHOLDER_KEYS if isinstance(config.get(key), int)}


def checkpoint_generation_config(path: Path, trust: bool):
    """The generation config transformers gives the embedded model: generation_config.json,
    else derived from config.json."""
    from transformers import AutoConfig, GenerationConfig

    if (path / "generation_config.json").is_file():
        return GenerationConfig.from_pretrained(path)
    return GenerationConfig.from_model_config(AutoConfig.from_pretrained(
        path, trust_remote_code=trust))


class VLLMBackend:
    """Placed before a family's adapter class (`vllm_adapter`); `runtime` is bound there."""

    runtime: dict | None = None
    logprobs = 0          # runtime.logprobs: top-k per generated step (0: off)

    @classmethod
    def check(cls, model_cfg) -> None:
        check_supported(model_cfg)
        super().check(model_cfg)        # the family's own (the checkpoint folder)

    def __init__(self, model_cfg, device, dtype, tp_mesh=None):
        if self.runtime is None:
            raise ValueError("model.backend=vllm: the adapter class needs the run's runtime "
                             "settings (runners.models.create_adapter(..., runtime=...))")
        self.check(model_cfg)
        path = check_model_path(model_cfg["model_path"])
        check_architecture(path)
        # the checkpoint's token ids (end of sequence) as transformers gives the embedded
        # model; every token-changing setting is model.generation's (self.generation, set by
        # the family's __init__ with inference.generation.resolve_generation)
        self.checkpoint_token_ids = token_ids_only(checkpoint_generation_config(
            path, bool(model_cfg["trust_remote_code"])))
        self.placeholders = placeholder_ids(path)
        self.sampling: dict | None = None      # the last SamplingParams, for run_stats
        # vLLM's workers hold the tensor-parallel shards: this process has no tp group
        super().__init__(model_cfg, device, dtype, None)

    # -- loading: the processor the family uses, vLLM's engine in place of the model -------
    def _load(self, path, dtype, trust, model_cfg):
        return self._load_processor(path, trust), start_engine(path, trust, dtype, self.device,
                                                               self.runtime)

    def _place(self, model):
        return model                    # vLLM placed its model on its own devices

    def _keep_only_token_ids(self) -> None:
        pass                            # no transformers model: checkpoint_token_ids above

    def eos_token_id(self):
        return self.checkpoint_token_ids.eos_token_id

    def _vision_token_ids(self) -> set[int]:
        return self.placeholders

    def input_fingerprints(self, batch: list[PreparedRequest], inputs: "EngineBatch"):
        """From the family's processor output for the batch, as the embedded runtime computes
        them: the prompt ids are the ones vLLM runs (each request's expanded prompt is checked
        against them in _generate), the pixels those of the family's processor on the media
        vLLM's processor is given."""
        return super().input_fingerprints(batch, inputs.processor_inputs)

    # -- inputs: the family's, per row -------------------------------------------------------
    def build_inputs(self, batch: list[PreparedRequest]) -> EngineBatch:
        built = super().build_inputs(batch)        # the family's processor, left-padded
        rows = []
        for ids, mask, prepared in zip(built["input_ids"].tolist(),
                                       built["attention_mask"].tolist(), batch):
            ids = [token for token, keep in zip(ids, mask) if keep]
            rows.append(EnginePrompt(ids, collapse(ids, self.placeholders),
                                     *self._media(prepared)))
        return EngineBatch(rows, built)

    def _media(self, prepared: PreparedRequest) -> tuple[dict, dict]:
        """(multi_modal_data, processor kwargs) as the family's build_inputs passes the same
        media to its processor."""
        images = list(prepared.images)
        videos = []
        kwargs = dict(self.processor_kwargs)
        if prepared.video_frames is not None:
            if self.video_mode == "native":
                # (frames, height, width, channels), the frames the family sampled and sized
                videos.append(_frames_array(prepared.video_frames))
                videos_kwargs = dict(kwargs.get("videos_kwargs") or {})
                videos_kwargs["do_sample_frames"] = False
                kwargs["videos_kwargs"] = videos_kwargs
            else:
                images.extend(prepared.video_frames)
        media = {}
        if images:
            media["image"] = images
        if videos:
            media["video"] = videos
        return media, kwargs

    def _text_len(self, rows: list[EnginePrompt]) -> int:
        return max((sum(token not in self.placeholders for token in row.ids) for row in rows),
                   default=0)

    # -- generation ----------------------------------------------------------------------------
    def _generate(self, batch, inputs: EngineBatch, max_new_tokens, ignore_eos,
                  clock) -> VLLMGeneration:
        from vllm import SamplingParams

        rows = inputs.rows
        stops = stop_ids(self.generation, self.eos_token_id())
        self.sampling = sampling_kwargs(self.generation, stops, max_new_tokens, ignore_eos,
                                        self.logprobs)
        params = SamplingParams(**self.sampling)
        requests = [row.request() for row in rows]
        clock.inputs_on_device()
        # vLLM's engine stamps times with the monotonic clock (in its engine process too)
        monotonic_to_perf = time.perf_counter() - time.monotonic()
        outputs = self.model.generate(requests, params, use_tqdm=False)
        clock.finish()
        first = [o.metrics.first_token_ts for o in outputs
                 if getattr(o.metrics, "first_token_ts", 0)]
        if first:
            clock.first_token.time = min(first) + monotonic_to_perf
        decoder = self.decoding_copy(self.tokenizer)
        texts, counts, ids, errors, logprobs = [], [], [], [], []
        for row, output in zip(rows, outputs):
            completion = output.outputs[0]
            generated = list(completion.token_ids)
            error = prompt_difference(row.ids, output.prompt_token_ids)
            if error is None and completion.finish_reason == "length" \
                    and len(generated) < max_new_tokens:
                error = (f"vLLM stopped after {len(generated)} of {max_new_tokens} tokens at "
                         f"its model length (runtime.vllm.max_model_len)")
            kept = self._trim_padding(generated)
            errors.append(error)
            texts.append(None if error else decoder.decode(kept, skip_special_tokens=False))
            counts.append(0 if error else len(kept))
            ids.append(None if error else cut_at_eos(kept, stops))
            logprobs.append(step_logprobs(completion, self.logprobs) if self.logprobs else None)
        result = VLLMGeneration(texts, counts, max(len(row.ids) for row in rows),
                                steps=max(len(o.outputs[0].token_ids) for o in outputs),
                                output_ids=ids, text_len=self._text_len(rows),
                                errors=errors, **clock.timings())
        # runtime.logprobs: per row, [[[token id, log-prob] x k] per step] (Generation's
        # top_logprobs where the runtime records them)
        result.top_logprobs = logprobs if self.logprobs else None
        return result

    # -- the run's summary -------------------------------------------------------------------
    def run_stats(self) -> dict:
        import vllm

        # the run's generation settings are summary.json's `generation`; here what vLLM got
        return {"vllm": {"version": vllm.__version__, "installed": installed_version(),
                         "tensor_parallel_size": int(self.runtime["tp"]),
                         "engine": dict(self.runtime["vllm"]),
                         "sampling_params": self.sampling}}

    def close(self) -> None:
        """Stop vLLM's engine processes now rather than at interpreter exit."""
        engine = getattr(getattr(self.model, "llm_engine", None), "engine_core", None)
        if engine is not None and hasattr(engine, "shutdown"):
            engine.shutdown()


def _frames_array(frames):
    """A (T, 3, H, W) uint8 tensor of frames as vLLM takes a video: (T, H, W, 3) numpy."""
    return frames.permute(0, 2, 3, 1).contiguous().numpy()


def vllm_adapter(family: type, runtime: dict | None = None) -> type:
    """`family` (an adapter class built on inference.models.base.ImageTextAdapter) with
    generation by vLLM; `runtime` is the run's runtime section (None: for `check` only)."""
    return type(f"VLLM{family.__name__}", (VLLMBackend, family),
                {"runtime": runtime, "__module__": __name__})
