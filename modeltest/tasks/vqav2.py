"""VQA v2 from the official files: questions JSON, annotations JSON and COCO images named
COCO_<split>_<image_id:012d>.jpg (or .png, for sets such as easy-VQA whose images are PNG and
must not be re-encoded lossily)."""
from __future__ import annotations

from pathlib import Path

from modeltest.samples import DataError, Sample
from modeltest.tasks.io import answer_texts, read_json, require_dir, require_file


def load(cfg, template: str, warnings: list[str]) -> list[Sample]:
    question_file = require_file(cfg.get("question_file"), "task.question_file")
    annotation_file = require_file(cfg.get("annotation_file"), "task.annotation_file")
    image_dir = require_dir(cfg.get("image_dir"), "task.image_dir")
    questions = read_json(question_file)
    if not isinstance(questions, dict) or not isinstance(questions.get("questions"), list):
        raise DataError(f"{question_file}: expected {{\"questions\": [...]}}")
    split = cfg.get("split") or questions.get("data_subtype")
    if not split:
        raise DataError(f"{question_file}: no 'data_subtype'; set task.split (e.g. val2014)")
    annotations = read_json(annotation_file)
    if not isinstance(annotations, dict) or not isinstance(annotations.get("annotations"), list):
        raise DataError(f"{annotation_file}: expected {{\"annotations\": [...]}}")
    by_id = {}
    for index, entry in enumerate(annotations["annotations"]):
        where = f"{annotation_file}#annotations[{index}]"
        if "question_id" not in entry or "answers" not in entry:
            raise DataError(f"{where}: needs 'question_id' and 'answers'")
        if entry["question_id"] in by_id:
            raise DataError(f"{where}: duplicate question_id {entry['question_id']!r}")
        by_id[entry["question_id"]] = (answer_texts(entry["answers"], where),
                                       str(entry.get("answer_type", "all")))
    samples = []
    for index, question in enumerate(questions["questions"]):
        where = f"{question_file}#questions[{index}]"
        missing = [k for k in ("image_id", "question", "question_id") if k not in question]
        if missing:
            raise DataError(f"{where}: missing field(s) {', '.join(missing)}")
        qid = question["question_id"]
        if qid not in by_id:
            raise DataError(f"{where}: question_id {qid} has no annotation in {annotation_file}")
        references, answer_type = by_id[qid]
        image = _image_path(Path(image_dir), split, int(question["image_id"]))
        samples.append(Sample(
            question_id=qid, subject=answer_type,
            prompt=template.format(question=question["question"]),
            images=[str(image.resolve())], references=references, source=where))
    return samples


def _image_path(image_dir: Path, split: str, image_id: int) -> Path:
    """COCO_<split>_<id>.jpg as the official files name them; .png where only that exists."""
    jpg = image_dir / f"COCO_{split}_{image_id:012d}.jpg"
    png = jpg.with_suffix(".png")
    return png if not jpg.is_file() and png.is_file() else jpg
