"""Video-MME and MVBench read as users hold them: the demo copies are in the real layouts
(the lmms-lab parquet's columns, VLMEvalKit's TSV columns, MVBench's json files and video
folders), every copy gives the same questions, and bad data is a one-line error naming the
file and row (or key) before any model loads."""
import json
import re
import shutil

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import runners.accuracy
from modeltest.samples import DataError
from modeltest.scorers import mvbench
from modeltest.tasks import load_samples
from runners.cli import main
from runners.config import compose, to_container
from runners.demo import ensure_asset

LMMS_LAB_COLUMNS = ["video_id", "duration", "domain", "sub_category", "url", "videoID",
                    "question_id", "task_type", "question", "options", "answer"]
VIDEOMME_TSV = "index video video_path duration domain candidates sub_category task_type " \
               "subtitle_path question answer".split()
MVBENCH_TSV = "task_type prefix data_type bound start end video question answer candidates " \
              "index".split()


def _task(name, *overrides):
    return to_container(compose([f"task={name}", *overrides]))["task"]


def _samples(name, *overrides):
    ensure_asset("data", name)
    cfg = _task(name, *overrides)
    return load_samples(cfg, cfg["prompt_template"])[0]


def _copies(name):
    folder = ensure_asset("data", name)
    return folder, json.loads((folder / "copies.json").read_text())


def test_videomme_demo_is_in_the_real_layouts():
    folder, copies = _copies("videomme")
    table = pq.read_table(folder / "videomme" / "test-00000-of-00001.parquet")
    assert table.column_names == LMMS_LAB_COLUMNS
    options = table.schema.field("options").type
    assert pa.types.is_list(options) and pa.types.is_string(options.value_type)
    assert (folder / copies["vlmevalkit_tsv"]).read_text().split("\n")[0].split("\t") == \
        VIDEOMME_TSV
    parquet, tsv = _samples("videomme"), _samples(
        "videomme", f"task.local_dataset_path={folder / copies['vlmevalkit_tsv']}")
    assert {s.subject for s in parquet} == {"short", "medium", "long"}
    assert [(s.prompt, s.references, s.subject) for s in parquet] == \
        [(s.prompt, s.references, s.subject) for s in tsv]
    assert [s.question_id for s in tsv] == [str(i) for i in range(len(tsv))]
    assert all(s.video.endswith(".mp4") and s.video_spec is None for s in parquet)


def test_mvbench_demo_is_in_the_real_layout():
    folder, copies = _copies("mvbench")
    root = folder / "MVBench"
    assert sorted(p.name for p in (root / "json").iterdir()) == sorted(mvbench.TASKS.values())
    items = json.loads((root / "json" / "episodic_reasoning.json").read_text())
    assert set(items[0]) == {"video", "question", "candidates", "answer", "start", "end"}
    assert (root / "video/tvqa/frames_fps3_hq" / items[0]["video"] / "00001.jpg").is_file()
    assert (folder / copies["vlmevalkit_tsv"]).read_text().split("\n")[0].split("\t") == \
        MVBENCH_TSV
    official, tsv = _samples("mvbench"), _samples(
        "mvbench", f"task.local_dataset_path={folder / copies['vlmevalkit_tsv']}")
    assert [s.subject for s in official] == list(mvbench.TASKS)
    assert [(s.prompt, s.references, s.video, s.video_spec) for s in official] == \
        [(s.prompt, s.references, s.video, s.video_spec) for s in tsv]
    kinds = {s.subject: (s.video.rsplit(".", 1)[-1] if "." in s.video[-5:] else "folder")
             for s in official}
    assert kinds["Episodic Reasoning"] == "folder" and kinds["Fine-grained Action"] == "gif"
    bounded = [s.subject for s in official if (s.video_spec or {}).get("start") is not None]
    assert bounded == ["Action Sequence", "Action Prediction", "Object Interaction",
                       "Action Localization", "Episodic Reasoning"]


def test_mvbench_mp4_tsv_has_cut_clips(tmp_path):
    """VLMEvalKit's MVBench_MP4.tsv (the hub's `video` branch): no data_type, bound, start,
    end; every row a whole mp4 clip."""
    folder, copies = _copies("mvbench")
    table = pd.read_csv(folder / copies["vlmevalkit_tsv"], sep="\t", dtype=str,
                        keep_default_na=False)
    table.drop(columns=["data_type", "bound", "start", "end"]).to_csv(
        tmp_path / "MVBench_MP4.tsv", sep="\t", index=False)
    samples = _samples("mvbench", f"task.local_dataset_path={tmp_path / 'MVBench_MP4.tsv'}",
                       f"task.video_root={folder / 'MVBench'}")
    assert len(samples) == 20 and all(s.video_spec is None for s in samples)
    assert samples[0].video == str(folder / "MVBench/video/star/Charades_v1_480/C0A1B.mp4")
    table.drop(columns=["bound"]).to_csv(tmp_path / "half.tsv", sep="\t", index=False)
    with pytest.raises(DataError, match="a 'data_type' column without 'bound'"):
        _samples("mvbench", f"task.local_dataset_path={tmp_path / 'half.tsv'}")


def test_subjects_pick_durations_and_tasks():
    assert {s.subject for s in _samples("videomme", "task.subjects=[long]")} == {"long"}
    picked = _samples("mvbench", "task.subjects=[Episodic Reasoning,Action Count]")
    assert [s.subject for s in picked] == ["Action Count", "Episodic Reasoning"]
    with pytest.raises(DataError, match="unknown duration"):
        _samples("videomme", "task.subjects=[tiny]")
    with pytest.raises(DataError, match="unknown MVBench task"):
        _samples("mvbench", "task.subjects=[Action Guessing]")


def test_reference_frames_ride_with_each_sample():
    specs = {s.subject: s.video_spec for s in _samples("mvbench", "task.frames=reference")}
    assert specs["Action Antonym"] == {"sampler": "mvbench_segments", "frames": 16}
    assert specs["Episodic Reasoning"] == {"frame_rate": 3.0, "start": 1.0, "end": 7.0,
                                           "sampler": "mvbench_segments", "frames": 16}
    videomme = _samples("videomme", "task.frames=reference")
    assert {json.dumps(s.video_spec) for s in videomme} == {
        json.dumps({"sampler": "vlmevalkit_uniform", "frames": 8})}
    fps = _samples("videomme", "task.frames=reference",
                   "task.reference_frames.sampler=vlmevalkit_fps", "task.reference_frames.fps=1")
    assert fps[0].video_spec == {"sampler": "vlmevalkit_fps", "fps": 1.0}
    for override, message in [("task.frames=sometimes", "task.frames=sometimes: unknown"),
                              ("task.reference_frames.frames=0", "needs a positive whole")]:
        with pytest.raises(DataError, match=message):
            _samples("mvbench", "task.frames=reference", override)


def _videomme_copy(tmp_path):
    folder, _ = _copies("videomme")
    target = tmp_path / "Video-MME"
    shutil.copytree(folder, target)
    return target


def _rewrite_parquet(path, change):
    table = pq.read_table(path).to_pylist()
    change(table)
    pq.write_table(pa.Table.from_pylist(table), path)


@pytest.mark.parametrize("change, message", [
    (lambda rows: rows[2].update(duration="very long"), "row 3: duration 'very long' is not"),
    (lambda rows: rows[0].update(task_type="OCR"), "row 1: task_type 'OCR' is not an official"),
    (lambda rows: rows[1].update(answer="E"), "row 2: answer 'E' is not among the options"),
    (lambda rows: rows[0].update(options=["1", "2"]), "row 1: option '1' does not start"),
    (lambda rows: [r.pop("videoID") for r in rows], "no column(s) videoID"),
])
def test_bad_videomme_rows_are_named(tmp_path, change, message):
    copy = _videomme_copy(tmp_path)
    _rewrite_parquet(copy / "videomme" / "test-00000-of-00001.parquet", change)
    with pytest.raises(DataError, match=re.escape(message)):
        _samples("videomme", f"task.local_dataset_path={copy}")


@pytest.mark.parametrize("stem, change, message", [
    ("action_sequence", lambda items: items[0].pop("start"), "needs 'start' and 'end'"),
    ("action_count", lambda items: items[0].update(answer="A cat."), "is not one of the cand"),
    ("state_change", lambda items: items[0].pop("candidates"), "missing field(s) candidates"),
])
def test_bad_mvbench_items_are_named(tmp_path, stem, change, message):
    folder, _ = _copies("mvbench")
    copy = tmp_path / "MVBench"
    shutil.copytree(folder / "MVBench", copy)
    path = copy / "json" / f"{stem}.json"
    items = json.loads(path.read_text())
    change(items)
    path.write_text(json.dumps(items))
    with pytest.raises(DataError, match=f"{stem}.json#0: .*{re.escape(message)}"):
        _samples("mvbench", f"task.local_dataset_path={copy}")


def test_a_bad_data_type_is_a_one_line_error_before_any_model_loads(monkeypatch, capsys,
                                                                   tmp_path):
    ensure_asset("data", "mvbench")
    capsys.readouterr()

    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded")
    monkeypatch.setattr(runners.accuracy, "create_adapter", refuse)
    assert main(["task=mvbench", "model=demo_qwen2_vl", f"output_dir={tmp_path}",
                 "task.data_list.episodic_reasoning.data_type=frames"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [
        "modeltest: error: task.data_list.episodic_reasoning.data_type=frames: unknown "
        "(known: video, frame, gif)"]
