"""runtime.compile: the compiled decode path (a static KV cache and a compiled decode step,
inference/compiled_decode.py) gives exactly the eager ids, texts and step counts at fp32 on
CPU, for every generative demo family at batch 1 and at batch 4 (left padding, rows ending at
different steps), and with tp=2 through the launcher; its warm-up is left out of the timings;
summary.json says which decode path ran; bad settings are one-line errors."""
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
from inference.models import create_adapter
from inference.models.deepseek_vl2 import DeepseekVL2Adapter
from inference.models.protocol import GenerationClock
from inference.requests import Request
from runners.cli import main
from runners.config import compose, to_container
from runners.demo import ensure_asset

ROOT = Path(__file__).resolve().parent.parent
FAMILIES = ["demo_qwen2_vl", "demo_internvl", "demo_deepseek_vl", "demo_deepseek_vl2"]
NEW_TOKENS = 12


def prepared_requests(adapter, count: int) -> list:
    data = ensure_asset("data", "textvqa")
    lines = [json.loads(line) for line in (data / "textvqa_val.jsonl").read_text().splitlines()]
    return [adapter.prepare(Request(str(i), line["question"], [str(data / line["image"])],
                                    None, NEW_TOKENS)) for i, line in enumerate(lines[:count])]


def stop_also_at(adapter, token: int) -> None:
    """Make `token` end a row as EOS does (stopping and the cutting of output_ids alike), so
    that the random demo models' rows end at different steps."""
    if isinstance(adapter, DeepseekVL2Adapter):     # generates with the tokenizer's EOS
        adapter.tokenizer.eos_token = adapter.tokenizer.convert_ids_to_tokens(token)
        assert adapter.tokenizer.eos_token_id == token
        return
    config = adapter.model.generation_config
    eos = config.eos_token_id
    config.eos_token_id = [*(eos if isinstance(eos, list) else [eos]), token]


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


@pytest.mark.parametrize("name", FAMILIES)
def test_compiled_decode_gives_the_eager_ids(name):
    cfg = to_container(compose([f"model={name}"]))
    ensure_asset("models", Path(cfg["model"]["model_path"]).name)
    adapter = create_adapter(cfg["model"], "cpu", torch.float32)
    assert adapter.decode.plan.backend == "eager"
    prepared = prepared_requests(adapter, 5)
    single, batch = prepared[:1], prepared[1:5]
    stop_also_at(adapter, early_stop_token(adapter.generate(batch, NEW_TOKENS).output_ids))
    eager = [adapter.generate(single, NEW_TOKENS), adapter.generate(batch, NEW_TOKENS)]
    lengths = [len(ids) for ids in eager[1].output_ids]
    assert len(set(lengths)) > 1 and max(lengths) == NEW_TOKENS, lengths   # rows end apart

    adapter.decode = CompiledDecode(plan_for("on", "cpu"))
    compiled = [adapter.generate(single, NEW_TOKENS), adapter.generate(batch, NEW_TOKENS)]
    for expected, got in zip(eager, compiled):
        assert outcome(got) == outcome(expected)
    summary = adapter.decode.summary()
    assert summary["backend"] == "inductor" and summary["shapes"] == [[1, 256], [4, 256]]


def test_compiled_decode_with_tensor_parallelism_through_the_launcher(tmp_path):
    """tp=2 over gloo, compiled, against one eager process; batch 4, where a row of the first
    batch ends at its EOS before the others."""
    assert main(["task=textvqa", "model=demo_qwen2_vl", "runtime.batch_size=4",
                 "runtime.compile=off", f"output_dir={tmp_path / 'eager'}"]) == 0
    env = dict(os.environ, PYTHON=sys.executable, NPROC="2", OMP_NUM_THREADS="1")
    result = subprocess.run(["bash", "scripts/mm_run.sh", "textvqa", "demo_qwen2_vl",
                             "runtime.batch_size=4", "runtime.tp=2", "runtime.compile=on",
                             f"output_dir={tmp_path / 'compiled'}"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]

    def records(folder: Path) -> dict:
        lines = (folder / "debug" / "samples.jsonl").read_text().splitlines()
        return {r["question_id"]: (r["prediction"], r["output_ids"]) for r in map(json.loads, lines)}

    eager, compiled = records(tmp_path / "eager"), records(tmp_path / "compiled")
    assert compiled == eager and len(eager) == 12
    assert len({len(ids) for _, ids in eager.values()}) > 1       # rows ended at different steps
    summary = json.loads((tmp_path / "compiled" / "results" / "summary.json").read_text())
    assert summary["tp"] == 2
    assert summary["compile"]["setting"] == "on" and summary["compile"]["backend"] == "inductor"
    assert summary["compile"]["shapes"] == [[4, 256]]     # warmed up at the run's batch size
    assert summary["compile"]["warmup_seconds"] > 0
    eager_summary = json.loads((tmp_path / "eager" / "results" / "summary.json").read_text())
    assert eager_summary["compile"]["backend"] == "eager"


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
    bandwidth bound, and the same predictions from eager and compiled."""
    out = tmp_path / "decode.json"
    result = subprocess.run(
        [sys.executable, "scripts/bench_decode.py", "--small", "--out", str(out),
         "--batch-sizes", "1,2", "--decode-tokens", "3", "--repeats", "1", "--samples", "4",
         "--eval-batch-size", "2", "--eval-new-tokens", "3", "--bandwidth", "100"],
        cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True, text=True,
        timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(out.read_text())
    assert list(report["backends"]) == ["eager", "compiled"]
    assert report["bandwidth_gb_s"] == 100 and report["bandwidth_source"] == "--bandwidth"
    assert report["bound_per_token_s"] == pytest.approx(report["decode_weight_bytes"] / 100e9)
    for name, backend in report["backends"].items():
        assert set(backend["per_token"]) == {"1", "2"}
        assert all(run["per_token_s"] > 0 for run in backend["per_token"].values())
        assert backend["samples_per_second"] > 0
        assert backend["identical_predictions_to_eager"]
    assert report["backends"]["compiled"]["decode"]["backend"] == "inductor"
    assert report["backends"]["eager"]["decode"]["backend"] == "eager"
    table = result.stdout
    assert "decode ms/token, batch 2" in table and "bandwidth bound" in table
    assert "eval samples/s" in table and "same predictions as eager" in table
