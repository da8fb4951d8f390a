"""The image multiple-choice tasks read both copies users hold (VLMEvalKit's TSV and the lmms-lab
`datasets` copy) into the same samples, and bad files or settings stop before any model loads
with one line naming the row or key."""
import json

import pytest

from golden_files import digest
from modeltest.samples import DataError
from modeltest.tasks import load_samples
from modeltest.tasks.image_mcq import split_options
from runners.cli import main
from runners.config import compose, to_container
from runners.demo import ensure_asset

TASKS = ["mmmu", "mmbench", "ai2d", "scienceqa", "realworldqa"]


def _load(task: str, *overrides):
    cfg = to_container(compose([f"task={task}", *overrides]))["task"]
    return load_samples(cfg, cfg["prompt_template"])[0]


@pytest.mark.parametrize("task", TASKS)
def test_both_copies_give_the_same_samples(task):
    folder = ensure_asset("data", task)
    copies = json.loads((folder / "copies.json").read_text())
    tsv = _load(task)
    hf = _load(task, f"task.local_dataset_path={folder / copies['hf']}")
    kept = to_container(compose([f"task={task}"]))["task"]["record_fields"]

    def view(sample):
        return (sample.prompt, [digest(p) for p in sample.images], sample.references,
                sample.subject, sample.image_markers, {k: sample.fields.get(k) for k in kept})
    if task == "mmmu":   # the lmms-lab copy holds one split a file (validation by default)
        assert [view(s) for s in hf] == [view(s) for s in tsv
                                         if s.fields["split"] == "validation"]
        assert [s.question_id for s in hf][:2] == ["validation_Art_Theory_1", "validation_Math_3"]
        assert {s.fields["split"] for s in tsv} == {"validation", "dev"}
        dev = _load(task, f"task.local_dataset_path={folder / copies['hf']}",
                    "task.data_split=dev")
        assert [view(s) for s in dev] == [view(s) for s in tsv if s.fields["split"] == "dev"]
    else:                # the same ids too: a TSV's index is the row's position there
        assert [(s.question_id, *view(s)) for s in hf] == [(s.question_id, *view(s))
                                                          for s in tsv]


def test_demo_sets_reach_every_path():
    mmmu = _load("mmmu")
    assert any(len(s.images) > 1 for s in mmmu[:2]) and any(not s.choices for s in mmmu)
    assert any(s.prompt.count("<image 2>") for s in mmmu)
    mmbench = _load("mmbench")
    assert [s.question_id for s in mmbench[:2]] == [0, 1_000_000]
    assert mmbench[0].images == mmbench[1].images      # a copy shares its main row's image
    assert "D. " not in mmbench[4].prompt              # an option "None" is not shown
    cn = _load("mmbench", f"task.local_dataset_path={ensure_asset('data', 'mmbench')}"
                          "/MMBench_DEV_CN.tsv")
    assert "标志" in cn[0].prompt
    ai2d = _load("ai2d")
    assert ai2d[0].images == ai2d[1].images            # a TSV row naming another's index
    assert not _load("realworldqa")[3].choices


def test_realworldqa_options_come_out_of_the_question():
    question = ("Which way?\nA. left\nB. right\nC. straight\n"
                "Please answer directly with only the letter of the correct option and "
                "nothing else.")
    assert split_options(question) == (
        "Which way?\nPlease answer directly with only the letter of the correct option and "
        "nothing else.", {"A": "left", "B": "right", "C": "straight"})
    assert split_options("How many?\nB. not an option list") == \
        ("How many?\nB. not an option list", {})


def _tsv(path, rows):
    import pandas as pd

    pd.DataFrame(rows).to_csv(path, sep="\t", index=False)


def test_a_mark_naming_a_missing_image_is_an_error_before_loading(tmp_path, capsys):
    from golden_files import png
    import base64

    image = base64.b64encode(png(3)).decode()
    _tsv(tmp_path / "MMMU.tsv", [
        {"index": 0, "question": "See <image 1>.", "A": "x", "B": "y", "answer": "A",
         "category": "Art", "split": "validation", "image": image},
        {"index": 1, "question": "See <image 1>.", "A": "<image 2>", "B": "y", "answer": "A",
         "category": "Art", "split": "validation", "image": image}])
    code = main(["task=mmmu", "model=demo_qwen2_vl", f"task.local_dataset_path={tmp_path}/MMMU.tsv",
                 f"output_dir={tmp_path / 'out'}"])
    assert code == 2
    error = capsys.readouterr().err
    assert "row 2 (index 1): <image 2> but the row has 1 image(s)" in error


@pytest.mark.parametrize("override, named", [
    ("task.unparsed=sometimes", "task.unparsed=sometimes"),
    ("task.scoring=lmms_eval", "task.scoring=lmms_eval"),
    ("task.can_infer_version=2023", "task.can_infer_version=2023"),
])
def test_unknown_scoring_settings_are_named(override, named, tmp_path, capsys):
    task = "ai2d" if "can_infer" in override else "mmmu"
    assert main([f"task={task}", "model=demo_qwen2_vl", override,
                 f"output_dir={tmp_path}"]) == 2
    assert named in capsys.readouterr().err


def test_an_answer_position_outside_the_options_names_the_row(tmp_path):
    import datasets

    from golden_files import png

    datasets.Dataset.from_dict({
        "question": ["Which?"], "options": [["a", "b"]], "answer": ["2"],
        "image": [{"bytes": png(1), "path": "1.png"}]}).cast_column(
        "image", datasets.Image()).to_parquet(str(tmp_path / "test-00000-of-00001.parquet"))
    with pytest.raises(DataError, match="row 1 .*answer '2' is not the position of one of its 2"):
        _load("ai2d", f"task.local_dataset_path={tmp_path}")
