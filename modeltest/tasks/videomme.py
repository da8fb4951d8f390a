"""Video-MME's hooks: the `{options}` its prompts show, and reading the benchmark's own results
file for rescoring. Its scorer and tables: modeltest/scorers/videomme_task.py."""
from __future__ import annotations

from pathlib import Path

from modeltest.samples import DataError
from modeltest.tasks.document import Document
from modeltest.tasks.io import read_json


def prompt_fields(document: Document) -> dict[str, str]:
    """`{options}`: the four option strings as the file holds them ("A. ..."), one a line, as
    VLMEvalKit, lmms-eval and the README prompt join them."""
    return {"options": "\n".join(document.fields["option_texts"])}


def read_results(path: Path, task: dict, notes: list[str]) \
        -> dict[str, tuple[str | None, str | None, str]] | None:
    """The official results file (`output_test_template.json`'s layout, what
    eval_your_results.py reads: [{video_id, duration, ..., "questions": [{question_id, ...,
    "response"}]}]) as {question_id: (response, None, where)}; None when `path` is not one."""
    if path.suffix != ".json" or not path.is_file():
        return None
    data = read_json(path)
    if not (isinstance(data, list) and data and isinstance(data[0], dict)
            and "questions" in data[0]):
        return None
    predictions = {}
    for v_index, video in enumerate(data):
        questions = video.get("questions") if isinstance(video, dict) else None
        if not isinstance(questions, list):
            raise DataError(f"{path}: video {v_index}: no 'questions' list")
        for q_index, question in enumerate(questions):
            where = f"{path}: video {v_index}, question {q_index}"
            if not isinstance(question, dict) or "question_id" not in question \
                    or "response" not in question:
                raise DataError(f"{where}: needs 'question_id' and 'response'")
            qid = str(question["question_id"])
            if qid in predictions:
                raise DataError(f"{where}: duplicate question_id {qid}")
            response = question["response"]
            predictions[qid] = (None if response is None else str(response), None, where)
    notes.append(f"responses read from the official results file {path}")
    return predictions
