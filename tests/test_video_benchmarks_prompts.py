"""The recorded prompts (tests/golden/videomme_prompts.json, mvbench_prompts.json: VLMEvalKit's
build_prompt, the benchmarks' own prompts, lmms-eval's doc_to_text, each run on generated
rows) come out of the real loader path: the rows written in the benchmarks' own files (the
lmms-lab parquet, VLMEvalKit's TSVs, MVBench's json), read by the tasks' formats, the prompts
rendered from conf/task/{videomme,mvbench}.yaml's templates and hooks.

A VLMEvalKit message is a list of text and media items; its text items joined in order are
what a model wrapper that keeps them in the user turn gets, and what the tasks' default
template gives (the adapters put the video before the text)."""
import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from modeltest.scorers import mvbench
from modeltest.tasks import load_samples
from modeltest.tasks.mvbench import SYSTEM
from runners.config import compose, to_container

GOLDEN = Path(__file__).parent / "golden"


def _golden(name):
    return json.loads((GOLDEN / f"{name}_prompts.json").read_text(encoding="utf-8"))


def _prompts(task, path, *overrides):
    cfg = to_container(compose([f"task={task}", f"task.local_dataset_path={path}",
                                *overrides]))["task"]
    samples, _ = load_samples(cfg, cfg["prompt_template"])
    return [s.prompt for s in samples], cfg


def _texts(message):
    return "".join(item["value"] for item in message if item["type"] == "text")


# -- Video-MME -------------------------------------------------------------------------------
def _videomme_files(folder: Path, questions):
    """The questions as the lmms-lab parquet and as VLMEvalKit's TSV (its columns)."""
    rows = [{"video_id": f"{i + 1:03d}", "duration": "short", "domain": "Knowledge",
             "sub_category": "Law", "url": "https://example.org", "videoID": f"v{i}",
             "question_id": f"{i + 1:03d}-1", "task_type": "OCR Problems", "question": q,
             "options": list(options), "answer": "A"} for i, (q, options) in enumerate(questions)]
    (folder / "videomme").mkdir(parents=True)
    columns = {name: [row[name] for row in rows] for name in rows[0]}
    schema = pa.schema([(n, pa.list_(pa.string()) if n == "options" else pa.string())
                        for n in columns])
    pq.write_table(pa.table(columns, schema=schema),
                   folder / "videomme" / "test-00000-of-00001.parquet")
    pd.DataFrame([[i, r["videoID"], f"./video/{r['videoID']}.mp4", r["duration"], r["domain"],
                   str(r["options"]), r["sub_category"], r["task_type"],
                   f"./subtitle/{r['videoID']}.srt", r["question"], r["answer"]]
                  for i, r in enumerate(rows)],
                 columns=["index", "video", "video_path", "duration", "domain", "candidates",
                          "sub_category", "task_type", "subtitle_path", "question", "answer"]
                 ).to_csv(folder / "Video-MME.tsv", sep="\t", index=False)
    return [folder, folder / "Video-MME.tsv"]


@pytest.mark.parametrize("copy", [0, 1], ids=["lmms-lab parquet", "VLMEvalKit TSV"])
def test_videomme_default_prompt_is_vlmevalkits(tmp_path, copy):
    cases = _golden("videomme")["vlmevalkit"]["cases"]
    assert len(cases) >= 8 and {c["video_llm"] for c in cases} == {True, False}
    path = _videomme_files(tmp_path, [(c["question"], c["options"]) for c in cases])[copy]
    prompts, cfg = _prompts("videomme", path)
    assert cfg["prompt_variant"] == "vlmevalkit"
    assert prompts == [_texts(c["message"]) for c in cases]


def test_videomme_readme_and_lmms_eval_prompts(tmp_path):
    golden = _golden("videomme")
    example = golden["official"]["example_without_subtitles"].rstrip("\n").split("\n")
    lmms = [c for c in golden["lmms_eval"]["cases"] if c["kwargs"] == "default"]
    questions = [(example[1], example[2:-1])] + [(c["question"], c["options"]) for c in lmms]
    path = _videomme_files(tmp_path, questions)[0]
    official, _ = _prompts("videomme", path, "task.prompt_variant=official")
    assert official[0] + "\n" == golden["official"]["example_without_subtitles"]
    lmms_eval, _ = _prompts("videomme", path, "task.prompt_variant=lmms_eval")
    assert lmms and lmms_eval[1:] == [c["prompt"] for c in lmms]


# -- MVBench ---------------------------------------------------------------------------------
def _mvbench_files(folder: Path, cases):
    """The questions as MVBench's json files (per task) and as VLMEvalKit's MVBench.tsv, in
    the same order (tasks in the notebook's order)."""
    stems = {name: file[:-len(".json")] for name, file in mvbench.TASKS.items()}
    per_task = {}
    for case in cases:
        per_task.setdefault(case.get("task_type", "Action Sequence"), []).append(case)
    (folder / "json").mkdir(parents=True)
    rows, order = [], []
    for task in mvbench.TASKS:
        items = [{"video": f"v{k}.mp4", "question": c["question"],
                  "candidates": c["candidates"],
                  "answer": c.get("answer", c["candidates"][0]), "start": 1.0, "end": 2.0}
                 for k, c in enumerate(per_task.get(task, []))]
        if items:
            (folder / "json" / f"{stems[task]}.json").write_text(json.dumps(items))
        for item in items:
            rows.append([task, "video/x/", "video", True, 1.0, 2.0, item["video"],
                         item["question"], item["answer"], str(item["candidates"]), len(rows)])
        order += per_task.get(task, [])
    pd.DataFrame(rows, columns=["task_type", "prefix", "data_type", "bound", "start", "end",
                                "video", "question", "answer", "candidates", "index"]
                 ).to_csv(folder / "MVBench.tsv", sep="\t", index=False)
    return [folder, folder / "MVBench.tsv"], order


@pytest.mark.parametrize("copy", [0, 1], ids=["official json", "VLMEvalKit TSV"])
def test_mvbench_default_prompt_is_vlmevalkits(tmp_path, copy):
    cases = _golden("mvbench")["vlmevalkit"]["cases"]
    paths, order = _mvbench_files(tmp_path, cases)
    prompts, cfg = _prompts("mvbench", paths[copy])
    assert cfg["prompt_variant"] == "vlmevalkit" and cfg["answer_start"] == ""
    assert prompts == [_texts(c["message"]) for c in order]


def test_mvbench_official_prompt_is_the_notebooks_conversation(tmp_path):
    """infer_mvbench's conversation is `{system}###Human: <Video><VideoHere></Video>\\n###Human:
    ` + the question text + `\\n###Assistant: ` + the answer prompt: the official variant gives
    the question text as the user's turn and the answer prompt as the answer's start."""
    cases = _golden("mvbench")["official"]["prompts"]
    assert len(cases) == 40 and len({c["task_type"] for c in cases}) == 20
    paths, order = _mvbench_files(tmp_path, cases)
    prompts, cfg = _prompts("mvbench", paths[0], "task.prompt_variant=official")
    assert cfg["answer_start"] == "Best option:("
    for case, prompt in zip(order, prompts):
        assert case["prompt"] == (f"{SYSTEM}###Human: <Video><VideoHere></Video>\n###Human: "
                                  f"{prompt}\n###Assistant: {cfg['answer_start']}")


def test_mvbench_lmms_eval_prompt(tmp_path):
    cases = _golden("mvbench")["lmms_eval"]["cases"]
    paths, order = _mvbench_files(tmp_path, cases)
    prompts, _ = _prompts("mvbench", paths[0], "task.prompt_variant=lmms_eval")
    assert prompts == [c["prompt"] for c in order]
