"""InternVL checkpoints in the original OpenGVLab layout, built and recorded with the ORIGINAL
InternVL code (tests/fixtures/build/build_internvl_fixtures.py; HOW.md beside each fixture),
generate exactly the token ids the original `chat()` / `batch_chat()` generated, from the
same prompt ids and pixels."""
import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from inference.models.internvl.processor import OriginalProcessor, OriginalSettings
from inference.models.internvl.tokenizer import load_tokenizer
from runners.cli import main
from conftest import model_config

FIXTURES = Path(__file__).parent / "fixtures"
IMAGES = FIXTURES / "internvl_images"
NAMES = ["internvl2_internlm2", "internvl_chat_v1_5", "internvl_chat_v1_2"]



def reference(name):
    return json.loads((FIXTURES / name / "reference.json").read_text())


def write_textvqa(folder: Path, samples) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / "textvqa_val.jsonl"
    data.write_text("".join(json.dumps({"image": str(IMAGES / s["image"]), "question": s["question"],
                                        "question_id": i, "answer": "x"}) + "\n"
                            for i, s in enumerate(samples)))
    (folder / "textvqa_val_annotations.json").write_text(json.dumps({"annotations": [
        {"question_id": i, "answers": [{"answer": "x"}] * 10} for i in range(len(samples))]}))
    return data


@pytest.mark.parametrize("name", NAMES)
def test_prompt_ids_and_pixels_match_the_original(name):
    ref = reference(name)
    folder = FIXTURES / name
    raw = json.loads((folder / "config.json").read_text())
    settings = OriginalSettings.read(raw, {})
    processor = OriginalProcessor(load_tokenizer(folder), settings)
    for sample in ref["samples"]:
        image = Image.open(IMAGES / sample["image"])
        inputs = processor([(sample["question"], [image], None)])
        assert processor.prompt(sample["question"], [sample["num_tiles"]]) == sample["prompt"]
        assert inputs["input_ids"][0].tolist() == sample["prompt_ids"]
        pixels = inputs["pixel_values"]
        assert list(pixels.shape) == sample["pixel_shape"]
        assert abs(float(pixels.double().sum()) - sample["pixel_sum"]) \
            <= 1e-5 * max(1.0, abs(sample["pixel_sum"]))
    # batch_chat's prompts: the same ids, left-padded
    assert ref["batch_chat"]["prompt_ids"] == [s["prompt_ids"] for s in ref["samples"]]


@pytest.mark.parametrize("batch_size", [1, 4])
@pytest.mark.parametrize("name", NAMES)
def test_generates_the_recorded_ids(tmp_path, name, batch_size):
    ref = reference(name)
    data = write_textvqa(tmp_path / "data", ref["samples"])
    out = tmp_path / "out"
    assert main(["model=internvl", f"model.model_path={FIXTURES / name}", "model.dtype=fp32",
                 "task=textvqa", f"task.local_dataset_path={data}",
                 "task.prompt_template='{question}'", "model.generation.max_new_tokens=16",
                 f"runtime.batch_size={batch_size}", f"output_dir={out}"]) == 0
    records = [json.loads(line) for line in (out / "debug" / "samples.jsonl").read_text().splitlines()]
    got = {int(r["question_id"]): r["output_ids"] for r in records}
    expected = ref["batch_chat"]["output_ids"] if batch_size == 4 else \
        [s["output_ids"] for s in ref["samples"]]
    assert [got[i] for i in range(len(ref["samples"]))] == expected


def test_system_message_override(tmp_path):
    folder = FIXTURES / "internvl2_internlm2"
    raw = json.loads((folder / "config.json").read_text())
    tokenizer = load_tokenizer(folder)
    default = OriginalProcessor(tokenizer, OriginalSettings.read(raw, {})).prompt("hi", [])
    assert default.startswith("<|im_start|>system\n你是由上海人工智能实验室")
    empty = OriginalProcessor(tokenizer, OriginalSettings.read(raw, {"system_message": ""}))
    assert empty.prompt("hi", []) == \
        "<|im_start|>system\n<|im_end|><|im_start|>user\nhi<|im_end|><|im_start|>assistant\n"
    custom = OriginalProcessor(tokenizer, OriginalSettings.read(raw, {"system_message": "Be brief."}))
    assert custom.prompt("hi", [1]).startswith("<|im_start|>system\nBe brief.<|im_end|>"
                                               "<|im_start|>user\n<img><IMG_CONTEXT>")


@pytest.mark.parametrize("field,value", [("ps_version", "v3"), ("template", "vicuna_v1.1"),
                                         ("force_image_size", 224), ("downsample_ratio", 0.3),
                                         ("pad2square", True)])
def test_unsupported_config_values_are_named(field, value):
    raw = json.loads((FIXTURES / "internvl_chat_v1_2" / "config.json").read_text())
    raw[field] = value
    with pytest.raises(ValueError, match=field):
        OriginalSettings.read(raw, {})


def test_max_num_defaults_to_the_checkpoint(tmp_path):
    raw = json.loads((FIXTURES / "internvl2_internlm2" / "config.json").read_text())
    assert OriginalSettings.read(raw, {"vision": {"max_num": None}}).max_tiles == 12
    assert OriginalSettings.read(raw, {"vision": {"max_num": 4}}).max_tiles == 4


def _finite_bf16_logits(folder: Path, vision=None):
    from runners.models import create_adapter
    from inference.models.protocol import PreparedRequest
    from inference.requests import Request

    cfg = model_config("internvl", model_path=str(folder))
    cfg["vision"].update(vision or {})
    adapter = create_adapter(cfg, "cpu", torch.bfloat16)
    batch = [PreparedRequest(Request(str(i), "what is written here?"),
                             [Image.open(IMAGES / name)]) for i, name in enumerate(["wide.png", "tall.png"])]
    inputs = adapter.build_inputs(batch)
    inputs["pixel_values"] = inputs["pixel_values"].to(torch.bfloat16)
    with torch.no_grad():
        logits = adapter.model(**inputs).logits
    assert logits.dtype == torch.bfloat16 and torch.isfinite(logits.float()).all()
    generation = adapter.generate(batch, max_new_tokens=4)
    assert all(count > 0 for count in generation.output_tokens)


def test_demo_internvl_runs_a_batch_in_bf16(tmp_path, demo_cache):
    assert main(["model=demo_internvl", "model.dtype=bf16", "task=textvqa", "task.limit=4",
                 "runtime.batch_size=4", f"output_dir={tmp_path / 'demo'}"]) == 0
    records = [json.loads(r) for r in
               (tmp_path / "demo" / "debug" / "samples.jsonl").read_text().splitlines()]
    assert len(records) == 4 and not any(r["error"] for r in records)
    _finite_bf16_logits(Path(demo_cache) / "demo" / "models" / "internvl")


def test_original_layout_runs_in_bf16():
    _finite_bf16_logits(FIXTURES / "internvl_chat_v1_2")


def test_video_frames_are_images_with_frame_labels():
    folder = FIXTURES / "internvl_chat_v1_5"
    raw = json.loads((folder / "config.json").read_text())
    processor = OriginalProcessor(load_tokenizer(folder), OriginalSettings.read(raw, {}))
    frames = [Image.open(IMAGES / "wide.png"), Image.open(IMAGES / "tall.png")]
    inputs = processor([("What happens?", [], frames)])
    assert inputs["pixel_values"].shape[0] == 2            # one tile per frame
    prompt = processor.prompt("What happens?", [1, 1], video_frames=2)
    user = prompt.split("<|im_start|>user\n")[1]
    tile = "<img>" + "<IMG_CONTEXT>" * 256 + "</img>"
    assert user.startswith(f"Frame1: {tile}\nFrame2: {tile}\nWhat happens?<|im_end|>")
    context = processor.tokenizer.convert_tokens_to_ids("<IMG_CONTEXT>")
    assert int((inputs["input_ids"] == context).sum()) == 2 * 256
