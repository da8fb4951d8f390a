"""Loaders on the demo data (real formats) and their errors on bad data."""
import json
from pathlib import Path

import pytest

from modeltest.samples import DataError
from modeltest.tasks import load_samples
from runners.config import compose, to_container
from runners.demo import ensure_asset

TEMPLATE = "{question}"
VB_TEMPLATE = "{question} {options} \n Among the {count_word} options {letters} above:"


def task_cfg(name, *overrides):
    return to_container(compose([f"task={name}", *overrides]))["task"]


def test_textvqa_demo(demo_cache):
    ensure_asset("data", "textvqa")
    samples, warnings = load_samples(task_cfg("textvqa"), TEMPLATE)
    assert len(samples) == 12 and not warnings
    assert all(Path(s.images[0]).is_file() and len(s.references) == 10 for s in samples)
    assert {Path(s.images[0]).suffix for s in samples} == {".jpg", ".png"}


def test_vqav2_demo_uses_coco_names_and_answer_types():
    ensure_asset("data", "vqav2")
    samples, _ = load_samples(task_cfg("vqav2"), TEMPLATE)
    assert {s.subject for s in samples} == {"yes/no", "number", "other"}
    assert all(Path(s.images[0]).name.startswith("COCO_val2014_0000") for s in samples)
    assert all(Path(s.images[0]).is_file() for s in samples)


def test_videobench_demo_prompt_and_subject_selection():
    ensure_asset("data", "videobench")
    samples, warnings = load_samples(task_cfg("videobench"), VB_TEMPLATE)
    assert {s.subject for s in samples} == {"MSVD", "TGIF", "TVQA", "SQA3D"}
    assert any("ActivityNet" in w for w in warnings)        # mapped but absent: reported
    first = samples[0]
    assert Path(first.video).is_file() and first.references[0] in first.choices
    assert " A." in first.prompt and "options A, B" in first.prompt
    narrowed, _ = load_samples(task_cfg("videobench", "task.subjects=[MSVD,TGIF]"), VB_TEMPLATE)
    assert {s.subject for s in narrowed} == {"MSVD", "TGIF"}
    with pytest.raises(DataError, match="unknown subject"):
        load_samples(task_cfg("videobench", "task.subjects=[Nope]"), VB_TEMPLATE)
    with pytest.raises(DataError, match="ActivityNet_QA_new.json"):
        load_samples(task_cfg("videobench", "task.subjects=[ActivityNet]"), VB_TEMPLATE)


def _textvqa_copy(tmp_path, lines, annotations):
    data = tmp_path / "textvqa_val.jsonl"
    data.write_text("".join(lines))
    (tmp_path / "textvqa_val_annotations.json").write_text(json.dumps(annotations))
    return data


def test_malformed_jsonl_line_names_file_and_line(tmp_path):
    good = json.dumps({"image": "a.jpg", "question": "q", "question_id": 1}) + "\n"
    data = _textvqa_copy(tmp_path, [good, "{not json\n", good.replace(": 1", ": 2")],
                         {"annotations": [{"question_id": 1, "answers": ["x"] * 10},
                                          {"question_id": 2, "answers": ["y"] * 10}]})
    cfg = task_cfg("textvqa", f"task.local_dataset_path={data}")
    with pytest.raises(DataError, match=rf"{data}:2: malformed JSONL"):
        load_samples(cfg, TEMPLATE)
    cfg["skip_bad_lines"] = True
    samples, warnings = load_samples(cfg, TEMPLATE)
    assert len(samples) == 2 and f"{data}:2" in warnings[0]


def test_question_without_annotation_and_empty_dataset(tmp_path):
    line = json.dumps({"image": "a.jpg", "question": "q", "question_id": 7}) + "\n"
    data = _textvqa_copy(tmp_path, [line], {"annotations": []})
    with pytest.raises(DataError, match=rf"{data}:1: question_id 7 has no annotation"):
        load_samples(task_cfg("textvqa", f"task.local_dataset_path={data}"), TEMPLATE)
    data = _textvqa_copy(tmp_path, [], {"annotations": []})
    with pytest.raises(DataError, match="empty"):
        load_samples(task_cfg("textvqa", f"task.local_dataset_path={data}"), TEMPLATE)


def test_media_paths_relative_to_the_data_file_or_absolute(tmp_path):
    (tmp_path / "img").mkdir()
    lines = [json.dumps({"image": "img/a.jpg", "question": "q", "question_id": 1}) + "\n",
             json.dumps({"image": "/abs/b.jpg", "question": "q", "question_id": 2}) + "\n"]
    data = _textvqa_copy(tmp_path, lines, {"annotations": [
        {"question_id": 1, "answers": [{"answer": "x"}] * 10},
        {"question_id": 2, "answers": [{"answer": "y"}] * 10}]})
    samples, _ = load_samples(task_cfg("textvqa", f"task.local_dataset_path={data}"), TEMPLATE)
    assert samples[0].images == [str((tmp_path / "img/a.jpg").resolve())]
    assert samples[1].images == ["/abs/b.jpg"]


def test_videobench_answer_not_among_options(tmp_path):
    eval_qa = tmp_path / "Eval_QA"
    (eval_qa / "answer").mkdir(parents=True)
    (eval_qa / "MSVD_QA_new.json").write_text(json.dumps({"q1": {
        "vid_path": "v.mp4", "video_id": "v", "question": "?", "choices": {"A": "x", "B": "y"}}}))
    (eval_qa / "answer" / "ANSWER.json").write_text(json.dumps({"MSVD": {"q1": {"answer": "E"}}}))
    with pytest.raises(DataError, match="answer 'E' is not among the options A, B"):
        load_samples(task_cfg("videobench", f"task.local_dataset_path={eval_qa}",
                              "task.subjects=[MSVD]"), VB_TEMPLATE)


def test_demo_asset_is_rebuilt_when_stale(demo_cache):
    folder = ensure_asset("data", "coco_caption")
    manifest = json.loads((folder / "manifest.json").read_text())
    victim = folder / next(iter(manifest["files"]))
    victim.unlink()
    ensure_asset("data", "coco_caption")
    assert victim.is_file()
