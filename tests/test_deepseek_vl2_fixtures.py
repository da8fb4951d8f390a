"""DeepSeek-VL2 against references recorded with the ORIGINAL deepseek-ai/DeepSeek-VL2 code
(tests/fixtures/deepseek_vl2*/, built by tests/fixtures/build/deepseek_vl2_fixture.py; see
HOW.md there): each fixture, loaded as a user loads a checkpoint, gives the recorded prompt
ids, crop layouts, pixel sums and generated ids, at batch 1 and 4, in one process and with
runtime.tp=2; bf16 runs; unused tensors are reported, foreign ones refused."""
import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from runners.models import create_adapter
from inference.models.base import ModelPathError
from inference.requests import Request
from runners.cli import main
from conftest import model_config

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
NAMES = ["deepseek_vl2", "deepseek_vl2_small"]




def reference(name: str) -> dict:
    return {s["question_id"]: s for s in
            json.loads((FIXTURES / name / "reference.json").read_text())["samples"]}


def task_args(name: str, task: str) -> list[str]:
    folder = FIXTURES / name
    """Overrides after `task=<task> model=deepseek_vl2`."""
    common = [f"model.model_path={folder}", "model.dtype=fp32",
              "task.prompt_template='{question}'", "task.max_new_tokens=16"]
    if task == "textvqa":
        return common + [f"task.local_dataset_path={folder / 'textvqa' / 'textvqa_val.jsonl'}"]
    return common + ["task.subjects=[MSVD]",
                     f"task.local_dataset_path={folder / 'videobench' / 'Eval_QA'}"]


def output_ids(out: Path) -> dict:
    records = [json.loads(line) for line in
               (out / "debug" / "samples.jsonl").read_text().splitlines()]
    assert all(r["error"] is None for r in records), [r["error"] for r in records]
    return {str(r["question_id"]): r["output_ids"] for r in records}


def expected(name: str, task: str) -> dict:
    return {q: s["output_ids"] for q, s in reference(name).items() if s["task"] == task}


@pytest.mark.parametrize("batch", [1, 4])
@pytest.mark.parametrize("task", ["textvqa", "videobench"])
@pytest.mark.parametrize("name", NAMES)
def test_cli_generates_the_recorded_ids(name, task, batch, tmp_path):
    assert main([f"task={task}", "model=deepseek_vl2", *task_args(name, task),
                 f"runtime.batch_size={batch}", f"output_dir={tmp_path}"]) == 0
    assert output_ids(tmp_path) == expected(name, task)


@pytest.fixture(scope="module", params=NAMES)
def adapter(request):
    return request.param, create_adapter(
        model_config("deepseek_vl2", model_path=str(FIXTURES / request.param)), "cpu",
        torch.float32)


def requests_of(name: str) -> list[tuple[dict, Request]]:
    folder = FIXTURES / name
    lines = (folder / "textvqa" / "textvqa_val.jsonl").read_text().splitlines()
    questions = {str(r["question_id"]): r for r in map(json.loads, lines)}
    qa = json.loads((folder / "videobench" / "Eval_QA" / "MSVD_QA_new.json").read_text())
    out = []
    for qid, sample in reference(name).items():
        if sample["task"] == "textvqa":
            record = questions[qid]
            request = Request(qid, record["question"],
                              [str(folder / "textvqa" / record["image"])])
        else:
            request = Request(qid, qa[qid.split("/")[1]]["question"],
                              video=str(folder / "video" / "clip.mkv"))
        out.append((sample, request))
    return out


def test_prompt_ids_layouts_and_pixels_match_the_original_processor(adapter):
    name, model = adapter
    for sample, request in requests_of(name):
        prepared = model.prepare(request)
        assert model._prompt_ids(prepared) == sample["prompt_ids"], sample["question_id"]
        assert [[c, r] for _, c, r in prepared.tiles] == sample["crop_layouts"]
        pixels = torch.cat([p for p, _, _ in prepared.tiles])
        assert list(pixels.shape) == sample["pixel_shape"]
        total = float(pixels.double().sum())
        assert total == pytest.approx(sample["pixel_sum"], rel=1e-5), sample["question_id"]


def test_video_frames_are_not_cropped_and_placeholder_stays_in_place(adapter):
    name, _ = adapter
    samples = reference(name)
    assert samples["MSVD/v1"]["crop_layouts"] == [[1, 1]] * 4     # > 2 images: no tiling
    placeholder = samples["placeholder"]
    assert "look at <image> and say" in placeholder["prompt"]
    assert placeholder["prompt"].count("<image>") == 1


def test_placeholder_count_must_match_the_images(adapter, tmp_path):
    name, model = adapter
    image = str(FIXTURES / name / "images" / "one_tile.png")
    with pytest.raises(ValueError, match="holds 2 <image> placeholders for 1 images"):
        model.prepare(Request("x", "<image> and <image>?", [image]))


def gate_cases():
    from safetensors import safe_open

    path = FIXTURES / "deepseek_vl2" / "moe_gate_cases.safetensors"
    with safe_open(str(path), framework="pt") as handle:
        settings = json.loads(handle.metadata()["settings"])
        tensors = {k: handle.get_tensor(k) for k in handle.keys()}
    return [(case, fields, {k.split(".", 1)[1]: v for k, v in tensors.items()
                            if k.startswith(case + ".")}) for case, fields in settings.items()]


@pytest.mark.parametrize("case, fields, tensors", gate_cases(), ids=lambda v: v
                         if isinstance(v, str) else "")
def test_moe_routing_matches_the_original_gate(case, fields, tensors):
    """Expert choice and weights of the original MoEGate, recorded for settings beyond the
    fixtures' (noaux_tc over 4 groups, group_limited_greedy, top-1 with norm_topk_prob)."""
    from inference.models.deepseek_vl2.model import MoEGate, MoESettings

    settings = MoESettings(n_routed_experts=fields["n_routed_experts"],
                           num_experts_per_tok=fields["num_experts_per_tok"],
                           moe_intermediate_size=8, n_shared_experts=None,
                           **{k: fields[k] for k in ("topk_method", "scoring_func", "n_group",
                                                     "topk_group", "norm_topk_prob",
                                                     "routed_scaling_factor")})
    gate = MoEGate(fields["hidden_size"], settings)
    gate.load_state_dict({k: v for k, v in tensors.items()
                          if k in ("weight", "e_score_correction_bias")})
    hidden = tensors["hidden"]
    index, weights = gate(hidden.reshape(-1, hidden.shape[-1]))
    mine = [dict(zip(i, w)) for i, w in zip(index.tolist(), weights.tolist())]
    theirs = [dict(zip(i, w)) for i, w in zip(tensors["topk_idx"].tolist(),
                                             tensors["topk_weight"].tolist())]
    for token, (a, b) in enumerate(zip(mine, theirs)):
        assert a.keys() == b.keys(), (case, token)
        assert all(abs(a[e] - b[e]) <= 1e-6 for e in a), (case, token)


def test_unused_original_tensors_are_ignored_and_reported(caplog):
    folder = FIXTURES / "deepseek_vl2"
    with caplog.at_level(logging.WARNING):
        model = create_adapter(model_config("deepseek_vl2", model_path=str(folder)), "cpu",
                               torch.float32)
    assert model.ignored_tensors and all(k.startswith("vision.attn_pool.")
                                         for k in model.ignored_tensors)
    assert "vision.attn_pool.latent" in model.ignored_tensors
    assert "never uses were ignored: vision.attn_pool." in caplog.text


def test_a_foreign_tensor_is_refused_by_name(tmp_path):
    from safetensors.torch import load_file, save_file

    folder = tmp_path / "vl2"
    shutil.copytree(FIXTURES / "deepseek_vl2", folder)
    index = json.loads((folder / "model.safetensors.index.json").read_text())
    shard = sorted(set(index["weight_map"].values()))[0]
    tensors = load_file(str(folder / shard))
    tensors["language.model.layers.1.mlp.router_bias"] = torch.zeros(8)
    save_file(tensors, str(folder / shard), metadata={"format": "pt"})
    index["weight_map"]["language.model.layers.1.mlp.router_bias"] = shard
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(ModelPathError, match="language.model.layers.1.mlp.router_bias"):
        create_adapter(model_config("deepseek_vl2", model_path=str(folder)), "cpu",
                       torch.float32)


def test_bf16_runs_a_batch_with_finite_logits(tmp_path):
    assert main(["task=textvqa", "model=demo_deepseek_vl2", "model.dtype=bf16",
                 "runtime.batch_size=4", f"output_dir={tmp_path}"]) == 0
    records = [json.loads(l) for l in
               (tmp_path / "debug" / "samples.jsonl").read_text().splitlines()]
    assert records and all(r["error"] is None and r["output_ids"] for r in records)
    for name in NAMES:       # the fixtures' own routing (noaux_tc, greedy) in bf16
        model = create_adapter(model_config("deepseek_vl2", model_path=str(FIXTURES / name)),
                               "cpu", torch.bfloat16)
        prepared = [model.prepare(request) for _, request in requests_of(name)[:4]]
        embeddings, mask = model.embed(model.build_inputs(prepared))
        with torch.inference_mode():
            logits = model.model.language(inputs_embeds=embeddings, attention_mask=mask).logits
        assert logits.dtype == torch.bfloat16 and torch.isfinite(logits).all()


@pytest.mark.parametrize("name, task", [("deepseek_vl2", "textvqa"),
                                        ("deepseek_vl2_small", "videobench")])
def test_tensor_parallel_gives_the_recorded_ids(name, task, tmp_path):
    env = dict(os.environ, PYTHON=sys.executable, NPROC="2", OMP_NUM_THREADS="1")
    result = subprocess.run(
        ["bash", "scripts/mm_run.sh", task, "deepseek_vl2", "runtime.tp=2",
         "runtime.batch_size=4", f"output_dir={tmp_path}", *task_args(name, task)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert output_ids(tmp_path) == expected(name, task)
    assert json.loads((tmp_path / "results" / "summary.json").read_text())["tp"] == 2


def test_tensor_parallel_refuses_heads_it_cannot_split():
    from transformers import DeepseekV2Config, DeepseekV2ForCausalLM

    from inference.models.deepseek_vl2.parallelize import shard_deepseek_language_model

    class Mesh:
        def size(self):
            return 3

    model = DeepseekV2ForCausalLM(DeepseekV2Config(
        vocab_size=32, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
        num_attention_heads=4, kv_lora_rank=8, q_lora_rank=None, qk_nope_head_dim=4,
        qk_rope_head_dim=4, v_head_dim=4, first_k_dense_replace=1))
    with pytest.raises(ValueError, match="runtime.tp=3 does not divide .*num_attention_heads=4"):
        shard_deepseek_language_model(model, Mesh())
