"""Demo copies of MMMU, MMBench, AI2D, ScienceQA and RealWorldQA in the files users hold: each
set as VLMEvalKit's TSV (images as base64 of the file bytes; a row may name another row's
index to share its image, as MMBench's rotated copies do; MMMU rows hold lists of images) and
as the lmms-lab `datasets` copy (parquet with the Image feature: `image`, or MMMU's
`image_1`..`image_7`; options and answers in lmms-lab's own layout). The two copies hold the
same questions and image bytes, so they give the same prompts; the tests run every task on
every demo model from both (tests/test_every_task_on_every_model.py).

A few rows each, chosen to reach every path: multi-image MMMU questions whose `<image k>`
marks repeat or skip an image, an open MMMU question and a dev-split one; MMBench questions
with their rotations (index + k * 1e6, the answer moved with its option, the image given as
the main row's index), in English and Chinese; options VLMEvalKit does not show ("None");
hints; a RealWorldQA question without options.
"""
from __future__ import annotations

import io
from pathlib import Path

from modeltest.demo_data import _base64, _picture, _write_tsv, write_copies_manifest

LETTERS = "ABCDEFGHI"
_INSTRUCTION = "Please answer directly with only the letter of the correct option and nothing else."


def _png(seed: int, size=(96, 72)) -> bytes:
    image, _, _ = _picture(seed, size)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _write_parquet(path: Path, columns: dict, image_columns: list[str]) -> None:
    """As `datasets` writes a split: images as the Image feature ({bytes, path} structs)."""
    import datasets

    datasets.disable_progress_bars()
    path.parent.mkdir(parents=True, exist_ok=True)
    table = datasets.Dataset.from_dict(columns)
    for name in image_columns:
        table = table.cast_column(name, datasets.Image())
    table.to_parquet(str(path))


def _image_cell(data: bytes, name: str) -> dict:
    return {"bytes": data, "path": name}


# -- MMMU -------------------------------------------------------------------------------------
# (id, question, options, answer, images by seed, question_type)
MMMU_ROWS = [
    ("validation_Art_Theory_1", "Which of <image 1> and <image 2> shows the older style?",
     ["<image 1>", "<image 2>", "Neither"], "A", [11, 12], "multiple-choice"),
    ("validation_Math_3", "In <image 1>, what is the value of x?", [], "4", [13], "open"),
    ("validation_Physics_2", "What force acts on the block in <image 1>?",
     ["gravity", "friction", "tension", "None"], "C", [14], "multiple-choice"),
    ("validation_Art_Theory_2", "Compare <image 3> with <image 2>: which came first?",
     ["the one in <image 3>", "the one in <image 2>"], "B", [15, 16, 17], "multiple-choice"),
    ("validation_Accounting_5", "What is the total shown in the table?", [],
     "['1,200', '1200']", [18], "open"),
    ("dev_Art_Theory_1", "Which period is <image 1> from?",
     ["Baroque", "Rococo", "Gothic", "Renaissance"], "D", [19], "multiple-choice"),
    ("dev_Math_1", "What is the area of the square in <image 1>?", [], "16", [20], "open"),
]
MMMU_DISCIPLINES = {"Art_Theory": "Art and Design", "Math": "Science", "Physics": "Science",
                    "Accounting": "Business"}


def build_mmmu(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rows, parquet = [], {"validation": [], "dev": []}
    for index, (qid, question, options, answer, seeds, kind) in enumerate(MMMU_ROWS):
        split, subject = qid.split("_")[0], "_".join(qid.split("_")[1:-1])
        images = [_png(seed) for seed in seeds]
        names = [f"{qid}_{k + 1}.png" for k in range(len(images))]
        row = {"index": index, "question": question, "answer": answer, "category": subject,
               "l2-category": MMMU_DISCIPLINES[subject], "split": split, "id": qid,
               "image": _base64(images[0]) if len(images) == 1 else
               repr([_base64(data) for data in images]),
               "image_path": names[0] if len(names) == 1 else repr(names)}
        # VLMEvalKit's TSV: an option that reads as missing ("None") is an empty cell
        row.update({LETTERS[k]: (None if text == "None" else text)
                    for k, text in enumerate(options)})
        rows.append(row)
        entry = {"id": qid, "question": question, "options": repr(options),
                 "explanation": "", "img_type": "['Diagrams']", "answer": answer,
                 "topic_difficulty": "Easy", "question_type": kind, "subfield": subject}
        entry.update({f"image_{k}": (_image_cell(images[k - 1], names[k - 1])
                                     if k <= len(images) else None) for k in range(1, 8)})
        parquet[split].append(entry)
    columns = ["index", "question", *LETTERS[:4], "answer", "category", "l2-category", "split",
               "id", "image", "image_path"]
    _write_tsv(folder / "MMMU_DEV_VAL.tsv", columns,
               [[row.get(c) for c in columns] for row in rows])
    for split, entries in parquet.items():
        _write_parquet(folder / "lmms-lab-MMMU" / "data" / f"{split}-00000-of-00001.parquet",
                       {key: [e[key] for e in entries] for key in entries[0]},
                       [f"image_{k}" for k in range(1, 8)])
    write_copies_manifest(folder, {"hf": "lmms-lab-MMMU"})


# -- MMBench ----------------------------------------------------------------------------------
# (question, hint, options, answer letter, category, l2-category, rotations)
MMBENCH_EN = [
    ("What colour is the sign?", "Look at the sign.", ["red", "blue", "green", "yellow"], "B",
     "attribute_recognition", "finegrained_perception (instance-level)", 4),
    ("What is the overall mood of the picture?", None, ["calm", "angry", "sad", "None"], "A",
     "image_emotion", "coarse_perception", 4),
    ("Is the sign left of the centre?", None, ["yes", "no"], "A", "spatial_relationship",
     "finegrained_perception (cross-instance)", 2),
]
MMBENCH_CN = [
    ("标志是什么颜色？", "看这个标志。", ["红色", "蓝色", "绿色", "黄色"], "B",
     "attribute_recognition", "finegrained_perception (instance-level)", 4),
    ("这张图片的整体情绪是什么？", None, ["平静", "愤怒", "悲伤", "None"], "A",
     "image_emotion", "coarse_perception", 4),
    ("标志在中心的左边吗？", None, ["是", "否"], "A", "spatial_relationship",
     "finegrained_perception (cross-instance)", 2),
]
MMBENCH_COLUMNS = ["index", "question", "hint", "A", "B", "C", "D", "answer", "category",
                   "image", "source", "l2-category", "comment", "split"]


def _mmbench_rows(questions, seed: int) -> list[dict]:
    """Each question and its rotations: copy k has index + k * 1e6, the options rotated by k,
    the answer moved with its option, and the main row's index as its image."""
    rows = []
    for number, (question, hint, options, answer, category, l2, rotations) in \
            enumerate(questions):
        image = _png(seed + number)
        for k in range(rotations):
            rotated = options[k:] + options[:k]
            truth = LETTERS[rotated.index(options[LETTERS.index(answer)])]
            row = {"index": number + k * 1_000_000, "question": question, "hint": hint,
                   "answer": truth, "category": category, "l2-category": l2,
                   "source": "demo", "comment": None, "split": "dev",
                   "image": _base64(image) if k == 0 else str(number), "_bytes": image}
            row.update({LETTERS[i]: text for i, text in enumerate(rotated)})
            rows.append(row)
    return rows


def _mmbench_parquet(path: Path, rows: list[dict]) -> None:
    """lmms-lab/MMBench: the same columns, `L2-category` with a capital L, images inline."""
    columns = {"index": [], "question": [], "hint": [], "A": [], "B": [], "C": [], "D": [],
               "answer": [], "category": [], "L2-category": [], "source": [], "split": [],
               "image": []}
    for row in rows:
        for name in columns:
            if name == "image":
                columns[name].append(_image_cell(row["_bytes"], f"{row['index']}.png"))
            elif name == "L2-category":
                columns[name].append(row["l2-category"])
            else:
                value = row.get(name)
                columns[name].append(None if value == "None" else value)
    _write_parquet(path, columns, ["image"])


def build_mmbench(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for language, questions, seed in (("EN", MMBENCH_EN, 40), ("CN", MMBENCH_CN, 50)):
        rows = _mmbench_rows(questions, seed)
        # VLMEvalKit's TSV: an option that reads as missing ("None") is an empty cell
        _write_tsv(folder / f"MMBench_DEV_{language}.tsv", MMBENCH_COLUMNS,
                   [[None if row.get(c) == "None" else row.get(c) for c in MMBENCH_COLUMNS]
                    for row in rows])
        _mmbench_parquet(folder / "lmms-lab-MMBench" / language.lower() /
                         "dev-00000-of-00001.parquet", rows)
    # the Chinese files take the same path as the English ones (their prompts and scores are
    # held to VLMEvalKit's by the golden tests); the matrix runs the English copies
    write_copies_manifest(folder, {"hf": "lmms-lab-MMBench/en"})


# -- AI2D, ScienceQA, RealWorldQA -------------------------------------------------------------
# (question, options, answer letter, image seed); rows 0 and 1 share a diagram
AI2D_ROWS = [
    ("Which label points to the sign?", ["A", "B", "C", "D"], "B", 60),
    ("How many signs does the diagram show?", ["one", "two", "three"], "A", 60),
    ("What does the arrow in the diagram show?", ["growth", "decay", "None", "light"], "D", 61),
    ("Which stage comes first?", ["egg", "larva", "pupa", "adult"], "A", 62),
]
# (question, hint, options, answer letter, image seed, category)
SCIENCEQA_ROWS = [
    ("Which colour is the sign?", "Look at the picture.", ["red", "blue"], "A", 70,
     "Colors"),
    ("Which of these states is farthest north?", "", ["Ohio", "Texas", "Utah", "Maine", "Iowa"],
     "D", 71, "Geography"),
    ("What is the sign made of?", "None", ["metal", "wood", "paper"], "B", 72, "Materials"),
    ("Which word describes the picture?", "", ["bright", "dark"], "A", 73, "Colors"),
]
# (question stem, options, answer, image seed); an empty option list is an open question
REALWORLDQA_ROWS = [
    ("Which direction is the sign facing?", ["left", "right", "forward"], "C", 80),
    ("Is the road wet?", ["yes", "no"], "B", 81),
    ("What colour is the traffic light?", ["red", "yellow", "green", "off"], "A", 82),
    ("How many signs are there?", [], "1", 83),
]


def _ai2d(folder: Path) -> None:
    images = {seed: _png(seed) for *_, seed in AI2D_ROWS}
    tsv = []
    for index, (question, options, answer, seed) in enumerate(AI2D_ROWS):
        first = next(i for i, row in enumerate(AI2D_ROWS) if row[3] == seed)
        cells = [None if text == "None" else text for text in options] + [None] * 4
        tsv.append([index, _base64(images[seed]) if first == index else str(first), question,
                    *cells[:4], answer])
    _write_tsv(folder / "AI2D_TEST.tsv",
               ["index", "image", "question", "A", "B", "C", "D", "answer"], tsv)
    _write_parquet(folder / "lmms-lab-ai2d" / "data" / "test-00000-of-00001.parquet", {
        "question": [row[0] for row in AI2D_ROWS],
        "options": [row[1] for row in AI2D_ROWS],
        "answer": [str(LETTERS.index(row[2])) for row in AI2D_ROWS],
        "image": [_image_cell(images[row[3]], f"{i}.png") for i, row in enumerate(AI2D_ROWS)],
    }, ["image"])


def build_ai2d(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    _ai2d(folder)
    write_copies_manifest(folder, {"hf": "lmms-lab-ai2d"})


def build_scienceqa(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    images = [_png(row[4]) for row in SCIENCEQA_ROWS]
    columns = ["index", "image", "question", "hint", "A", "B", "C", "D", "E", "answer",
               "category", "split"]
    tsv = []
    for index, ((question, hint, options, answer, _, category), image) in \
            enumerate(zip(SCIENCEQA_ROWS, images)):
        cells = list(options) + [None] * (5 - len(options))
        tsv.append([index, _base64(image), question, hint or None, *cells, answer, category,
                    "test"])
    _write_tsv(folder / "ScienceQA_TEST.tsv", columns, tsv)
    _write_parquet(folder / "lmms-lab-ScienceQA" / "ScienceQA-IMG" /
                   "test-00000-of-00001.parquet", {
        "image": [_image_cell(data, f"{i}.png") for i, data in enumerate(images)],
        "question": [row[0] for row in SCIENCEQA_ROWS],
        "choices": [row[2] for row in SCIENCEQA_ROWS],
        "answer": [LETTERS.index(row[3]) for row in SCIENCEQA_ROWS],
        "hint": [row[1] for row in SCIENCEQA_ROWS],
        "task": ["closed choice"] * len(SCIENCEQA_ROWS),
        "grade": ["grade4"] * len(SCIENCEQA_ROWS),
        "subject": ["natural science"] * len(SCIENCEQA_ROWS),
        "topic": ["science"] * len(SCIENCEQA_ROWS),
        "category": [row[5] for row in SCIENCEQA_ROWS],
        "skill": ["demo"] * len(SCIENCEQA_ROWS),
        "lecture": [""] * len(SCIENCEQA_ROWS),
        "solution": [""] * len(SCIENCEQA_ROWS),
    }, ["image"])
    write_copies_manifest(folder, {"hf": "lmms-lab-ScienceQA/ScienceQA-IMG"})


def build_realworldqa(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    images = [_png(row[3], size=(120, 80)) for row in REALWORLDQA_ROWS]
    tsv, questions = [], []
    for index, ((stem, options, answer, _), image) in enumerate(zip(REALWORLDQA_ROWS, images)):
        instruction = _INSTRUCTION if options else "Please answer directly with a single number."
        cells = list(options) + [None] * (4 - len(options))
        tsv.append([index, _base64(image), f"{stem}\n{instruction}", *cells, answer])
        lines = [f"{LETTERS[k]}. {text}" for k, text in enumerate(options)]
        questions.append("\n".join([stem, *lines, instruction]))
    _write_tsv(folder / "RealWorldQA.tsv",
               ["index", "image", "question", "A", "B", "C", "D", "answer"], tsv)
    _write_parquet(folder / "lmms-lab-RealWorldQA" / "data" / "test-00000-of-00001.parquet", {
        "image": [_image_cell(data, f"{i}.png") for i, data in enumerate(images)],
        "question": questions,
        "answer": [row[2] for row in REALWORLDQA_ROWS],
    }, ["image"])
    write_copies_manifest(folder, {"hf": "lmms-lab-RealWorldQA"})
