"""runtime.compile: the compiled decode path (a static KV cache and a compiled decode step,
inference/compiled_decode.py) gives exactly the eager ids, texts, step counts and
log-probabilities at fp32 on CPU, with every model.generation setting applied, for every
generative demo family at batch 4 (left padding, rows ending at different steps) and at batch 1,
and with tp=2 through the launcher (compared with runner=compare); its warm-up is left out of
the timings; summary.json says which decode path ran; bad settings are one-line errors."""
import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from inference.compiled_decode import (WARMUP_TOKENS, CompileUnavailable, CompiledDecode,
                                       cache_length, plan_for)
from runners.models import create_adapter
from inference.models.protocol import GenerationClock
from inference.requests import Request
from runners.cli import main
from runners.config import compose, to_container
from runners.demo import ensure_asset

ROOT = Path(__file__).resolve().parent.parent
NEW_TOKENS = 12


def prepared_requests(adapter, count: int) -> list:
    data = ensure_asset("data", "textvqa")
    lines = [json.loads(line) for line in (data / "textvqa_val.jsonl").read_text().splitlines()]
    return [adapter.prepare(Request(str(i), line["question"], [str(data / line["image"])],
                                    None, NEW_TOKENS)) for i, line in enumerate(lines[:count])]


def early_stop_token(rows: list[list[int]]) -> int:
    """A token the first row makes early that some other row never makes."""
    first = rows[0]
    for step in range(1, len(first)):
        token = first[step]
        if token not in first[:step] and any(token not in row for row in rows[1:]):
            return token
    raise AssertionError(f"no early stop token in {rows}")


def outcome(generation) -> tuple:
    return (generation.output_ids, generation.texts, generation.output_tokens,
            generation.steps, generation.prompt_len)


def same_logprobs(got: list, expected: list) -> bool:
    """The same tokens at every step, log-probabilities equal to float rounding (a compiled
    kernel may sum in another order than eager's)."""
    if [[[t for t, _ in step] for step in row] for row in got] != \
            [[[t for t, _ in step] for step in row] for row in expected]:
        return False
    flat = [(a, b) for row_a, row_b in zip(got, expected) for step_a, step_b in zip(row_a, row_b)
            for (_, a), (_, b) in zip(step_a, step_b)]
    return all(abs(a - b) <= 1e-4 for a, b in flat)


# Compiling costs tens of seconds per graph on a CPU, and inductor compiles one graph for
# batch 1 and one for every other batch: batch 1 is checked on one family, batch 4 (left
# padding, rows ending at different steps) on all of them.
FAMILY_BATCHES = [("demo_qwen2_vl", (1, 4)), ("demo_internvl", (4,)),
                  ("demo_deepseek_vl", (4,)), ("demo_deepseek_vl2", (4,))]
# every model.generation setting that reaches generate(), and runtime.logprobs
SETTINGS = ["model.generation.repetition_penalty=1.3", "model.generation.no_repeat_ngram_size=3"]
LOGPROBS = 3


@pytest.mark.parametrize("name,batches", FAMILY_BATCHES)
def test_compiled_decode_gives_the_eager_ids(name, batches):
    """With the repetition penalty, no_repeat_ngram_size, a stop token id and runtime.logprobs
    set: the same ids, texts, step counts and log-probabilities compiled as eager."""
    cfg = to_container(compose([f"model={name}", *SETTINGS]))
    ensure_asset("models", Path(cfg["model"]["model_path"]).name)
    adapter = create_adapter(cfg["model"], "cpu", torch.float32)
    adapter.set_logprobs(LOGPROBS)
    assert adapter.decode.plan.backend == "eager"
    assert adapter.generation.repetition_penalty == 1.3
    prepared = prepared_requests(adapter, 5)
    calls = [prepared[:1] if size == 1 else prepared[1:1 + size] for size in batches]
    # a stop token id (model.generation.stop_token_ids) that ends one row of the batch early
    stop = early_stop_token(adapter.generate(calls[-1], NEW_TOKENS).output_ids)
    adapter.generation = dataclasses.replace(adapter.generation, stop_token_ids=(stop,))
    eager = [adapter.generate(call, NEW_TOKENS) for call in calls]
    lengths = [len(ids) for ids in eager[-1].output_ids]
    assert len(set(lengths)) > 1 and max(lengths) == NEW_TOKENS, lengths   # rows end apart

    adapter.decode = CompiledDecode(plan_for("on", "cpu"))
    compiled = [adapter.generate(call, NEW_TOKENS) for call in calls]
    for expected, got in zip(eager, compiled):
        assert outcome(got) == outcome(expected)
        assert len(got.top_logprobs) == len(calls[eager.index(expected)])
        assert same_logprobs(got.top_logprobs, expected.top_logprobs)
    summary = adapter.decode.summary()
    assert summary["backend"] == "inductor"
    assert summary["shapes"] == [[size, 256] for size in batches]


class RecordingModel:
    """generate() that records what it was called with."""

    def __init__(self):
        from transformers import Qwen2Config

        self.config = Qwen2Config(hidden_size=8, intermediate_size=16, num_hidden_layers=1,
                                  num_attention_heads=2, num_key_value_heads=1, vocab_size=32)
        self.calls: list[dict] = []

    def generate(self, **kwargs):
        self.calls.append(kwargs)
        return "output"


def test_every_generation_setting_reaches_the_compiled_generate():
    """The compiled call is the eager call (hf_generate_kwargs of the resolved settings: stop
    ids beside EOS, stop strings with their tokenizer, the penalties, the logits processors
    that record log-probabilities) plus only the static cache and the compile config."""
    from inference.generation import GenerationSettings, RepetitionPenalty, hf_generate_kwargs
    from inference.logprobs import StepLogprobs

    settings = GenerationSettings(None, repetition_penalty=1.2, no_repeat_ngram_size=3,
                                  stop_token_ids=(7, 9), stop_strings=("###",))
    clock = GenerationClock("cpu", logprobs=2)
    tokenizer = object()
    kwargs = hf_generate_kwargs(settings, 10, False, clock.logits_processors(), 2, tokenizer)
    eager_model, compiled_model = RecordingModel(), RecordingModel()
    CompiledDecode.eager().run(eager_model, clock, input_ids=torch.zeros(2, 5), **kwargs)
    CompiledDecode(plan_for("on", "cpu")).run(compiled_model, clock,
                                              input_ids=torch.zeros(2, 5), **kwargs)
    (eager,), (warm_up, real) = eager_model.calls, compiled_model.calls
    assert set(real) - set(eager) == {"cache", "compile_config"}
    assert all(real[key] is eager[key] or real[key] == eager[key] for key in eager
               if key != "input_ids")
    assert real["eos_token_id"] == [2, 7, 9] and real["stop_strings"] == ["###"]
    assert real["tokenizer"] is tokenizer and real["no_repeat_ngram_size"] == 3
    assert [type(p) for p in real["logits_processor"]] == \
        [RepetitionPenalty, type(clock.first_token), StepLogprobs]
    # the warm-up compiles the same call a few tokens long, recording nothing
    assert "logits_processor" not in warm_up and warm_up["eos_token_id"] == [2, 7, 9]


def test_compiled_decode_with_tensor_parallelism_through_the_launcher(tmp_path):
    """tp=2 over gloo, compiled, against one eager process, both with runtime.logprobs;
    batch 4, where a row of the first batch ends at its EOS before the others. runner=compare
    finds them identical token by token, log-probabilities within the vendor's KL criterion,
    and names the decode path among the setup differences; the same input fingerprints;
    summary.json says which decode path ran."""
    assert main(["task=textvqa", "model=demo_qwen2_vl", "runtime.batch_size=4",
                 "runtime.logprobs=2", "runtime.compile=off",
                 f"output_dir={tmp_path / 'eager'}"]) == 0
    env = dict(os.environ, PYTHON=sys.executable, NPROC="2", OMP_NUM_THREADS="1")
    result = subprocess.run(["bash", "scripts/mm_run.sh", "textvqa", "demo_qwen2_vl",
                             "runtime.batch_size=4", "runtime.tp=2", "runtime.logprobs=2",
                             "runtime.compile=on", f"output_dir={tmp_path / 'compiled'}"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]

    def records(folder: Path) -> dict:
        lines = (folder / "debug" / "samples.jsonl").read_text().splitlines()
        return {r["question_id"]: (r["prediction"], r["output_ids"], r["fingerprint"])
                for r in map(json.loads, lines)}

    eager, compiled = records(tmp_path / "eager"), records(tmp_path / "compiled")
    assert compiled == eager and len(eager) == 12
    assert len({len(ids) for _, ids, _ in eager.values()}) > 1    # rows ended at different steps
    summary = json.loads((tmp_path / "compiled" / "results" / "summary.json").read_text())
    assert summary["tp"] == 2
    assert summary["compile"]["setting"] == "on" and summary["compile"]["backend"] == "inductor"
    assert summary["compile"]["shapes"] == [[4, 256]]     # warmed up at the run's batch size
    assert summary["compile"]["warmup_seconds"] > 0
    eager_summary = json.loads((tmp_path / "eager" / "results" / "summary.json").read_text())
    assert eager_summary["compile"]["backend"] == "eager"
    assert summary["generation"] == eager_summary["generation"]

    assert main(["runner=compare", f"runner.a={tmp_path / 'eager'}",
                 f"runner.b={tmp_path / 'compiled'}", "runner.bootstrap=200",
                 f"output_dir={tmp_path / 'cmp'}"]) == 0
    compared = json.loads((tmp_path / "cmp" / "results" / "compare.json").read_text())
    assert compared["identical_ids"] == 12 and compared["changed_samples"] == 0
    assert compared["logprobs"]["tokens"] > 12
    assert compared["logprobs"]["vendor_criterion"]["passed"] is True
    assert {"runtime.compile: 'off' -> 'on'", "decode.backend: 'eager' -> 'inductor'",
            "runtime.tp: 1 -> 2"} <= set(compared["setup_differences"])


class SleepyModel:
    """generate() that takes long when it is the compiled path's warm-up."""

    def __init__(self, warmup_seconds: float):
        from transformers import Qwen2Config

        self.config = Qwen2Config(hidden_size=8, intermediate_size=16, num_hidden_layers=1,
                                  num_attention_heads=2, num_key_value_heads=1, vocab_size=32)
        self.warmup_seconds = warmup_seconds
        self.calls: list[dict] = []

    def generate(self, **kwargs):
        self.calls.append(kwargs)
        time.sleep(self.warmup_seconds if kwargs["max_new_tokens"] == WARMUP_TOKENS else 0.01)
        return "output"


def test_warm_up_runs_once_per_shape_and_is_left_out_of_the_timings():
    model, decode = SleepyModel(0.5), CompiledDecode(plan_for("on", "cpu"))
    clock = GenerationClock("cpu")
    clock.inputs_on_device()
    assert decode.run(model, clock, input_ids=torch.zeros(2, 300), max_new_tokens=10,
                      logits_processor=[clock.first_token]) == "output"
    clock.finish()
    warm, real = model.calls
    assert warm["max_new_tokens"] == warm["min_new_tokens"] == WARMUP_TOKENS
    assert "logits_processor" not in warm and real["logits_processor"] == [clock.first_token]
    assert warm["cache"] is real["cache"] and real["cache"].get_max_length() == 512
    assert real["compile_config"].dynamic
    assert decode.warmup_seconds >= 0.5
    assert clock.timings()["e2e_time"] < 0.4       # the 0.5 s warm-up is not in it

    decode.run(model, GenerationClock("cpu"), input_ids=torch.zeros(2, 20), max_new_tokens=10)
    assert len(model.calls) == 3                   # same shape: the cache never shrinks
    decode.run(model, GenerationClock("cpu"), input_ids=torch.zeros(1, 20), max_new_tokens=10)
    decode.run(model, GenerationClock("cpu"), input_ids=torch.zeros(1, 600), max_new_tokens=10)
    assert decode.summary()["shapes"] == [[2, 512], [1, 512], [1, 1024]]
    assert [cache_length(n) for n in (1, 256, 257, 5000)] == [256, 256, 512, 8192]


def test_plans_per_device_and_setting(monkeypatch):
    import inference.compiled_decode as compiled_decode

    assert plan_for("off", "cuda").backend == "eager"
    assert plan_for("auto", "cuda:1").backend == "inductor+cudagraphs"
    assert plan_for("auto", "cpu").backend == "eager"          # measured: see CPU_MEASUREMENT
    assert plan_for("on", "cpu").backend == "inductor"
    monkeypatch.setattr(compiled_decode, "_torchair_backend", lambda: None)
    assert plan_for("auto", "npu").backend == "eager"
    with pytest.raises(CompileUnavailable, match="torchair"):
        plan_for("on", "npu")
    monkeypatch.setattr(compiled_decode, "_torchair_backend", lambda: "graph mode")
    assert plan_for("auto", "npu:0").backend == "torchair"
    with pytest.raises(ValueError, match="runtime.compile=fast"):
        plan_for("fast", "cpu")


def test_a_bad_setting_is_a_one_line_error_and_the_environment_sets_the_default(
        capsys, tmp_path, monkeypatch):
    ensure_asset("data", "textvqa")
    capsys.readouterr()
    assert main(["task=textvqa", "runtime.compile=fast", f"output_dir={tmp_path}"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "modeltest: error: runtime.compile=fast: unknown (use auto, on, off)"
    assert compose([])["runtime"]["compile"] == "auto"
    monkeypatch.setenv("MODELTEST_COMPILE", "on")
    assert compose([])["runtime"]["compile"] == "on"


def test_bench_decode_prints_its_table_and_writes_json(tmp_path):
    """scripts/bench_decode.py on the demo model, tiny sizes: every backend's column, the
    bandwidth bound, and the same predictions from eager and compiled. Batch sizes 2 and 3
    share one compiled graph (batch 1 would be a second compilation)."""
    out = tmp_path / "decode.json"
    result = subprocess.run(
        [sys.executable, "scripts/bench_decode.py", "--small", "--out", str(out),
         "--batch-sizes", "2,3", "--decode-tokens", "3", "--repeats", "1", "--samples", "4",
         "--eval-batch-size", "2", "--eval-new-tokens", "3", "--bandwidth", "100"],
        cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True, text=True,
        timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(out.read_text())
    assert list(report["backends"]) == ["eager", "compiled"]
    assert report["bandwidth_gb_s"] == 100 and report["bandwidth_source"] == "--bandwidth"
    assert report["bound_per_token_s"] == pytest.approx(report["decode_weight_bytes"] / 100e9)
    for name, backend in report["backends"].items():
        assert set(backend["per_token"]) == {"2", "3"}
        assert all(run["per_token_s"] > 0 for run in backend["per_token"].values())
        assert backend["samples_per_second"] > 0
        assert backend["identical_predictions_to_eager"]
    assert report["backends"]["compiled"]["decode"]["backend"] == "inductor"
    assert report["backends"]["eager"]["decode"]["backend"] == "eager"
    table = result.stdout
    assert "decode ms/token, batch 2" in table and "bandwidth bound" in table
    assert "eval samples/s" in table and "same predictions as eager" in table
