"""TextVQA as its evaluation files are: `<name>.jsonl` lines {"image","question","question_id",
"answer"} plus `{"annotations":[{"question_id","answers":[...]}]}` (task.annotation_file, by
default the sibling `<stem>_annotations.json`)."""
from __future__ import annotations

from pathlib import Path

from modeltest.samples import DataError
from modeltest.tasks.document import Document
from modeltest.tasks.formats import Format, ReadContext
from modeltest.tasks.io import answer_texts, read_json, read_jsonl, require_file, resolve_media


def annotation_path(task: dict) -> Path:
    if task.get("annotation_file"):
        return require_file(task["annotation_file"], "task.annotation_file")
    data = Path(str(task["local_dataset_path"])).expanduser()
    sibling = data.with_name(f"{data.stem}_annotations.json")
    if not sibling.is_file():
        raise DataError(f"task.annotation_file is not set and {sibling} does not exist")
    return sibling


def read(task: dict, context: ReadContext) -> list[Document]:
    data_file = require_file(task["local_dataset_path"], "task.local_dataset_path")
    ann_file = annotation_path(task)
    annotations = read_json(ann_file)
    entries = annotations.get("annotations", annotations.get("data")) \
        if isinstance(annotations, dict) else annotations
    if not isinstance(entries, list):
        raise DataError(f"{ann_file}: expected {{\"annotations\": [...]}}")
    answers_by_id = {}
    for index, entry in enumerate(entries):
        where = f"{ann_file}#annotations[{index}]"
        if not isinstance(entry, dict) or "question_id" not in entry or "answers" not in entry:
            raise DataError(f"{where}: needs 'question_id' and 'answers'")
        if str(entry["question_id"]) in answers_by_id:
            raise DataError(f"{where}: duplicate question_id {entry['question_id']!r}")
        answers_by_id[str(entry["question_id"])] = answer_texts(entry["answers"], where)

    documents = []
    for line, record in read_jsonl(data_file, context.skip_bad_lines, context.warnings):
        where = f"{data_file}:{line}"
        missing = [k for k in ("image", "question", "question_id") if k not in record]
        if missing:
            raise DataError(f"{where}: missing field(s) {', '.join(missing)}")
        qid = record["question_id"]
        references = answers_by_id.get(str(qid))
        if references is None:
            raise DataError(f"{where}: question_id {qid} has no annotation in {ann_file}")
        fields = {k: v for k, v in record.items()
                  if k not in ("image", "question", "question_id", "answer")}
        documents.append(Document(
            id=qid, question=str(record["question"]),
            images=[resolve_media(str(record["image"]), data_file.parent)],
            answers=references, fields=fields, source=where))
    return documents


def paths(task: dict) -> dict[str, str]:
    found = {"local_dataset_path": str(task["local_dataset_path"])}
    try:
        found["annotation_file"] = str(annotation_path(task))
    except DataError:       # reading will say so
        pass
    return found


FORMAT = Format("textvqa_jsonl", read, ("local_dataset_path", "annotation_file"),
                "TextVQA's jsonl + annotations JSON", paths)
