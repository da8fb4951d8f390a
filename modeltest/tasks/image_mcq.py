"""The image multiple-choice benchmarks (MMMU, MMBench, AI2D, ScienceQA, RealWorldQA) from either
copy users hold, as the same Documents:

- VLMEvalKit's TSV (`MMMU_DEV_VAL.tsv`, `MMBench_DEV_EN.tsv`, `AI2D_TEST.tsv`,
  `ScienceQA_TEST.tsv`, `RealWorldQA.tsv`): read as it is (formats/vlmevalkit_tsv.py) with
  `task.columns`;
- the lmms-lab `datasets` copy (formats/hf_datasets.py) with `task.hf_columns`, then brought to
  the TSV's shape where its layout differs (per benchmark below): option letters, answers as
  letters, the fields the TSV has (`category`, `l2-category`, `split`).
Which copy is read is decided by `task.local_dataset_path` (a `.tsv`, or a parquet file /
`datasets` folder), as for any task. A benchmark's yaml names its format here as
`modeltest.tasks.image_mcq:<NAME>`.
"""
from __future__ import annotations

import re
import string
from pathlib import Path
from typing import Callable

from modeltest.samples import DataError
from modeltest.tasks.document import Document
from modeltest.tasks.formats import Format, ReadContext
from modeltest.tasks.formats import hf_datasets, vlmevalkit_tsv

LETTERS = string.ascii_uppercase
Adapt = Callable[[list[Document], dict, ReadContext], list[Document]]


def _copy_kind(task: dict) -> str:
    raw = task["local_dataset_path"]
    if not raw:
        raise DataError(f"task {task['name']}: task.local_dataset_path is not set (a VLMEvalKit "
                        ".tsv, or the lmms-lab copy's folder or parquet file)")
    path = Path(str(raw)).expanduser()
    if path.suffix.lower() == ".tsv":
        return "tsv"
    if hf_datasets.is_datasets_copy(path):
        return "hf"
    if not path.exists():
        raise DataError(f"task.local_dataset_path={raw}: no such file or folder")
    raise DataError(f"task.local_dataset_path={raw}: neither a VLMEvalKit .tsv nor a `datasets` "
                    "copy (a save_to_disk folder, or parquet files)")


def two_copies(name: str, adapt_tsv: Adapt | None, adapt_hf: Adapt | None) -> Format:
    """A Format reading the TSV or the lmms-lab copy, each brought to the same Documents."""
    def read(task: dict, context: ReadContext) -> list[Document]:
        if _copy_kind(task) == "tsv":
            documents = vlmevalkit_tsv.read(task, context)
            return adapt_tsv(documents, task, context) if adapt_tsv else documents
        documents = hf_datasets.read({**task, "columns": task["hf_columns"]}, context)
        return adapt_hf(documents, task, context) if adapt_hf else documents
    return Format(name, read, ("local_dataset_path",),
                  f"{name}: VLMEvalKit's TSV or the lmms-lab `datasets` copy")


# -- pieces the adaptations share ---------------------------------------------------------------
def _letter_answers(document: Document) -> None:
    """An answer given as the option's position ("0", 1, ...) becomes its letter."""
    letters = list(document.choices or {})
    answers = []
    for answer in document.answers:
        text = str(answer).strip()
        if not text.isdigit() or int(text) >= len(letters):
            raise DataError(f"{document.source}: answer {answer!r} is not the position of one "
                            f"of its {len(letters)} options")
        answers.append(letters[int(text)])
    document.answers = answers


def _with_images(documents: list[Document], context: ReadContext) -> list[Document]:
    """Rows without an image are skipped, as VLMEvalKit skips them."""
    kept = [d for d in documents if d.images]
    if len(kept) < len(documents):
        context.warnings.append(f"{len(documents) - len(kept)} row(s) have no image and are "
                                "skipped, as VLMEvalKit skips them")
    return kept


def _letter_columns(document: Document) -> None:
    """Options held in columns A, B, ... (as in the TSV) become the document's choices."""
    choices = {}
    for letter in LETTERS:
        if letter not in document.fields:
            break
        value = document.fields.pop(letter)
        if value is not None:
            choices[letter] = str(value)
    document.choices = choices or None


# -- MMMU ------------------------------------------------------------------------------------
_MARK = re.compile(r"<image (\d+)>")


def _check_marks(document: Document, context: ReadContext) -> bool:
    """Every `<image k>` in the question and options names one of the row's images (MMMU's
    own data always does; VLMEvalKit would fail on such a row)."""
    texts = [document.question, *(document.choices or {}).values()]
    for text in texts:
        for match in _MARK.finditer(str(text)):
            if not 1 <= int(match.group(1)) <= len(document.images):
                context.bad(f"{document.source}: {match.group(0)} but the row has "
                            f"{len(document.images)} image(s)")
                return False
    return True


def _mmmu_question_type(document: Document) -> None:
    # the TSV has no question_type column: VLMEvalKit's rows of open questions have no options
    if not document.fields.get("question_type"):
        document.fields["question_type"] = "multiple-choice" if document.choices else "open"


def _mmmu_tsv(documents, task, context):
    for document in documents:
        _mmmu_question_type(document)
    return [d for d in documents if _check_marks(d, context)]


def _mmmu_hf(documents, task, context):
    """lmms-lab/MMMU: `id` "validation_Art_Theory_12" carries the split and the subject (the
    TSV's `split` and `category`); the discipline is the TSV's `l2-category`."""
    from modeltest.scorers.mmmu import DISCIPLINES

    discipline_of = {s: d for d, subjects in DISCIPLINES.items() for s in subjects}
    for document in documents:
        qid = str(document.id)
        parts = qid.split("_")
        if len(parts) < 3 or not parts[-1].isdigit():
            raise DataError(f"{document.source}: id {qid!r} is not <split>_<Subject>_<n>")
        subject = "_".join(parts[1:-1])
        document.fields.setdefault("split", parts[0])
        document.fields.setdefault("category", subject)
        document.fields.setdefault("l2-category", discipline_of.get(subject))
        _mmmu_question_type(document)
    return [d for d in _with_images(documents, context) if _check_marks(d, context)]


MMMU = two_copies("mmmu", _mmmu_tsv, _mmmu_hf)


# -- MMBench ---------------------------------------------------------------------------------
def _mmbench_hf(documents, task, context):
    """lmms-lab/MMBench: options in columns A..D as in the TSV, `L2-category` with a capital L
    (the TSV's `l2-category`)."""
    for document in documents:
        _letter_columns(document)
        if "L2-category" in document.fields:
            document.fields.setdefault("l2-category", document.fields["L2-category"])
    return _with_images(documents, context)


MMBENCH = two_copies("mmbench", None, _mmbench_hf)


# -- AI2D, ScienceQA ---------------------------------------------------------------------------
def _position_answers_hf(documents, task, context):
    """lmms-lab/ai2d and ScienceQA-IMG: options as a list, the answer as its position."""
    for document in documents:
        _letter_answers(document)
    return _with_images(documents, context)


AI2D = two_copies("ai2d", None, _position_answers_hf)
SCIENCEQA = two_copies("scienceqa", None, _position_answers_hf)


# -- RealWorldQA -------------------------------------------------------------------------------
_OPTION_LINE = re.compile(r"^([A-Z])\. (.*)$")


def split_options(question: str) -> tuple[str, dict[str, str]]:
    """RealWorldQA's question text holds its options as lines "A. ...", "B. ...": the text
    without them, and the options (VLMEvalKit's TSV has them as columns)."""
    kept, options = [], {}
    for line in question.split("\n"):
        match = _OPTION_LINE.match(line)
        if match and match.group(1) == LETTERS[len(options)]:
            options[match.group(1)] = match.group(2)
        else:
            kept.append(line)
    return "\n".join(kept), options


def _realworldqa_hf(documents, task, context):
    """lmms-lab/RealWorldQA: the options are lines of the question (see split_options)."""
    for document in documents:
        document.question, options = split_options(document.question)
        document.choices = options or None
    return _with_images(documents, context)


REALWORLDQA = two_copies("realworldqa", None, _realworldqa_hf)
