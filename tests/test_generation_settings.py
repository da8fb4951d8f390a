"""Generation settings are explicit (issue 20, item 1).

tests/fixtures/qwen2_vl/generation_reference.json was recorded by running the model card's
stack unmodified (transformers 4.46.3 + qwen-vl-utils, tests/fixtures/build/
qwen2_vl_generation_record.py) on the Qwen2-VL fixture with the Hub's generation_config.json
settings (repetition_penalty 1.05, do_sample with top_k 1, top_p 0.001, temperature 0.1):
`generate(max_new_tokens=32, do_sample=False)` on the plain file, and the card's own
`generate(max_new_tokens=32)` on the Hub's. A checkpoint carrying the Hub's file must give the
plain greedy ids by default and the card's ids with model.generation.from_checkpoint=true.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from runners.cli import main

FIXTURE = Path(__file__).parent / "fixtures" / "qwen2_vl"
RECORDED = json.loads((FIXTURE / "generation_reference.json").read_text())
SAMPLES = RECORDED["samples"]


@pytest.fixture(scope="module")
def hub_checkpoint(tmp_path_factory) -> Path:
    """The fixture checkpoint with the Hub's generation_config.json."""
    folder = tmp_path_factory.mktemp("hub_qwen2_vl")
    for path in FIXTURE.iterdir():
        if path.is_file() and path.suffix != ".mp4" and not path.name.startswith("reference"):
            shutil.copy2(path, folder / path.name)
    (folder / "generation_config.json").write_text(
        json.dumps(RECORDED["hub_generation_config"], indent=2))
    return folder


def _textvqa(folder: Path, checkpoint: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / "textvqa_val.jsonl"
    data.write_text("".join(
        json.dumps({"image": str(checkpoint / s["file"]), "question": s["question"],
                    "question_id": s["id"], "answer": "x"}) + "\n" for s in SAMPLES))
    (folder / "textvqa_val_annotations.json").write_text(json.dumps({"annotations": [
        {"question_id": s["id"], "answers": [{"answer": "x"}] * 10} for s in SAMPLES]}))
    return data


def _run(tmp_path: Path, checkpoint: Path, *overrides: str, batch_size: int = 1) -> Path:
    out = tmp_path / "out"
    assert main(["model=qwen2_vl", f"model.model_path={checkpoint}", "model.dtype=fp32",
                 "task=textvqa", f"task.local_dataset_path={_textvqa(tmp_path / 'd', checkpoint)}",
                 "task.prompt_template='{question}'",
                 f"model.generation.max_new_tokens={RECORDED['max_new_tokens']}",
                 f"runtime.batch_size={batch_size}", f"output_dir={out}", *overrides]) == 0
    return out


def _ids(out: Path) -> dict[str, list[int]]:
    lines = (out / "debug" / "samples.jsonl").read_text().splitlines()
    return {str(r["question_id"]): r["output_ids"] for r in map(json.loads, lines)}


def test_the_recording_shows_the_penalty_changing_ids():
    assert RECORDED["hub_generation_config"]["repetition_penalty"] == 1.05
    assert sum(s["greedy_ids"] != s["model_card_ids"] for s in SAMPLES) >= 2


def test_hub_generation_config_is_not_applied_by_default(tmp_path, hub_checkpoint):
    out = _run(tmp_path, hub_checkpoint)
    assert _ids(out) == {s["id"]: s["greedy_ids"] for s in SAMPLES}
    summary = json.loads((out / "results" / "summary.json").read_text())
    generation = summary["generation"]
    assert generation["repetition_penalty"] == 1.0 and generation["decoding"] == "greedy"
    assert not generation["from_checkpoint"]
    assert any("repetition_penalty=1.05" in n and "not applied" in n for n in summary["notes"])


@pytest.mark.parametrize("batch_size", [1, 4])
def test_from_checkpoint_gives_the_model_cards_ids(tmp_path, hub_checkpoint, batch_size):
    out = _run(tmp_path, hub_checkpoint, "model.generation.from_checkpoint=true",
               batch_size=batch_size)
    assert _ids(out) == {s["id"]: s["model_card_ids"] for s in SAMPLES}
    summary = json.loads((out / "results" / "summary.json").read_text())
    assert summary["generation"]["repetition_penalty"] == 1.05
    assert summary["generation"]["from_checkpoint"]
    assert any("reduced to greedy" in n and "top_k=1" in n for n in summary["notes"])
    identity = json.loads((out / "debug" / "run_identity.json").read_text())
    assert identity["generation"]["repetition_penalty"] == 1.05


def test_a_rerun_with_other_generation_settings_is_refused(tmp_path, hub_checkpoint, capsys):
    _run(tmp_path, hub_checkpoint)
    code = main(["model=qwen2_vl", f"model.model_path={hub_checkpoint}", "model.dtype=fp32",
                 "task=textvqa", f"task.local_dataset_path={tmp_path / 'd' / 'textvqa_val.jsonl'}",
                 "task.prompt_template='{question}'",
                 f"model.generation.max_new_tokens={RECORDED['max_new_tokens']}",
                 "model.generation.from_checkpoint=true", f"output_dir={tmp_path / 'out'}"])
    assert code == 2
    assert "generation.repetition_penalty" in capsys.readouterr().err


@pytest.mark.parametrize("override, message", [
    ("model.generation.repetition_penalty=0", "repetition_penalty=0"),
    ("model.generation.no_repeat_ngram_size=-1", "no_repeat_ngram_size=-1"),
    ("model.generation.stop_token_ids=[abc]", "stop_token_ids"),
    ("model.generation.max_new_tokens=0", "max_new_tokens=0"),
    ("+model.generation.temperature=0.7", "always greedy"),
])
def test_bad_generation_values_stop_before_loading(tmp_path, capsys, override, message):
    code = main(["model=demo_qwen2_vl", "task=textvqa", override, f"output_dir={tmp_path}"])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]   # after the demo data's build line
    assert err.startswith("modeltest: error: model.generation.") and message in err


@pytest.mark.parametrize("override", ["model.generation.repetition_penalty=1.2",
                                      "model.generation.from_checkpoint=true"])
def test_a_classifier_refuses_generation_settings(tmp_path, capsys, override):
    code = main(["model=demo_vlmo", "task=vqav2", override, f"output_dir={tmp_path}"])
    assert code == 2
    assert "classifier" in capsys.readouterr().err


def test_served_requests_carry_the_settings(tmp_path, hub_checkpoint):
    """Every request names the settings, so a server's defaults (vLLM applies the checkpoint's
    generation_config.json) cannot differ; an API that cannot carry one is refused."""
    from inference.generation import resolve_generation
    from inference.served.apis.base import Options
    from inference.served.apis.openai import OpenAIApi
    from inference.served.prompts import ServedCall

    cfg = OmegaConf.load(Path(__file__).parents[1] / "conf" / "model" / "served.yaml")
    cfg.model_path = str(hub_checkpoint)
    cfg.generation.from_checkpoint = True
    settings = resolve_generation(cfg)
    assert settings.repetition_penalty == 1.05
    api = OpenAIApi(type("Client", (), {"endpoint": "http://x/v1"})(), cfg)
    _, body = api.request(ServedCall("1", "hi"), Options(8, [], repetition_penalty=1.05))
    assert body["repetition_penalty"] == 1.05 and body["temperature"] == 0.0
    assert body["return_token_ids"] is True

    from inference.served.adapter import EndpointConfigError, ServedAdapter
    cfg.generation.from_checkpoint = False
    cfg.generation.no_repeat_ngram_size = 3
    with pytest.raises(EndpointConfigError, match="no_repeat_ngram_size"):
        ServedAdapter.check(cfg)


def test_stop_token_ids_end_a_row_in_process(tmp_path):
    """A stop id ends generation where it appears and is cut from output_ids, as the end
    of sequence is."""
    def run(out, *extra):
        assert main(["model=demo_qwen2_vl", "task=textvqa", "task.limit=3",
                     "runtime.batch_size=3", f"output_dir={out}", *extra]) == 0
        lines = (out / "debug" / "samples.jsonl").read_text().splitlines()
        return {str(r["question_id"]): r["output_ids"] for r in map(json.loads, lines)}

    plain = run(tmp_path / "plain")
    key, ids = next((k, v) for k, v in plain.items() if len(v) >= 3)
    stopped = run(tmp_path / "stopped", f"model.generation.stop_token_ids=[{ids[2]}]")
    assert stopped[key] == ids[:ids.index(ids[2])]
