"""Demo data made of real images from installed packages (nothing is downloaded): easy-VQA's
questions and PNG images (the `easy-vqa` package, MIT) and scikit-image's sample photographs
(BSD). Kept apart from demo_data.py, whose generated sets are rebuilt whenever that module
changes: these builders copy thousands of files and change rarely."""
from __future__ import annotations

import shutil
from pathlib import Path

from modeltest.demo_data import _base64, _write_json, _write_parquet, _write_tsv, \
    write_copies_manifest
from modeltest.samples import DataError

EASY_VQA_SPLITS = ("test", "train")
# VQA v2's official file names: v2_<task type>_<data type>_<split>_questions.json, ...
EASY_VQA_DATA_TYPE = "easyvqa"


def easy_vqa_files(folder: Path, split: str) -> dict[str, Path]:
    """Where build_easy_vqa puts a split's files (the paths conf/task/easy_vqa.yaml names)."""
    return {"question_file": folder / f"v2_OpenEnded_{EASY_VQA_DATA_TYPE}_{split}_questions.json",
            "annotation_file": folder / f"v2_{EASY_VQA_DATA_TYPE}_{split}_annotations.json",
            "image_dir": folder / split}


def build_easy_vqa(folder: Path) -> None:
    """easy-VQA (64x64 PNG images of one coloured shape each, 13 answers) in the official
    VQA v2 layout, whole splits: test (9,673 questions, 1,000 images) and train (38,575
    questions, 4,000 images); the test split also as a VLMEvalKit TSV and a `datasets`
    parquet copy (copies.json).

    easy-VQA gives one answer per question; VQA v2 has ten human answers per question, so the
    one answer fills all ten (as if ten annotators agreed). vqaEval.py then scores the right
    answer 1.0 (ten matches, every leave-one-out subset has at least three) and any other 0.
    The PNG files are copied byte for byte (named COCO_<split>_<image id>.png), so the model
    sees easy-VQA's own pixels; question ids are the question's index in easy-VQA's list."""
    try:
        import easy_vqa
    except ImportError:
        raise DataError("the easy_vqa demo data needs the easy-vqa package: "
                        "pip install -e '.[vision]' (or pip install easy-vqa)") from None
    readers = {"test": (easy_vqa.get_test_questions, easy_vqa.get_test_image_paths),
               "train": (easy_vqa.get_train_questions, easy_vqa.get_train_image_paths)}
    for split in EASY_VQA_SPLITS:
        read_questions, read_images = readers[split]
        files = easy_vqa_files(folder, split)
        files["image_dir"].mkdir(parents=True, exist_ok=True)
        for image_id, source in sorted(read_images().items()):
            shutil.copyfile(source, files["image_dir"] / f"COCO_{split}_{image_id:012d}.png")
        questions, annotations = [], []
        for qid, (question, answer, image_id) in enumerate(zip(*read_questions())):
            questions.append({"image_id": image_id, "question": question, "question_id": qid})
            annotations.append({
                "question_id": qid, "image_id": image_id,
                "answer_type": "yes/no" if answer in ("yes", "no") else "other",
                "question_type": " ".join(question.split()[:3]),
                "multiple_choice_answer": answer,
                "answers": [{"answer": answer, "answer_confidence": "yes", "answer_id": k + 1}
                            for k in range(10)]})
        common = {"info": {"description": "easy-VQA (pip package easy-vqa, MIT licence) in "
                                          "the VQA v2 format, built by modeltest"},
                  "license": {"name": "MIT"}, "data_type": EASY_VQA_DATA_TYPE,
                  "data_subtype": split}
        _write_json(files["question_file"],
                    {**common, "task_type": "Open-Ended", "questions": questions})
        _write_json(files["annotation_file"], {**common, "annotations": annotations})
        if split == "test":
            _write_test_copies(folder, files["image_dir"], questions, annotations)


def _write_test_copies(folder: Path, image_dir: Path, questions: list[dict],
                       annotations: list[dict]) -> None:
    """The test split as VLMEvalKit's TSV (image bytes as base64; the rows after the first on
    an image name that row's index, as VLMEvalKit's own files do) and as lmms-lab's
    `datasets` parquet layout."""
    images = {}
    for question in questions:
        if question["image_id"] not in images:
            path = image_dir / f"COCO_test_{question['image_id']:012d}.png"
            images[question["image_id"]] = path.read_bytes()
    first_row = {}
    rows = []
    for question, annotation in zip(questions, annotations):
        image_id = question["image_id"]
        image = first_row.setdefault(image_id, str(question["question_id"]))
        rows.append([question["question_id"],
                     _base64(images[image_id]) if image == str(question["question_id"])
                     else image,
                     question["question"], repr([x["answer"] for x in annotation["answers"]]),
                     annotation["answer_type"], annotation["question_type"]])
    _write_tsv(folder / "EasyVQA_TEST.tsv",
               ["index", "image", "question", "answer", "answer_type", "question_type"], rows)
    _write_parquet(folder / "lmms-lab" / "data" / "test-00000-of-00001.parquet", {
        "question_type": [a["question_type"] for a in annotations],
        "multiple_choice_answer": [a["multiple_choice_answer"] for a in annotations],
        "answers": [a["answers"] for a in annotations],
        "image_id": [q["image_id"] for q in questions],
        "answer_type": [a["answer_type"] for a in annotations],
        "question_id": [q["question_id"] for q in questions],
        "question": [q["question"] for q in questions],
        "image": [{"bytes": images[q["image_id"]],
                   "path": f"COCO_test_{q['image_id']:012d}.png"} for q in questions]})
    write_copies_manifest(folder, {"vlmevalkit_tsv": "EasyVQA_TEST.tsv", "hf": "lmms-lab"})


# scikit-image's sample photographs (files shipped in its wheel, BSD licence): real photos
PHOTOS = ("astronaut.png", "camera.png", "chelsea.png", "coffee.png", "coins.png",
          "hubble_deep_field.jpg", "motorcycle_left.png", "rocket.jpg", "moon.png", "retina.jpg",
          "brick.png", "grass.png")


def build_photos(folder: Path) -> None:
    """Real photographs to caption: scikit-image's sample images, copied byte for byte from
    the installed package."""
    try:
        import skimage
    except ImportError:
        raise DataError("the photos demo data needs scikit-image: pip install -e '.[vision]' "
                        "(or pip install scikit-image)") from None
    source = Path(skimage.__file__).resolve().parent / "data"
    folder.mkdir(parents=True, exist_ok=True)
    for name in PHOTOS:
        shutil.copyfile(source / name, folder / name)
