"""Official result files, as the task declares them (`task.submission`):

  writer: result_json     [{"<id_key>": ..., "<answer_key>": ...}] (EvalAI-style result
                          files: `question_id`, or `questionId` where a benchmark says so)
  writer: captions_json   {"<image path>": "<caption>"} (predict_result.json of captioning)
  file:   the file name under results/ ("{task}" is the task's name)
  id_key, answer_key: the field names (result_json)
A task with `submission: null` writes none. Reading a result file back (runner=score) uses the
same declaration; a duplicate id is an error naming it.
"""
from __future__ import annotations

import json
from pathlib import Path

from modeltest.registry import Registry
from modeltest.reports.atomic import write_text_atomic
from modeltest.samples import DataError


def _result_json(spec: dict):
    id_key, answer_key = str(spec["id_key"]), str(spec["answer_key"])

    def write(path: Path, records: list[dict]) -> None:
        entries = [{id_key: r["question_id"], answer_key: r["cleaned_prediction"]}
                   for r in records]
        write_text_atomic(path, json.dumps(entries, ensure_ascii=False, indent=1))

    def read(path: Path) -> dict[str, str] | None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            return None
        if not isinstance(data, list):
            return None
        answers: dict[str, str] = {}
        duplicates = []
        for index, entry in enumerate(data):
            if not isinstance(entry, dict) or id_key not in entry or answer_key not in entry:
                raise DataError(f"{path}#[{index}]: expected {{\"{id_key}\", \"{answer_key}\"}}")
            key = str(entry[id_key])
            if key in answers:
                duplicates.append(key)
            answers[key] = str(entry[answer_key])
        if duplicates:
            raise DataError(f"{path}: duplicate {id_key}(s) {', '.join(duplicates[:10])}"
                            + (" ..." if len(duplicates) > 10 else ""))
        return answers
    return write, read


def _captions_json(spec: dict):
    def write(path: Path, records: list[dict]) -> None:
        captions = {r["images"][0]: r["cleaned_prediction"] for r in records if not r["error"]}
        write_text_atomic(path, json.dumps(dict(sorted(captions.items())), indent=1,
                                           ensure_ascii=False))

    def read(path: Path) -> None:
        return None   # captions are compared by runner=clip_compare, not rescored
    return write, read


WRITERS = Registry("task.submission.writer", {"result_json": _result_json,
                                              "captions_json": _captions_json})


def submission_file(spec: dict, results_dir: Path, task: str) -> Path:
    return results_dir / str(spec["file"]).format(task=task)


def write_submission(spec: dict | None, results_dir: Path, task: str, records: list[dict]) -> None:
    if spec:
        write, _ = WRITERS.get(spec["writer"])(spec)
        write(submission_file(spec, results_dir, task), records)


def read_submission(spec: dict | None, path: Path) -> dict[str, str] | None:
    """{question_id: answer} when `path` is the task's official result file, else None."""
    if not spec:
        return None
    _, read = WRITERS.get(spec["writer"])(spec)
    return read(path)
