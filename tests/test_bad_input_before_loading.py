"""Bad input is a one-line error with exit code 2 before any model loads; media are read
correctly (16-bit PNG, EXIF orientation) and a path that is not a regular file is refused."""
import json
import os
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import runners.accuracy
from inference.media import MediaError, load_image, load_video_frames
from runners.cli import main
from runners.config import compose
from runners.demo import ensure_asset
from runners.validation import language_sizes


@pytest.fixture()
def no_model_load(monkeypatch, capsys):
    ensure_asset("data", "textvqa")
    ensure_asset("data", "videobench")
    ensure_asset("models", "qwen2_vl")
    capsys.readouterr()

    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded")
    monkeypatch.setattr(runners.accuracy, "create_adapter", refuse)


def one_line_error(capsys, *args) -> str:
    assert main(list(args)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("modeltest: error: ")
    return err


@pytest.mark.parametrize("override, expected", [
    ("runtime.batch_size=0", "runtime.batch_size=0: must be at least 1"),
    ("runtime.batch_size=-2", "runtime.batch_size=-2: must be at least 1"),
    ("runtime.batch_size=abc", "runtime.batch_size=abc: not a whole number"),
    ("runtime.batch_size=1.5", "runtime.batch_size=1.5: not a whole number"),
    ("task.limit=0", "task.limit=0: must be at least 1"),
    ("task.limit=-1", "task.limit=-1: must be at least 1"),
    ("task.limit=ten", "task.limit=ten: not a whole number"),
    ("runtime.device=gpu", "runtime.device=gpu: unknown (use auto, npu, cuda, cpu)"),
    ("runtime.max_error_rate=lots", "runtime.max_error_rate=lots: not a number"),
    ("seed=abc", "seed=abc: not a whole number"),
    ("task.prompt_template='{question} {image}'", "unknown field(s) {image}"),
    ("task.prompt_template='{question'", "malformed template"),
])
def test_bad_values_are_one_line_errors(no_model_load, capsys, tmp_path, override, expected):
    err = one_line_error(capsys, "task=textvqa", override, f"output_dir={tmp_path / 'out'}")
    assert expected in err
    assert not (tmp_path / "out").exists()


def test_tp_that_does_not_divide_the_heads(no_model_load, capsys, tmp_path):
    err = one_line_error(capsys, "task=textvqa", "runtime.tp=3",
                         f"output_dir={tmp_path / 'out'}")
    assert "runtime.tp=3 does not divide the model's num_attention_heads=4" in err


@pytest.mark.parametrize("config, expected", [
    # Qwen2-VL, transformers 4.x layout: sizes at the top level
    ({"model_type": "qwen2_vl", "num_attention_heads": 28, "num_key_value_heads": 4,
      "intermediate_size": 18944, "vision_config": {"num_heads": 16}},
     {"num_attention_heads": 28, "num_key_value_heads": 4, "intermediate_size": 18944}),
    # Qwen2-VL, transformers 5 layout: text_config
    ({"model_type": "qwen2_vl", "text_config": {"num_attention_heads": 12,
                                                "num_key_value_heads": 2}},
     {"num_attention_heads": 12, "num_key_value_heads": 2}),
    # InternVL original layout: llm_config
    ({"model_type": "internvl_chat", "llm_config": {"num_attention_heads": 16,
                                                    "num_key_value_heads": 8,
                                                    "intermediate_size": 8192},
      "vision_config": {"num_attention_heads": 25}},
     {"num_attention_heads": 16, "num_key_value_heads": 8, "intermediate_size": 8192}),
    # DeepSeek-VL: language_config (a Llama config without num_key_value_heads)
    ({"model_type": "multi_modality", "language_config": {"num_attention_heads": 32,
                                                          "intermediate_size": 11008}},
     {"num_attention_heads": 32, "num_key_value_heads": 32, "intermediate_size": 11008}),
    # DeepSeek-VL2: language_config of DeepSeek-V2
    ({"model_type": "deepseek_vl_v2", "language_config": {
        "num_attention_heads": 10, "num_key_value_heads": 10, "intermediate_size": 6848,
        "moe_intermediate_size": 896}},
     {"num_attention_heads": 10, "num_key_value_heads": 10, "intermediate_size": 6848}),
])
def test_language_sizes_of_every_layout(config, expected):
    assert language_sizes(config) == expected


def test_tp_checked_for_original_layouts(no_model_load, capsys, tmp_path):
    folder = tmp_path / "internvl"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(
        {"model_type": "internvl_chat", "llm_config": {"num_attention_heads": 14,
                                                       "num_key_value_heads": 2}}))
    err = one_line_error(capsys, "model=internvl", f"model.model_path={folder}",
                         "runtime.tp=4", "runtime.dp=1", f"output_dir={tmp_path / 'out'}")
    assert "runtime.tp=4 does not divide the model's num_attention_heads=14" in err
    err = one_line_error(capsys, "model=vlmo", "task=vqav2", "runtime.tp=2",
                         f"output_dir={tmp_path / 'out'}")
    assert "not supported for VLMo" in err


def _textvqa(tmp_path) -> Path:
    data = tmp_path / "textvqa"
    shutil.copytree(ensure_asset("data", "textvqa"), data)
    return data / "textvqa_val.jsonl"


def test_the_same_question_id_as_number_and_string(no_model_load, capsys, tmp_path):
    jsonl = _textvqa(tmp_path)
    lines = [json.loads(line) for line in jsonl.read_text().splitlines()]
    lines[1]["question_id"] = str(lines[0]["question_id"])       # 34602 and "34602"
    jsonl.write_text("".join(json.dumps(line) + "\n" for line in lines))
    err = one_line_error(capsys, "task=textvqa", f"task.local_dataset_path={jsonl}",
                         f"output_dir={tmp_path / 'out'}")
    assert f"duplicate question_id '{lines[0]['question_id']}'" in err
    assert f"also written as {lines[0]['question_id']}" in err


def test_an_empty_reference_list(no_model_load, capsys, tmp_path):
    jsonl = _textvqa(tmp_path)
    annotations = jsonl.with_name("textvqa_val_annotations.json")
    data = json.loads(annotations.read_text())
    data["annotations"][2]["answers"] = []
    annotations.write_text(json.dumps(data))
    err = one_line_error(capsys, "task=textvqa", f"task.local_dataset_path={jsonl}",
                         f"output_dir={tmp_path / 'out'}")
    assert "annotations[2]: the reference answer list is empty" in err


@pytest.mark.parametrize("damage", ["list", "choices", "answers"])
def test_videobench_file_of_the_wrong_structure(no_model_load, capsys, tmp_path, damage):
    data = tmp_path / "vb"
    shutil.copytree(ensure_asset("data", "videobench"), data)
    qa = data / "Eval_QA" / "MSVD_QA_new.json"
    questions = json.loads(qa.read_text())
    if damage == "list":
        qa.write_text(json.dumps(list(questions.values())))
    elif damage == "choices":
        first = next(iter(questions))
        questions[first]["choices"] = ["a", "b"]
        qa.write_text(json.dumps(questions))
    else:
        (data / "Eval_QA" / "answer" / "ANSWER.json").write_text(json.dumps([1, 2]))
    err = one_line_error(capsys, "task=videobench", f"task.local_dataset_path={data / 'Eval_QA'}",
                         "task.subjects=[MSVD]", f"output_dir={tmp_path / 'out'}")
    assert "expected" in err or "must be an object" in err


def test_sixteen_bit_png_keeps_its_contrast(tmp_path):
    gradient = (np.arange(64 * 64, dtype=np.uint32).reshape(64, 64) * 16).astype(np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(gradient).save(path)
    assert Image.open(path).mode.startswith("I")
    pixels = np.asarray(load_image(str(path)))
    assert pixels.shape == (64, 64, 3)
    expected = np.round(gradient.astype(np.float64) / 257).astype(np.int64)
    assert np.abs(pixels[..., 0].astype(np.int64) - expected).max() <= 1
    assert len(np.unique(pixels)) > 200           # not every pixel 255


def test_exif_rotated_jpeg_is_read_as_transformers_reads_it(tmp_path):
    from transformers.image_utils import load_image as transformers_load_image

    image = Image.new("RGB", (40, 20), (200, 30, 30))
    image.paste((30, 30, 200), (0, 0, 10, 20))    # a blue band on the left
    exif = Image.Exif()
    exif[0x0112] = 6                              # rotate 90 degrees clockwise to display
    path = tmp_path / "rotated.jpg"
    image.save(path, exif=exif, quality=95)
    ours = load_image(str(path))
    theirs = transformers_load_image(str(path))
    assert ours.size == (20, 40) == theirs.size
    assert np.array_equal(np.asarray(ours), np.asarray(theirs))


def test_a_fifo_is_refused_not_waited_on(tmp_path):
    fifo = tmp_path / "image.png"
    os.mkfifo(fifo)
    errors = []

    def read(loader):
        try:
            loader(str(fifo))
        except MediaError as err:
            errors.append(str(err))
    for loader in (load_image, load_video_frames):
        thread = threading.Thread(target=read, args=(loader,), daemon=True)
        thread.start()
        thread.join(10)
        assert not thread.is_alive(), "reading a FIFO hung"
    assert len(errors) == 2 and all("is not a regular file" in e for e in errors)
    with pytest.raises(MediaError, match="not a regular file"):
        load_image(str(tmp_path))


def test_default_output_dir_is_per_model_and_task():
    assert compose(["task=textvqa"]).output_dir.endswith("/modeltest/demo_qwen2_vl/textvqa")
    assert compose(["task=vqav2"]).output_dir.endswith("/modeltest/demo_qwen2_vl/vqav2")
    performance = compose(["runner=performance", "model=demo_internvl"]).output_dir
    assert performance.endswith("/modeltest/demo_internvl/performance")
    assert compose([]).output_dir.startswith("outputs/")


def test_readme_commands_one_after_the_other(tmp_path, monkeypatch, capsys):
    """textvqa then vqav2 on the same model, default output_dir: both run."""
    monkeypatch.chdir(tmp_path)
    assert main(["task=textvqa", "model=demo_qwen2_vl", "task.limit=2"]) == 0
    out = capsys.readouterr().out
    assert "loading model demo_qwen2_vl" in out and "model loaded in" in out
    assert main(["task=vqav2", "model=demo_qwen2_vl", "task.limit=2"]) == 0
    runs = sorted(p.parent.parent.relative_to(tmp_path).parts[-2:]
                  for p in tmp_path.glob("outputs/*/modeltest/*/*/results/summary.json"))
    assert runs == [("demo_qwen2_vl", "textvqa"), ("demo_qwen2_vl", "vqav2")]


def test_installing_never_forces_another_torch():
    """torchvision (each release pins one torch) and open_clip_torch (which needs
    torchvision) are not hard dependencies; torch's floor is transformers 5's own."""
    import tomllib
    from packaging.requirements import Requirement

    project = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml")
                            .read_text())["project"]
    hard = {Requirement(r).name.lower().replace("_", "-"): Requirement(r)
            for r in project["dependencies"]}
    assert "torchvision" not in hard and "open-clip-torch" not in hard and "timm" not in hard
    assert str(hard["torch"].specifier) == ">=2.6"
    extras = {Requirement(r).name for r in project["optional-dependencies"]["vision"]}
    # the demo data packages (easy-vqa, scikit-image) pin no torch
    assert extras == {"torchvision", "open_clip_torch", "easy-vqa", "scikit-image"}


def test_a_missing_torchvision_is_a_one_line_hint(no_model_load, capsys, tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "torchvision" else real(name, *a))
    err = one_line_error(capsys, "task=textvqa", f"output_dir={tmp_path / 'out'}")
    assert "needs torchvision" in err and "pip install -e '.[vision]' 'torch==" in err


def test_building_the_demo_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MODELTEST_CACHE", str(tmp_path / "cache"))
    ensure_asset("data", "textvqa")
    err = capsys.readouterr().err
    assert "building the demo data 'textvqa' into" in err and "(first use)" in err
    assert "demo 'textvqa' built in" in err
    ensure_asset("data", "textvqa")            # cached: silent
    assert capsys.readouterr().err == ""
