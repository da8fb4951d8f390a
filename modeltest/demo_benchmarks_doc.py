"""Demo copies of DocVQA, InfoVQA, ChartQA, OCRBench, MME and POPE in the two layouts users
hold: VLMEvalKit's TSV (images as base64 of the same file bytes; the second question of an
MME or POPE image refers to the first row's index, as the released TSVs do) and the lmms-lab
`datasets` layout (parquet files with the Image feature, in the repositories' folders and
columns). Both copies of a set hold the same questions, answers and image bytes; the TSV is
the task's default path and copies.json lists the other. A few questions each, covering what
the tasks must handle: DocVQA/InfoVQA test splits without answers, ChartQA's two splits,
OCRBench categories (HME100k's formula rule included), MME image pairs in perception and
cognition subtasks, POPE's three splits (a TSV row may belong to several).
Column layouts: tests/golden/PROMPTS_AND_COLUMNS_B.md and the lmms-lab dataset cards."""
from __future__ import annotations

import io
from pathlib import Path

from modeltest.demo_data import _base64, _picture, _write_tsv, write_copies_manifest


def _image_bytes(seed: int, size=(96, 72)) -> tuple[bytes, str, str]:
    """PNG bytes of a demo sign, its colour and its word."""
    image, color, word = _picture(seed, size)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue(), color, word


def _write_parquet(path: Path, columns: dict, features: dict) -> None:
    """As `datasets` writes a split (push_to_hub's shards), with the repository's features."""
    import datasets

    datasets.disable_progress_bars()
    path.parent.mkdir(parents=True, exist_ok=True)
    datasets.Dataset.from_dict(columns, features=datasets.Features(features)).to_parquet(str(path))


def _strings():
    import datasets

    return datasets.List(datasets.Value("string"))


def _value(kind: str = "string"):
    import datasets

    return datasets.Value(kind)


def _image():
    import datasets

    return datasets.Image()


# -- DocVQA and InfoVQA (lmms-lab/DocVQA holds both, one config folder each) --------------------
DOCUMENT_CONFIGS = {"DocVQA": "DocVQA", "InfoVQA": "InfographicVQA"}


def _document_rows(seed: int, first_id: int, count: int, answered: bool) -> list[dict]:
    rows = []
    for i in range(count):
        data, color, word = _image_bytes(seed + i)
        question, answers = (("What is written on the sign?", [word, word.upper()]) if i % 2 == 0
                             else ("What color is the sign?", [color]))
        rows.append({"questionId": first_id + i, "question": question, "image": data,
                     "answers": answers if answered else None})
    return rows


def _document_config(folder: Path, config: str, split: str, rows: list[dict]) -> None:
    """One split of one lmms-lab/DocVQA config, in that config's columns."""
    common = {"questionId": [str(r["questionId"]) for r in rows],
              "question": [r["question"] for r in rows],
              "image": [{"bytes": r["image"], "path": None} for r in rows],
              "answers": [r["answers"] for r in rows],
              "data_split": [split] * len(rows)}
    if config == "DocVQA":
        columns = {**common, "question_types": [["layout"] for _ in rows],
                   "docId": [14000 + i for i in range(len(rows))],
                   "ucsf_document_id": [f"txpn{i:04d}" for i in range(len(rows))],
                   "ucsf_document_page_no": ["1"] * len(rows)}
        features = {"questionId": _value(), "question": _value(), "question_types": _strings(),
                    "image": _image(), "docId": _value("int64"), "ucsf_document_id": _value(),
                    "ucsf_document_page_no": _value(), "answers": _strings(),
                    "data_split": _value()}
    else:
        columns = {**common, "answer_type": [["single span"] for _ in rows],
                   "image_url": [f"https://example.org/{i}.png" for i in range(len(rows))],
                   "operation/reasoning": [[] for _ in rows],
                   "ocr": ["" for _ in rows]}
        features = {"questionId": _value(), "question": _value(), "answers": _strings(),
                    "answer_type": _strings(), "image": _image(), "image_url": _value(),
                    "operation/reasoning": _strings(), "ocr": _value(), "data_split": _value()}
    _write_parquet(folder / "lmms-lab" / config / f"{split}-00000-of-00001.parquet",
                   {name: columns[name] for name in features}, features)


def _build_document_vqa(folder: Path, name: str, seed: int, first_id: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    validation = _document_rows(seed, first_id, 6, answered=True)
    test = _document_rows(seed + 50, first_id + 1000, 4, answered=False)
    _write_tsv(folder / f"{name}_VAL.tsv", ["index", "image", "question", "answer"],
               [[r["questionId"], _base64(r["image"]), r["question"], repr(r["answers"])]
                for r in validation])
    _write_tsv(folder / f"{name}_TEST.tsv", ["index", "image", "question"],
               [[r["questionId"], _base64(r["image"]), r["question"]] for r in test])
    config = DOCUMENT_CONFIGS[name]
    _document_config(folder, config, "validation", validation)
    _document_config(folder, config, "test", test)
    # the repository's other config, so that task.data_config has to pick
    other = next(c for c in DOCUMENT_CONFIGS.values() if c != config)
    _document_config(folder, other, "validation", _document_rows(seed + 90, 1, 2, True))
    write_copies_manifest(folder, {"hf": "lmms-lab"})


def build_docvqa(folder: Path) -> None:
    _build_document_vqa(folder, "DocVQA", 400, 49153)


def build_infovqa(folder: Path) -> None:
    _build_document_vqa(folder, "InfoVQA", 500, 65718)


# -- ChartQA ------------------------------------------------------------------------------------
def build_chartqa(folder: Path, count: int = 8) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(count):
        data, color, word = _image_bytes(600 + i)
        question, answer = (("How many signs are there?", "1") if i % 3 == 0 else
                            ("What color is the sign?", color) if i % 3 == 1 else
                            ("What share of the chart is the sign, in percent?", "25%"))
        rows.append((data, question, answer, ("test_human", "test_augmented")[i % 2]))
    _write_tsv(folder / "ChartQA_TEST.tsv", ["index", "image", "question", "answer", "split"],
               [[i, _base64(d), q, a, s] for i, (d, q, a, s) in enumerate(rows)])
    lmms_type = {"test_human": "human_test", "test_augmented": "augmented_test"}
    _write_parquet(folder / "lmms-lab" / "data" / "test-00000-of-00001.parquet",
                   {"type": [lmms_type[s] for _, _, _, s in rows],
                    "question": [q for _, q, _, _ in rows], "answer": [a for _, _, a, _ in rows],
                    "image": [{"bytes": d, "path": None} for d, _, _, _ in rows]},
                   {"type": _value(), "question": _value(), "answer": _value(),
                    "image": _image()})
    write_copies_manifest(folder, {"hf": "lmms-lab"})


# -- OCRBench (lmms-eval reads the authors' copy, echo840/OCRBench) -----------------------------
OCRBENCH_ROWS = [   # (dataset_name, category, question, answers from the sign's word)
    ("IIIT5K", "Regular Text Recognition", "what is written in the image?", None),
    ("HME100k", "Handwritten Mathematical Expression Recognition",
     "Please write out the expression of the formula in the image using LaTeX format.",
     ["x ^ { 2 }"]),
    ("textVQA", "Scene Text-centric VQA", "what word is on the sign?", None),
    ("SROIE", "Key Information Extraction", "what is the company name in the image?", None),
    ("docVQA", "Doc-oriented VQA", "What is the title of the document?", None),
    ("IAM", "Handwriting Recognition", "what is written in the image?", None),
]


def build_ocrbench(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, (dataset, category, question, answers) in enumerate(OCRBENCH_ROWS):
        data, _, word = _image_bytes(700 + i)
        rows.append((data, dataset, category, question, answers or [word]))
    _write_tsv(folder / "OCRBench.tsv", ["index", "image", "question", "answer", "category"],
               [[i, _base64(d), q, repr(a), c] for i, (d, _, c, q, a) in enumerate(rows)])
    _write_parquet(folder / "lmms-lab" / "data" / "test-00000-of-00001.parquet",
                   {"dataset": [r[1] for r in rows], "question": [r[3] for r in rows],
                    "question_type": [r[2] for r in rows], "answer": [r[4] for r in rows],
                    "image": [{"bytes": r[0], "path": None} for r in rows]},
                   {"dataset": _value(), "question": _value(), "question_type": _value(),
                    "answer": _strings(), "image": _image()})
    write_copies_manifest(folder, {"hf": "lmms-lab"})


# -- MME and POPE: two questions per image ------------------------------------------------------
YES_NO = "Please answer yes or no."


def _pair(seed: int) -> tuple[bytes, list[tuple[str, str]]]:
    """An image and its two questions (one answered Yes, one No)."""
    data, color, word = _image_bytes(seed)
    other = "blue" if color != "blue" else "red"
    return data, [(f"Is the sign {color}? {YES_NO}", "Yes"),
                  (f"Is the sign {other}? {YES_NO}", "No")]


def build_mme(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rows = []     # (image bytes, image_path, category, question, answer)
    for n, category in enumerate(("existence", "color", "OCR", "commonsense_reasoning")):
        data, questions = _pair(800 + n)
        for question, answer in questions:
            rows.append((data, f"{category}/{n:04d}.png", category, question, answer))
    table = []
    for i, (data, path, category, question, answer) in enumerate(rows):
        first = i - 1 if i % 2 else i   # the image's first row
        table.append([i, _base64(data) if i == first else str(first), question, answer,
                      category, path])
    _write_tsv(folder / "MME.tsv",
               ["index", "image", "question", "answer", "category", "image_path"], table)
    _write_parquet(folder / "lmms-lab" / "data" / "test-00000-of-00001-53ae1794f93b1e35.parquet",
                   {"question_id": [r[1] for r in rows],
                    "image": [{"bytes": r[0], "path": None} for r in rows],
                    "question": [r[3] for r in rows], "answer": [r[4] for r in rows],
                    "category": [r[2] for r in rows]},
                   {"question_id": _value(), "image": _image(), "question": _value(),
                    "answer": _value(), "category": _value()})
    write_copies_manifest(folder, {"hf": "lmms-lab"})


POPE_IMAGES = [  # the splits each image's Yes question and No question belong to
    ("adversarial,popular,random", "adversarial"),
    ("adversarial,popular,random", "popular"),
    ("popular", "random"),
    ("random", "adversarial,random"),
]


def build_pope(folder: Path) -> None:
    """VLMEvalKit's POPE.tsv holds a question once with every split it is in; lmms-lab/POPE
    (default config) has one row per split, 9000 in all."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = []     # (image bytes, image name, question, answer, splits)
    for n, split_pair in enumerate(POPE_IMAGES):
        data, questions = _pair(900 + n)
        for (question, answer), splits in zip(questions, split_pair):
            question = question.replace(f" {YES_NO}", "")   # POPE asks without the suffix
            rows.append((data, f"COCO_val2014_{n:012d}.jpg", question, answer.lower(), splits))
    table = []
    for i, (data, _, question, answer, splits) in enumerate(rows):
        first = i - 1 if i % 2 else i
        table.append([i, _base64(data) if i == first else str(first), question,
                      answer.capitalize(), splits])
    _write_tsv(folder / "POPE.tsv", ["index", "image", "question", "answer", "category"], table)
    expanded = [(row, split) for split in ("adversarial", "popular", "random")
                for row in rows if split in row[4].split(",")]
    columns = {"id": [str(i) for i in range(len(expanded))],
               "question_id": [str(1 + rows.index(row)) for row, _ in expanded],
               "question": [row[2] for row, _ in expanded],
               "answer": [row[3] for row, _ in expanded],
               "image_source": [Path(row[1]).stem for row, _ in expanded],
               "image": [{"bytes": row[0], "path": None} for row, _ in expanded],
               "category": [split for _, split in expanded]}
    features = {"id": _value(), "question_id": _value(), "question": _value(),
                "answer": _value(), "image_source": _value(), "image": _image(),
                "category": _value()}
    half = len(expanded) // 2
    for shard, part in enumerate((slice(0, half), slice(half, None))):
        _write_parquet(folder / "lmms-lab" / "data" / f"test-{shard:05d}-of-00002.parquet",
                       {name: values[part] for name, values in columns.items()}, features)
    write_copies_manifest(folder, {"hf": "lmms-lab"})
