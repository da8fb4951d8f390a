"""VQA v2 from the official files: `v2_OpenEnded_mscoco_<split>_questions.json`,
`v2_mscoco_<split>_annotations.json` and COCO images named COCO_<split>_<image_id:012d>.jpg
(task.image_suffix for copies stored as .png)."""
from __future__ import annotations

from pathlib import Path

from modeltest.samples import DataError
from modeltest.tasks.document import Document
from modeltest.tasks.formats import Format, ReadContext
from modeltest.tasks.io import answer_texts, read_json, require_dir, require_file


def _image_id(value, where: str) -> int:
    if isinstance(value, bool):
        raise DataError(f"{where}: image_id {value!r} is not a number")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise DataError(f"{where}: image_id {value!r} is not a number") from None


def read(task: dict, context: ReadContext) -> list[Document]:
    question_file = require_file(task["question_file"], "task.question_file")
    annotation_file = require_file(task["annotation_file"], "task.annotation_file")
    image_dir = require_dir(task["image_dir"], "task.image_dir")
    questions = read_json(question_file)
    if not isinstance(questions, dict) or not isinstance(questions.get("questions"), list):
        raise DataError(f"{question_file}: expected {{\"questions\": [...]}}")
    split = task["split"] or questions.get("data_subtype")
    if not split:
        raise DataError(f"{question_file}: no 'data_subtype'; set task.split (e.g. val2014)")
    annotations = read_json(annotation_file)
    if not isinstance(annotations, dict) or not isinstance(annotations.get("annotations"), list):
        raise DataError(f"{annotation_file}: expected {{\"annotations\": [...]}}")
    by_id = {}
    for index, entry in enumerate(annotations["annotations"]):
        where = f"{annotation_file}#annotations[{index}]"
        if not isinstance(entry, dict) or "question_id" not in entry or "answers" not in entry:
            raise DataError(f"{where}: needs 'question_id' and 'answers'")
        if entry["question_id"] in by_id:
            raise DataError(f"{where}: duplicate question_id {entry['question_id']!r}")
        by_id[entry["question_id"]] = (answer_texts(entry["answers"], where),
                                       str(entry.get("answer_type") or "all"))
    suffix = task["image_suffix"]
    documents = []
    for index, question in enumerate(questions["questions"]):
        where = f"{question_file}#questions[{index}]"
        if not isinstance(question, dict):
            raise DataError(f"{where}: expected an object with image_id, question, question_id")
        missing = [k for k in ("image_id", "question", "question_id") if k not in question]
        if missing:
            raise DataError(f"{where}: missing field(s) {', '.join(missing)}")
        qid = question["question_id"]
        if qid not in by_id:
            raise DataError(f"{where}: question_id {qid} has no annotation in {annotation_file}")
        references, answer_type = by_id[qid]
        image_id = _image_id(question["image_id"], where)
        image = Path(image_dir) / f"COCO_{split}_{image_id:012d}{suffix}"
        documents.append(Document(
            id=qid, question=str(question["question"]), images=[str(image.resolve())],
            answers=references, fields={"answer_type": answer_type, "image_id": image_id},
            source=where))
    return documents


FORMAT = Format("vqav2_json", read, ("question_file", "annotation_file", "image_dir"),
                "the official VQA v2 questions/annotations JSON and COCO images")
