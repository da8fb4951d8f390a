"""TextVQA: `<name>.jsonl` lines {"image","question","question_id","answer"} plus the sibling
`<stem>_annotations.json` {"annotations":[{"question_id","answers":[...]}]}."""
from __future__ import annotations

from pathlib import Path

from modeltest.samples import DataError, Sample
from modeltest.tasks.io import answer_texts, read_json, read_jsonl, require_file, resolve_media


def annotation_path(cfg) -> Path:
    if cfg.get("annotation_file"):
        return require_file(cfg["annotation_file"], "task.annotation_file")
    data = Path(str(cfg["local_dataset_path"]))
    sibling = data.with_name(f"{data.stem}_annotations.json")
    if not sibling.is_file():
        raise DataError(f"task.annotation_file is not set and {sibling} does not exist")
    return sibling


def load(cfg, template: str, warnings: list[str]) -> list[Sample]:
    data_file = require_file(cfg.get("local_dataset_path"), "task.local_dataset_path")
    ann_file = annotation_path(cfg)
    annotations = read_json(ann_file)
    entries = annotations.get("annotations", annotations.get("data")) \
        if isinstance(annotations, dict) else annotations
    if not isinstance(entries, list):
        raise DataError(f"{ann_file}: expected {{\"annotations\": [...]}}")
    answers_by_id = {}
    for index, entry in enumerate(entries):
        where = f"{ann_file}#annotations[{index}]"
        if "question_id" not in entry or "answers" not in entry:
            raise DataError(f"{where}: needs 'question_id' and 'answers'")
        if str(entry["question_id"]) in answers_by_id:
            raise DataError(f"{where}: duplicate question_id {entry['question_id']!r}")
        answers_by_id[str(entry["question_id"])] = answer_texts(entry["answers"], where)

    samples = []
    for line, record in read_jsonl(data_file, cfg.get("skip_bad_lines", False), warnings):
        where = f"{data_file}:{line}"
        missing = [k for k in ("image", "question", "question_id") if k not in record]
        if missing:
            raise DataError(f"{where}: missing field(s) {', '.join(missing)}")
        qid = record["question_id"]
        references = answers_by_id.get(str(qid))
        if references is None:
            raise DataError(f"{where}: question_id {qid} has no annotation in {ann_file}")
        samples.append(Sample(
            question_id=qid, subject=str(record.get("subject", "textvqa")),
            prompt=template.format(question=record["question"]),
            images=[resolve_media(record["image"], data_file.parent)],
            references=references, source=where))
    return samples
