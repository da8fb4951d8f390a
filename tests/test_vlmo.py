"""VLMo on the tiny demo checkpoint: loading rules, batching, the CLI path. Fidelity to the
original unilm code is tested in test_vlmo_fixture.py."""
import json
import shutil

import pytest
import torch
from PIL import Image

from runners.models import create_adapter
from inference.models.base import ModelPathError
from inference.requests import Request
from runners.cli import main
from runners.demo import ensure_asset
from conftest import model_config



def demo_cfg(**extra):
    return model_config("demo_vlmo", **{"model_path": str(ensure_asset("models", "vlmo")),
                                        **extra})


def test_sizes_are_read_off_the_tensors():
    adapter = create_adapter(demo_cfg(), "cpu", torch.float32)
    config = adapter.config
    assert (config.embed_dim, config.depth, config.num_heads) == (64, 3, 2)
    assert config.vlffn_start_layer_index == 2 and config.max_text_len_of_initckpt == 196
    assert config.num_labels == len(adapter.answers) == 20


def test_batch_equals_single_and_padding_is_masked(tmp_path):
    adapter = create_adapter(demo_cfg(), "cpu", torch.float32)
    image = tmp_path / "a.png"
    Image.new("RGB", (90, 60), (200, 20, 20)).save(image)
    requests = [Request("0", "what color is the sign?", [str(image)]),
                Request("1", "is it a bus or a car or a dog?", [str(image)])]
    prepared = [adapter.prepare(r) for r in requests]
    inputs = adapter.build_inputs(prepared)
    assert inputs.text_ids.shape == (2, 40) and inputs.pixels.shape == (2, 3, 64, 64)
    with torch.no_grad():
        batch = adapter.model(inputs.text_ids, inputs.text_mask, inputs.pixels)
        alone = adapter.model(inputs.text_ids[:1], inputs.text_mask[:1], inputs.pixels[:1])
        ids = inputs.text_ids[:1].clone()
        ids[inputs.text_mask[:1] == 0] = 7           # other ids under the padding mask
        repadded = adapter.model(ids, inputs.text_mask[:1], inputs.pixels[:1])
    assert torch.allclose(batch[:1], alone, atol=1e-5)
    assert torch.allclose(alone, repadded, atol=1e-6)
    result = adapter.generate(prepared)
    assert result.texts == [adapter.answers[i] for i in batch.argmax(-1).tolist()]


def test_other_heads_are_ignored_and_pickles_refused(tmp_path):
    folder = tmp_path / "vlmo"
    shutil.copytree(ensure_asset("models", "vlmo"), folder)
    checkpoint = torch.load(folder / "vlmo_base_patch16_480_vqa.pt", weights_only=True)
    checkpoint["state_dict"]["itc_text_proj.fc.weight"] = torch.zeros(4, 4)
    checkpoint["state_dict"]["logit_scale"] = torch.tensor(1.0)
    torch.save(checkpoint, folder / "vlmo_base_patch16_480_vqa.pt")
    create_adapter(demo_cfg(model_path=str(folder)), "cpu", torch.float32)
    checkpoint["hyper_parameters"] = Hyper()
    torch.save(checkpoint, folder / "vlmo_base_patch16_480_vqa.pt")
    with pytest.raises(ModelPathError, match="trust_remote_code=true"):
        create_adapter(demo_cfg(model_path=str(folder)), "cpu", torch.float32)
    (folder / "answer2label.txt").write_text(json.dumps({"answer": "yes", "label": 0}) + "\n")
    with pytest.raises(ModelPathError, match="1 answers, but the classifier has 20"):
        create_adapter(demo_cfg(model_path=str(folder), trust_remote_code=True), "cpu",
                       torch.float32)


class Hyper:
    """Stands for the pickled Lightning objects a training checkpoint carries."""


def test_vqav2_end_to_end_reports_vqa_and_exact_match(tmp_path):
    assert main(["task=vqav2", "model=demo_vlmo", f"output_dir={tmp_path}"]) == 0
    summary = json.loads((tmp_path / "results" / "summary.json").read_text())
    assert {"accuracy", "exact_match"} <= set(summary["metrics"]["overall"])
    records = [json.loads(l) for l in (tmp_path / "debug" / "samples.jsonl").read_text().splitlines()]
    answers = set(json.loads(l)["answer"] for l in
                  (ensure_asset("models", "vlmo") / "answer2label.txt").read_text().splitlines())
    assert all(r["prediction"] in answers for r in records)
    assert records[0]["prompt"] == "is the sign black?"   # the model's own prompt: the bare question


def test_missing_vlmo_files_fail_before_loading(tmp_path, capsys):
    assert main(["task=vqav2", "model=vlmo", f"model.model_path={tmp_path}",
                 f"output_dir={tmp_path / 'out'}"]) == 2
    assert "model.checkpoint_file" in capsys.readouterr().err
