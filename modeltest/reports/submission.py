"""results/<task>_submission.json: the official result-file format [{"question_id","answer"}]."""
from __future__ import annotations

import json
from pathlib import Path

from modeltest.reports.atomic import write_text_atomic


def write_submission(path: Path, records: list[dict]) -> None:
    entries = [{"question_id": r["question_id"], "answer": r["cleaned_prediction"]}
               for r in records]
    write_text_atomic(path, json.dumps(entries, ensure_ascii=False, indent=1))


def read_submission(path: Path) -> dict[str, str] | None:
    """{question_id: answer} when `path` is an official result file, else None."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    if not isinstance(data, list):
        return None
    answers = {}
    for index, entry in enumerate(data):
        if not isinstance(entry, dict) or "question_id" not in entry or "answer" not in entry:
            raise ValueError(f"{path}#[{index}]: expected {{\"question_id\", \"answer\"}}")
        answers[str(entry["question_id"])] = str(entry["answer"])
    return answers
