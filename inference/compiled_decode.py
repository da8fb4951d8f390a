"""The compiled decode path (`runtime.compile: auto | on | off`): a static KV cache and a
graph-captured decode step, under the same greedy loop as eager.

Every generative family decodes with transformers' own `generate()` (Qwen2-VL, InternVL and
DeepSeek-VL in either layout are transformers classes; DeepSeek-VL2's language model is
transformers' DeepseekV2 with this project's mixture of experts). So the compiled path is
transformers' own static-cache machinery, switched on here for all of them:
- the KV cache is a `StaticCache` sized to a bucket (below), passed to `generate(cache=...)`
  and kept between batches of the same shape (reset, not reallocated: CUDA graphs replay
  on fixed addresses);
- `generate(compile_config=...)` compiles the model's forward for the one-token decode step
  (prefill stays eager: its shapes change with every batch);
- everything around the step (logits processors, EOS ids, stop strings, min/max new tokens,
  padding of finished rows, the output layout) is generate()'s own, identical to eager, so
  the adapters' cutting of `output_ids` needs no change;
- DeepSeek-VL2's routed experts, whose eager loop picks tokens by routing (shapes that
  depend on data), run every local expert on the step's few tokens inside the compiled step
  and keep each slot's own expert output (DeepseekMoE.forward).
An adapter plugs in by calling `self.decode.run(model, clock, **generate_kwargs)` where it
called `model.generate(**generate_kwargs)`, and setting `supports_compiled_decode = True`.

Which compiler (`DecodePlan.backend`):
- CUDA: inductor with CUDA graphs (`mode="reduce-overhead"`): one graph replay per token;
- Ascend NPU: torchair's graph mode (`torchair.get_npu_backend`), when torch_npu and torchair
  import; static shapes, as graph mode wants them. NOT tested here (no NPU was at hand);
- CPU: inductor (C++ kernels; gcc). `auto` keeps CPU eager: see CPU_MEASUREMENT.

Shapes and recompilation. Compiling sees a (batch, cache length) shape:
- the cache length is the prompt plus max_new_tokens, padded up to a power of two, at least
  MIN_CACHE_LENGTH, and never shrinking within a process (transformers keeps the largest
  too); so a run has at most log2(longest / MIN_CACHE_LENGTH) + 1 lengths;
- the batch is the engine's: every batch holds runtime.batch_size requests except a run's
  last one and one-at-a-time retries, so a run sees at most three batch sizes;
- a step whose code branches on data (dynamic NTK RoPE, in InternLM2 configs such as
  InternVL2-2B's: it checks the longest position each step) is split there into two graphs
  (fullgraph=False) rather than refused; the demo families compile into one graph;
- inductor (CUDA, CPU) compiles with dynamic shapes: one graph for batch 1 and one for every
  other batch size and length (two compilations per process); CUDA graphs are recorded per
  concrete shape (a recording, not a compilation). Graph mode on NPU compiles per shape,
  bounded as above.
A shape's first batch is preceded by a short untimed warm-up generation (WARMUP_TOKENS new
tokens on the same inputs) that compiles and records, and the clock leaves it out, so
compilation never counts as prefill or decode time; its seconds are reported apart
(`summary()`, in summary.json under `compile`).

Compiling does not change which tokens come out (it only reorders floating-point work, as
batching does): tests/test_compiled_decode.py checks identical ids against eager at fp32 on
CPU for every demo family, batch 1 and 4, and tp=2; so `runtime.compile` is not part of a
run's identity (runners/resume.py).
"""
from __future__ import annotations

import logging
import time
from collections import OrderedDict
from dataclasses import dataclass

# torch and transformers are imported where used: runners.validation reads SETTINGS in the
# launcher, before any model (or torch) loads
log = logging.getLogger(__name__)

SETTINGS = ("auto", "on", "off")
MIN_CACHE_LENGTH = 256
WARMUP_TOKENS = 3         # prefill + 2 decode steps: compiles, then records a CUDA graph
KEPT_CACHES = 4           # static caches kept for reuse (one per recent shape)
NPU_RECOMPILE_LIMIT = 64  # graph mode compiles per shape; dynamo's default limit is 8

# What `auto` does on CPU, from measurement (scripts/bench_decode.py, AMD EPYC, 2 threads, a
# machine shared with other jobs; CPU ms of the process per decode step, which the sharing
# disturbs less than wall time; README "Compiled decode"):
#   demo_qwen2_vl, fp32, 32 tokens, median of 5:  batch 1  eager 16.5, compiled 20.2
#                                                 batch 16 eager 52.7, compiled 58.2
#   random Qwen2-VL-2B size, bf16, 8 tokens, 2 runs: batch 1  eager 1398, compiled 2340
#                                                 batch 16 eager 1812, compiled 3581
# and compiling cost 1,021 s (wall) for the 2B model's two graphs. Compiled is slower on CPU
# at both sizes, so `auto` keeps CPU eager; `on` still compiles there (how the tests check
# that compiling changes no token).
CPU_MEASUREMENT = ("auto keeps CPU eager: measured slower compiled (scripts/bench_decode.py, "
                   "README: Compiled decode)")
AUTO_COMPILES_ON_CPU = False


class CompileUnavailable(ValueError):
    """runtime.compile=on where no compiler for the device is installed."""


@dataclass(frozen=True)
class DecodePlan:
    setting: str      # runtime.compile as configured
    backend: str      # what runs the decode step: eager, inductor, inductor+cudagraphs, torchair
    reason: str

    @property
    def compiled(self) -> bool:
        return self.backend != "eager"


class _SharedBackend:
    """A compile backend that deep-copies as itself: CompileConfig.to_dict() deep-copies its
    fields, and a graph-mode backend holds compiler state that must not be copied."""

    def __init__(self, backend):
        self.backend = backend

    def __call__(self, graph, example_inputs):
        return self.backend(graph, example_inputs)

    def __deepcopy__(self, memo):
        return self


def _torchair_backend():
    """torch_npu's graph mode (torchair, GE graphs with its default CompilerConfig), or None
    when it does not import."""
    try:
        import torch_npu  # noqa: F401  (registers the npu device)
        import torchair
        from torchair.configs.compiler_config import CompilerConfig
    except Exception:   # ImportError, or an OSError without CANN
        return None
    return _SharedBackend(torchair.get_npu_backend(compiler_config=CompilerConfig()))


def plan_for(setting: str, device: str) -> DecodePlan:
    """Which decode path `runtime.compile=setting` gives on `device`."""
    if setting not in SETTINGS:
        raise ValueError(f"runtime.compile={setting}: unknown (use {', '.join(SETTINGS)})")
    kind = str(device).split(":")[0]
    if setting == "off":
        return DecodePlan(setting, "eager", "runtime.compile=off")
    if kind == "cuda":
        return DecodePlan(setting, "inductor+cudagraphs", f"runtime.compile={setting} on cuda")
    if kind == "npu":
        if _torchair_backend() is not None:
            return DecodePlan(setting, "torchair", f"runtime.compile={setting} on npu")
        if setting == "on":
            raise CompileUnavailable("runtime.compile=on on npu needs torchair (shipped with "
                                     "torch_npu), which does not import here")
        return DecodePlan(setting, "eager", "runtime.compile=auto on npu: torchair does not "
                                            "import, so decoding stays eager")
    if setting == "on" or AUTO_COMPILES_ON_CPU:
        return DecodePlan(setting, "inductor", f"runtime.compile={setting} on {kind}")
    return DecodePlan(setting, "eager", CPU_MEASUREMENT)


def cache_length(needed: int) -> int:
    """The static cache's length for `needed` positions: a power of two, at least
    MIN_CACHE_LENGTH."""
    length = MIN_CACHE_LENGTH
    while length < needed:
        length *= 2
    return length


class CompiledDecode:
    """One adapter's decode path. `run(model, clock, **generate_kwargs)` replaces
    `model.generate(**generate_kwargs)` in the adapter's `_generate`."""

    def __init__(self, plan: DecodePlan):
        self.plan = plan
        self._config = None
        self._caches: OrderedDict[tuple[int, int], object] = OrderedDict()
        self._longest = 0
        self.warmup_seconds = 0.0
        self.warmed: list[tuple[int, int]] = []     # (batch, cache length) in order

    @classmethod
    def eager(cls, setting: str = "off", reason: str = "runtime.compile=off") -> "CompiledDecode":
        return cls(DecodePlan(setting, "eager", reason))

    # -- the decode step ------------------------------------------------------------------
    def run(self, model, clock, **kwargs):
        """`model.generate(**kwargs)`, with a static cache and a compiled decode step when the
        plan says so; a new shape is warmed up first, outside the clock's timings."""
        if not self.plan.compiled:
            return model.generate(**kwargs)
        prompt = kwargs["input_ids"] if kwargs.get("input_ids") is not None \
            else kwargs["inputs_embeds"]
        batch, prompt_len = int(prompt.shape[0]), int(prompt.shape[1])
        self._longest = max(self._longest, cache_length(prompt_len + kwargs["max_new_tokens"]))
        shape = (batch, self._longest)
        kwargs.update(cache=self._cache(model, shape), compile_config=self._compile_config())
        if shape not in self.warmed:
            with clock.untimed():
                started = time.perf_counter()
                model.generate(**self._warmup_kwargs(kwargs))
                self.warmup_seconds += time.perf_counter() - started
            self.warmed.append(shape)
            log.info("compiled decode warmed up for batch %d, cache length %d in %.1f s",
                     batch, shape[1], time.perf_counter() - started)
            kwargs["cache"].reset()
        return model.generate(**kwargs)

    def _cache(self, model, shape: tuple[int, int]):
        """A static cache for this shape, reused (zeroed) when the shape comes again."""
        from transformers import StaticCache

        cache = self._caches.pop(shape, None)
        if cache is None:
            cache = StaticCache(config=model.config.get_text_config(decoder=True),
                                max_cache_len=shape[1])
            while len(self._caches) >= KEPT_CACHES:
                self._caches.popitem(last=False)
        else:
            cache.reset()
        self._caches[shape] = cache
        return cache

    def _compile_config(self):
        if self._config is None:
            from transformers import CompileConfig

            if self.plan.backend == "torchair":
                import torch

                torch._dynamo.config.recompile_limit = max(
                    torch._dynamo.config.recompile_limit, NPU_RECOMPILE_LIMIT)
                config = CompileConfig(fullgraph=False, dynamic=False, mode=None,
                                       backend=_torchair_backend())
            else:
                mode = "reduce-overhead" if self.plan.backend == "inductor+cudagraphs" \
                    else "default"
                config = CompileConfig(fullgraph=False, dynamic=True, mode=mode)
            # generate() compiles by itself only on cuda-like devices; this flag is its
            # documented switch for the others (cpu, npu)
            config._compile_all_devices = True
            self._config = config
        return self._config

    @staticmethod
    def _warmup_kwargs(kwargs: dict) -> dict:
        """The same call, a few tokens long, without the caller's stateful hooks (the
        first-token clock, per-step recorders, streamers): only the shapes matter."""
        warm = {k: v for k, v in kwargs.items()
                if k not in ("logits_processor", "stopping_criteria", "streamer")}
        warm["max_new_tokens"] = WARMUP_TOKENS
        warm["min_new_tokens"] = WARMUP_TOKENS   # all rows decode every step of the warm-up
        return warm

    # -- reporting ------------------------------------------------------------------------
    def summary(self) -> dict:
        """For summary.json: the setting, what ran the decode step and why, and what the
        warm-ups (compilation, graph recording) cost."""
        return {"setting": self.plan.setting, "backend": self.plan.backend,
                "reason": self.plan.reason, "warmup_seconds": round(self.warmup_seconds, 3),
                "shapes": [list(shape) for shape in self.warmed]}
