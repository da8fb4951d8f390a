"""VLMo against references recorded with the ORIGINAL microsoft/unilm code.

tests/fixtures/vlmo/ holds what tests/fixtures/build/build_vlmo.py recorded from unilm's own
VQA test pipeline (see HOW.md): answers and all logits for six questions on RGB, RGBA,
greyscale and odd-sized images, with the text ids and pixel sums the original fed its model.
The checkpoint (vlmo_base_patch16, base widths: about 600 MB) is regenerated from
tensors.json by the committed generator and cached (MODELTEST_FIXTURE_CACHE, else a
per-session folder).
"""
import json
import os
import random
import shutil
import sys
from pathlib import Path

import pytest
import torch

from runners.models import create_adapter
from inference.models.base import ModelPathError
from inference.requests import Request
from runners.cli import main

FIXTURE = Path(__file__).parent / "fixtures" / "vlmo"
sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "build"))
import vlmo_weights  # noqa: E402
from conftest import model_config

RECORDED = json.loads((FIXTURE / "records.json").read_text())
RECORDS = {r["question_id"]: r for r in RECORDED["records"]}
ANSWERS = [json.loads(line)["answer"] for line in
           (FIXTURE / "answer2label.txt").read_text().splitlines()]
LOGIT_TOLERANCE = 1e-5




@pytest.fixture(scope="session")
def vlmo_model_dir(tmp_path_factory):
    cache = os.environ.get("MODELTEST_FIXTURE_CACHE")
    root = Path(cache) / "vlmo" if cache else tmp_path_factory.mktemp("vlmo_reference")
    return vlmo_weights.write_checkpoint(FIXTURE, root)


def fixture_cfg(folder, **extra):
    return model_config("vlmo", model_path=str(folder), dtype="fp32", **extra)


def cli_args(folder, out, batch_size, *extra):
    data = FIXTURE / "vqav2"
    return ["task=vqav2", "model=vlmo", f"model.model_path={folder}", "model.dtype=fp32",
            f"task.question_file={data / 'v2_OpenEnded_mscoco_val2014_questions.json'}",
            f"task.annotation_file={data / 'v2_mscoco_val2014_annotations.json'}",
            f"task.image_dir={data / 'val2014'}", "runtime.device=cpu",
            f"runtime.batch_size={batch_size}", "runtime.warm_up=false", f"output_dir={out}",
            *extra]


def read_samples(out):
    return [json.loads(line) for line in (out / "debug" / "samples.jsonl").read_text().splitlines()]


def question_id(record) -> int:
    return int(record["question_id"])


def test_the_fixture_is_the_real_architecture_and_not_image_blind():
    config = RECORDED["config"]
    assert (config["model_arch"], config["image_size"], config["max_text_len"]) == (
        "vlmo_base_patch16", 480, 40)
    assert min(r["margin"] for r in RECORDS.values()) >= 2e-3
    shared = [r["answer"] for r in RECORDS.values() if r["question"] == "What color is the sign?"]
    assert len(shared) == 4 and len(set(shared)) >= 3
    modes = {r["image_mode"] for r in RECORDS.values()}
    assert {"RGB", "RGBA", "L"} <= modes


def test_pixels_and_text_ids_are_the_originals(vlmo_model_dir):
    adapter = create_adapter(fixture_cfg(vlmo_model_dir), "cpu", torch.float32)
    records = list(RECORDS.values())
    prepared = [adapter.prepare(Request(str(r["question_id"]), r["question"],
                                        [str(FIXTURE / r["image"])])) for r in records]
    inputs = adapter.build_inputs(prepared)
    assert inputs.text_ids.shape[1] == 40
    for i, record in enumerate(records):
        assert list(inputs.pixels[i].shape) == record["pixel_shape"]
        total = float(inputs.pixels[i].double().sum())
        assert total == pytest.approx(record["pixel_sum"], rel=1e-5, abs=1e-3), record["image"]
        mask = inputs.text_mask[i].bool()
        assert inputs.text_ids[i][mask].tolist() == record["text_ids"], record["question"]
        assert int(mask.sum()) == len(record["text_ids"])


@pytest.mark.parametrize("batch_size", [1, 4])
def test_cli_gives_the_original_answers_and_logits(vlmo_model_dir, tmp_path, batch_size):
    assert main(cli_args(vlmo_model_dir, tmp_path, batch_size)) == 0
    samples = read_samples(tmp_path)
    assert sorted(question_id(s) for s in samples) == sorted(RECORDS)
    for sample in samples:
        record = RECORDS[question_id(sample)]
        assert sample["prediction"] == record["answer"], record["question"]
        assert sample["output_ids"] == [record["argmax"]]
        order = sorted(range(len(record["logits"])), key=lambda k: -record["logits"][k])[:5]
        assert [a for a, _ in sample["top_answers"]] == [ANSWERS[k] for k in order]
        for (_, value), k in zip(sample["top_answers"], order):
            assert abs(value - record["logits"][k]) <= LOGIT_TOLERANCE, (record["question"], k)


def test_answer_labels_follow_the_label_field_not_the_line_order(vlmo_model_dir, tmp_path):
    folder = tmp_path / "vlmo"
    folder.mkdir()
    for name in ("vocab.txt", vlmo_weights.CHECKPOINT_NAME):
        (folder / name).symlink_to(vlmo_model_dir / name)
    lines = (FIXTURE / "answer2label.txt").read_text().splitlines()
    random.Random(0).shuffle(lines)
    (folder / "answer2label.txt").write_text("\n".join(lines) + "\n")
    adapter = create_adapter(fixture_cfg(folder), "cpu", torch.float32)
    assert adapter.answers == ANSWERS
    lines[0] = json.dumps({"answer": "extra", "label": json.loads(lines[1])["label"]})
    (folder / "answer2label.txt").write_text("\n".join(lines) + "\n")
    with pytest.raises(ModelPathError, match="given twice"):
        create_adapter(fixture_cfg(folder), "cpu", torch.float32)


def test_unused_heads_are_reported_and_foreign_tensors_refused(vlmo_model_dir, tmp_path, caplog):
    folder = tmp_path / "vlmo"
    shutil.copytree(vlmo_model_dir, folder)
    path = folder / vlmo_weights.CHECKPOINT_NAME
    checkpoint = torch.load(path, weights_only=True)
    state = checkpoint["state_dict"]
    assert "text_embeddings.position_ids" in state        # the original saves this buffer
    state["itc_text_proj.fc.weight"] = torch.zeros(768, 768)
    state["logit_scale"] = torch.tensor(1.0)
    torch.save(checkpoint, path)
    with caplog.at_level("INFO"):
        create_adapter(fixture_cfg(folder), "cpu", torch.float32)
    assert "itc_text_proj.fc.weight" in caplog.text and "logit_scale" in caplog.text
    state["transformer.blocks.0.attn.extra_scale"] = torch.ones(3)
    torch.save(checkpoint, path)
    with pytest.raises(ModelPathError, match="transformer.blocks.0.attn.extra_scale"):
        create_adapter(fixture_cfg(folder), "cpu", torch.float32)


def test_demo_vlmo_runs_a_batch_in_bf16(tmp_path):
    assert main(["task=vqav2", "model=demo_vlmo", "model.dtype=bf16", "runtime.device=cpu",
                 "runtime.batch_size=4", f"output_dir={tmp_path}"]) == 0
    samples = read_samples(tmp_path)
    assert samples and not any(s.get("error") for s in samples)
    for sample in samples:
        values = [v for _, v in sample["top_answers"]]
        assert len(values) == 5 and all(torch.isfinite(torch.tensor(values)))
