"""The same benchmark from the files users hold: the official JSON, VLMEvalKit's TSV and a
lmms-lab `datasets` parquet copy of the demo TextVQA and VQA v2 sets give the same samples,
the same model outputs token for token, and the same scores. A hub id is refused in one line."""
import json

import pytest

from runners.cli import main
from runners.config import compose, to_container
from runners.demo import ensure_asset

COPIES = {"textvqa": ["TextVQA_VAL.tsv", "lmms-lab"], "vqav2": ["VQAv2_VAL.tsv", "lmms-lab"]}


def _run(tmp_path, task, name, *overrides):
    out = tmp_path / f"{task}_{name}"
    assert main([f"task={task}", "model=demo_qwen2_vl", f"output_dir={out}", *overrides]) == 0
    summary = json.loads((out / "results" / "summary.json").read_text())
    records = {str(r["question_id"]): r
               for r in map(json.loads, (out / "debug" / "samples.jsonl").open())}
    return summary, records


@pytest.mark.parametrize("task", sorted(COPIES))
def test_tsv_and_parquet_copies_score_like_the_official_files(task, tmp_path):
    folder = ensure_asset("data", task)
    official, records = _run(tmp_path, task, "official")
    for copy in COPIES[task]:
        summary, copied = _run(tmp_path, task, copy,
                               f"task.local_dataset_path={folder / copy}")
        assert summary["metrics"] == official["metrics"], copy
        assert copied.keys() == records.keys()
        for qid, record in records.items():
            other = copied[qid]
            assert other["output_ids"] == record["output_ids"], (copy, qid)
            assert (other["prompt"], other["references"], other["subject"], other["score"]) \
                == (record["prompt"], record["references"], record["subject"], record["score"])
        identity = json.loads((tmp_path / f"{task}_{copy}" / "debug" /
                               "run_identity.json").read_text())
        assert list(identity["data"]["files"]) == ["local_dataset_path"]


def test_format_is_detected_from_the_path(demo_cache):
    from modeltest.tasks import detect_format

    folder = ensure_asset("data", "textvqa")
    task = to_container(compose(["task=textvqa"]))["task"]
    assert detect_format(task) == "textvqa_jsonl"
    assert detect_format({**task, "local_dataset_path": str(folder / "TextVQA_VAL.tsv")}) \
        == "vlmevalkit_tsv"
    assert detect_format({**task, "local_dataset_path": str(folder / "lmms-lab")}) == "hf"
    assert detect_format({**task, "format": "hf"}) == "hf"


def test_a_hub_id_is_refused_with_what_to_download(tmp_path, capsys):
    assert main(["task=textvqa", "task.local_dataset_path=lmms-lab/textvqa",
                 f"output_dir={tmp_path}"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "huggingface-cli download lmms-lab/textvqa --repo-type dataset" in err
    assert "task.local_dataset_path" in err


def test_a_bad_tsv_row_names_file_and_row(tmp_path, capsys):
    folder = ensure_asset("data", "textvqa")
    lines = (folder / "TextVQA_VAL.tsv").read_text().splitlines()
    index, _, question, answer = lines[3].split("\t")
    lines[3] = "\t".join([index, "not base64 at all!" * 5, question, answer])
    bad = tmp_path / "bad.tsv"
    bad.write_text("\n".join(lines) + "\n")
    assert main(["task=textvqa", f"task.local_dataset_path={bad}",
                 f"output_dir={tmp_path / 'a'}"]) == 2
    err = capsys.readouterr().err
    assert f"{bad}: row 3 (index {index})" in err
    assert main(["task=textvqa", f"task.local_dataset_path={bad}", "task.skip_bad_lines=true",
                 "task.limit=4", f"output_dir={tmp_path / 'b'}"]) == 0
    summary = json.loads((tmp_path / "b" / "results" / "summary.json").read_text())
    assert summary["num_samples"] == 4 and any("row 3" in n for n in summary["notes"])
