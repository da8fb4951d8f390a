"""Rescoring the golden prediction sets through the tasks (`runner=score`, the tasks' own
formats and yamls) reproduces the OFFICIAL aggregates the goldens recorded:

- Video-MME: tests/golden/videomme_{current,pre20240623}.json hold 4 sets of 2700 responses
  with the report `eval_your_results.py` printed; here the same questions are written as the
  lmms-lab parquet (and as VLMEvalKit's TSV, and the responses as the official results file),
  rescored with task.unparsed=skip, and every printed number is compared.
- MVBench: tests/golden/mvbench_official.json holds 600 questions (20 tasks x 30) and 4 sets
  of replies with the notebook's acc_dict/final_res; here the questions are written as the
  official json files, rescored with task.unparsed=substring, and every number is compared.
The data files are generated from the goldens' own fields (the golden questions have no
texts or videos: those are placeholders, which scoring never reads).
"""
import json
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from modeltest.scorers import mvbench, videomme
from modeltest.scorers.prediction_cleaning import DEFAULT_STOP_STRINGS
from runners.cli import main

GOLDEN = Path(__file__).parent / "golden"
HEADERS = {"Video Categories": "domain", "Video Domains": "domain",
           "Video Sub Categories": "sub_category", "Task Categories": "task_type"}
LINE = re.compile(r"^(?P<name>.+): (?P<value> ?-?\d+\.\d)%$")


def _golden(name):
    return json.loads((GOLDEN / name).read_text(encoding="utf-8"))


def _printed(text):
    """eval_your_results.py's report as {block: {"Overall": str, breakdown: {name: str}}}."""
    report, block, section = {}, None, None
    for line in text.splitlines():
        if line.startswith("Evaluation on video Type: "):
            block = report.setdefault(line.split(": ", 1)[1], {})
        elif line == "Evaluation on the entire dataset":
            block = report.setdefault("entire dataset", {})
        elif line in HEADERS:
            section = block.setdefault(HEADERS[line], {})
        elif line == "Overall Performance":
            section = None
        elif match := LINE.match(line):
            target = block if section is None else section
            target["Overall" if section is None else match["name"]] = match["value"].strip()
    return report


def _as_printed(value):
    return f"{value : .1f}".strip()        # the official f"{... : .1f}%"


def _videomme_rows(questions):
    """(question_id, row) in the lmms-lab parquet's columns, from the golden's questions."""
    rows, seen = [], {}
    for video_id, duration, domain, sub_category, task_type, answer in questions:
        seen[video_id] = seen.get(video_id, 0) + 1
        rows.append({"video_id": video_id, "duration": duration, "domain": domain,
                     "sub_category": sub_category, "url": f"https://example.org/{video_id}",
                     "videoID": f"vid{video_id}", "question_id": f"{video_id}-{seen[video_id]}",
                     "task_type": task_type, "question": f"Question {len(rows)}?",
                     "options": ["A. one", "B. two", "C. three", "D. four"],
                     "answer": answer})
    return rows


def _write_parquet(folder: Path, rows):
    (folder / "videomme").mkdir(parents=True)
    columns = {name: [row[name] for row in rows] for name in rows[0]}
    schema = pa.schema([(n, pa.list_(pa.string()) if n == "options" else pa.string())
                        for n in columns])
    pq.write_table(pa.table(columns, schema=schema),
                   folder / "videomme" / "test-00000-of-00001.parquet")


def _write_lines(path: Path, pairs):
    path.write_text("".join(json.dumps({"question_id": q, "prediction": p}) + "\n"
                            for q, p in pairs), encoding="utf-8")


def _summary(out: Path):
    return json.loads((out / "results" / "summary.json").read_text())


def _samples(out: Path):
    return [json.loads(line) for line in (out / "debug" / "samples.jsonl").open()]


def _compare_report(official, ours, label):
    assert set(official) == set(ours) == {"short", "medium", "long", "entire dataset"}, label
    for block, printed in official.items():
        table = ours[block]
        assert printed["Overall"] == _as_printed(table["Overall"]), (label, block)
        for breakdown in ("domain", "sub_category", "task_type"):
            assert list(printed[breakdown]) == list(table[breakdown]), (label, block)
            for name, value in printed[breakdown].items():
                assert value == _as_printed(table[breakdown][name]), \
                    (label, block, breakdown, name)


def test_golden_replies_hold_no_chat_end_marker():
    """Rescoring cuts a prediction at the chat end markers first; the goldens have none, so
    what the task scores is exactly what the official code read."""
    texts = [r for v in ("current", "pre20240623")
             for s in _golden(f"videomme_{v}.json")["sets"] for r in s["responses"]]
    data = _golden("mvbench_official.json")
    texts += [p[3] for p in data["pipeline"]] + [r for e in data["extra_sets"]
                                                 for r in e["replies"]]
    assert not [t for t in texts if any(stop in t for stop in DEFAULT_STOP_STRINGS)]


@pytest.mark.parametrize("variant", videomme.VARIANTS)
def test_videomme_rescoring_reproduces_the_official_reports(tmp_path, variant):
    data = _golden(f"videomme_{variant}.json")
    rows = _videomme_rows(data["questions"])
    _write_parquet(tmp_path / "Video-MME", rows)
    for recorded in data["sets"]:
        predictions = tmp_path / f"{recorded['name']}.jsonl"
        _write_lines(predictions, [(r["question_id"], response)
                                   for r, response in zip(rows, recorded["responses"])])
        out = tmp_path / f"out_{recorded['name']}"
        assert main(["runner=score", "task=videomme", f"task.videomme_eval={variant}",
                     "task.unparsed=skip", f"task.local_dataset_path={tmp_path / 'Video-MME'}",
                     f"runner.predictions={predictions}", f"output_dir={out}"]) == 0
        summary = _summary(out)
        _compare_report(_printed(recorded["printed"]), summary["metrics"]["overall"]["official"],
                        (variant, recorded["name"]))
        # each record's score is that question's official 1/0, its reading the official one
        records = _samples(out)
        assert [r["normalized_prediction"] for r in records] == recorded["extracted"]
        assert [r["score"] for r in records] == [
            float(e != "" and e == row["answer"]) for e, row in zip(recorded["extracted"], rows)]
        unread = recorded["extracted"].count("")
        overall = summary["metrics"]["overall"]
        assert overall["unparsed"] == unread and overall["counted"] == 2700 - unread
        assert summary["metrics"]["short"]["accuracy"] == overall["short"]
        assert list(summary["metrics"])[1:] == ["short", "medium", "long"]


def test_videomme_strict_default_and_the_other_copies(tmp_path):
    """The default counts unreadable replies wrong over all 2700; the VLMEvalKit TSV copy
    (ids: `index`) and the official results file give the same numbers."""
    data = _golden("videomme_current.json")
    recorded = next(s for s in data["sets"] if s["name"] == "adversarial")
    rows = _videomme_rows(data["questions"])
    _write_parquet(tmp_path / "Video-MME", rows)
    predictions = tmp_path / "predictions.jsonl"
    _write_lines(predictions, [(r["question_id"], p)
                               for r, p in zip(rows, recorded["responses"])])
    strict = tmp_path / "strict"
    assert main(["runner=score", "task=videomme", f"task.local_dataset_path={tmp_path}/Video-MME",
                 f"runner.predictions={predictions}", f"output_dir={strict}"]) == 0
    overall = _summary(strict)["metrics"]["overall"]
    right = sum(e != "" and e == r["answer"] for e, r in zip(recorded["extracted"], rows))
    assert overall["accuracy"] == pytest.approx(100 * right / 2700)
    assert overall["counted"] == 2700 and overall["unparsed"] == recorded["extracted"].count("")

    # VLMEvalKit's Video-MME.tsv (its generate_tsv columns), predictions keyed by index
    header = ["index", "video", "video_path", "duration", "domain", "candidates",
              "sub_category", "task_type", "subtitle_path", "question", "answer"]
    lines = ["\t".join(header)] + ["\t".join(str(v) for v in [
        i, r["videoID"], f"./video/{r['videoID']}.mp4", r["duration"], r["domain"],
        str(r["options"]), r["sub_category"], r["task_type"], f"./subtitle/{r['videoID']}.srt",
        r["question"], r["answer"]]) for i, r in enumerate(rows)]
    (tmp_path / "Video-MME.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    by_index = tmp_path / "by_index.jsonl"
    _write_lines(by_index, [(i, p) for i, p in enumerate(recorded["responses"])])
    tsv = tmp_path / "tsv"
    assert main(["runner=score", "task=videomme", f"task.local_dataset_path={tmp_path}/Video-MME.tsv",
                 f"runner.predictions={by_index}", f"output_dir={tsv}"]) == 0
    assert _summary(tsv)["metrics"]["overall"]["official"] == overall["official"]

    # the official results file (output_test_template.json's layout)
    videos = {}
    for row, response in zip(rows, recorded["responses"]):
        video = videos.setdefault(row["video_id"], {
            "video_id": row["video_id"], "duration": row["duration"], "domain": row["domain"],
            "sub_category": row["sub_category"], "questions": []})
        video["questions"].append({"question_id": row["question_id"],
                                   "task_type": row["task_type"], "question": row["question"],
                                   "options": row["options"], "answer": row["answer"],
                                   "response": response})
    results = tmp_path / "results.json"
    results.write_text(json.dumps(list(videos.values())), encoding="utf-8")
    official = tmp_path / "official"
    assert main(["runner=score", "task=videomme", f"task.local_dataset_path={tmp_path}/Video-MME",
                 f"runner.predictions={results}", f"output_dir={official}"]) == 0
    assert _summary(official)["metrics"]["overall"]["official"] == overall["official"]


def _write_mvbench(root: Path, pipeline):
    """The 600 golden questions as json/<task>.json, in the golden's order per task."""
    stems = {name: file[:-len(".json")] for name, file in mvbench.TASKS.items()}
    per_task, ids = {}, []
    for task, candidates, answer, *_ in pipeline:
        items = per_task.setdefault(task, [])
        ids.append(f"{task}/{len(items)}")
        items.append({"video": f"{stems[task]}_{len(items)}.mp4",
                      "question": f"Question {len(ids)}?", "candidates": candidates,
                      "answer": answer, "start": 0.0, "end": 5.0})
    (root / "json").mkdir(parents=True)
    for task, items in per_task.items():
        (root / "json" / f"{stems[task]}.json").write_text(json.dumps(items), encoding="utf-8")
    return ids


def test_mvbench_rescoring_reproduces_the_notebook_tables(tmp_path):
    data = _golden("mvbench_official.json")
    ids = _write_mvbench(tmp_path / "MVBench", data["pipeline"])
    sets = [("pipeline", [p[3] for p in data["pipeline"]], data["acc_dict"], data["final_res"])]
    sets += [(e["name"], e["replies"], e["acc_dict"], e["final_res"]) for e in data["extra_sets"]]
    for name, replies, acc_dict, final_res in sets:
        predictions = tmp_path / f"{name}.jsonl"
        _write_lines(predictions, zip(ids, replies))
        out = tmp_path / f"out_{name}"
        assert main(["runner=score", "task=mvbench", "task.unparsed=substring",
                     f"task.local_dataset_path={tmp_path / 'MVBench'}",
                     f"runner.predictions={predictions}", f"output_dir={out}"]) == 0
        metrics = _summary(out)["metrics"]
        assert metrics["overall"]["official"] == final_res, name        # exactly, Avg too
        assert metrics["overall"]["avg"] == final_res["Avg"]
        assert list(metrics)[1:] == list(mvbench.TASKS)                 # the notebook's order
        for task, (correct, total) in acc_dict.items():
            assert (metrics[task]["pass"], metrics[task]["total"]) == (correct, total)
        if name == "pipeline":
            records = _samples(out)
            assert [r["normalized_prediction"] for r in records] == [p[4] for p in data["pipeline"]]
            assert [r["score"] for r in records] == [float(p[6]) for p in data["pipeline"]]


def test_mvbench_strict_default_gives_no_credit_for_saying_nothing(tmp_path):
    data = _golden("mvbench_official.json")
    ids = _write_mvbench(tmp_path / "MVBench", data["pipeline"])
    empty = next(e for e in data["extra_sets"] if e["name"] == "all_empty")
    predictions = tmp_path / "empty.jsonl"
    _write_lines(predictions, zip(ids, empty["replies"]))
    out = tmp_path / "out"
    assert main(["runner=score", "task=mvbench", f"task.local_dataset_path={tmp_path}/MVBench",
                 f"runner.predictions={predictions}", f"output_dir={out}"]) == 0
    summary = _summary(out)
    assert empty["final_res"]["Avg"] == 100.0
    assert summary["metrics"]["overall"]["avg"] == 0.0
    assert summary["metrics"]["overall"]["unparsed"] == 600
    assert any("600 replies naming no option" in note for note in summary["notes"])
