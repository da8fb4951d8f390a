"""VLMEvalKit's TSV files (what MindSpeed-MM and VLMEvalKit users hold: `MMBench_DEV_EN.tsv`,
`TextVQA_VAL.tsv`, ...), read as VLMEvalKit's ImageBaseDataset reads them:

- `index` is the question's id; rows without an image are skipped as VLMEvalKit skips them
  (`skip_noimg`), and counted in the run's notes;
- `image` holds base64 image bytes, or, when 64 characters or shorter, the `index` of another
  row whose image it shares; a value written as a Python list ("['...', '...']") holds several
  images (multi-image rows); without an `image` column, `image_path` names the files (relative
  to the TSV's folder, or to `images/<TSV stem>/` beside it);
- the options are the columns `A`, `B`, ... present in the file and not empty in the row;
- `answer` is the reference; a list written as a Python literal ("['a', 'b']", VQA-style
  sets) gives several references;
- every other column (`hint`, `category`, `l2-category`, `split`, ...) is a field the prompt
  template and `task.subject_field` may use.
Images are written once as files, byte for byte (modeltest/tasks/media_files.py): VLMEvalKit
itself re-saves each as `<index>.jpg` with PIL, which re-encodes it.
`task.columns` renames: {id, question, image, image_path, answer} -> the file's column names.
"""
from __future__ import annotations

import ast
import math
import string
from pathlib import Path

from modeltest.samples import DataError
from modeltest.tasks.document import Document
from modeltest.tasks.formats import Format, ReadContext
from modeltest.tasks.io import require_file, resolve_media
from modeltest.tasks.media_files import store_base64_image

DEFAULT_COLUMNS = {"id": "index", "question": "question", "image": "image",
                   "image_path": "image_path", "answer": "answer"}
SHARED_IMAGE_MAX_LENGTH = 64      # VLMEvalKit: an image value this short is another row's index


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def as_list(value, where: str) -> list[str]:
    """A cell that may hold a Python list literal, as VLMEvalKit's toliststr reads it."""
    if isinstance(value, str) and value[:1] == "[" and value[-1:] == "]":
        try:
            parsed = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            raise DataError(f"{where}: cannot read the list {value[:60]!r}") from None
        if not isinstance(parsed, (list, tuple)):
            raise DataError(f"{where}: expected a list, got {value[:60]!r}")
        return [str(item) for item in parsed]
    return [str(value)]


def _columns(task: dict) -> dict[str, str]:
    return {**DEFAULT_COLUMNS, **(task["columns"] or {})}


def _read_table(path: Path):
    import pandas as pd

    try:
        # quoting as VLMEvalKit writes and reads its files (fields holding tabs, quotes or
        # newlines are quoted); unlike its reader, every cell stays text ("01" is not 1, and
        # "None" or "NA" stay answers): only empty cells are missing
        return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, na_values=[""])
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: not a readable TSV ({' '.join(str(err).split())})") from None


def read(task: dict, context: ReadContext) -> list[Document]:
    path = require_file(task["local_dataset_path"], "task.local_dataset_path")
    table = _read_table(path)
    columns = _columns(task)
    header = list(table.columns)
    if columns["id"] not in header:
        raise DataError(f"{path}: no '{columns['id']}' column (columns: {', '.join(header)})")
    if columns["question"] not in header and "question" in (task["prompt_fields"] or []):
        raise DataError(f"{path}: no '{columns['question']}' column")
    has_image, has_path = columns["image"] in header, columns["image_path"] in header
    option_columns = []
    for letter in string.ascii_uppercase:
        if letter not in header:
            break
        option_columns.append(letter)
    rows = table.to_dict("records")
    indexes = [str(row[columns["id"]]) for row in rows]
    images_by_index = {i: row.get(columns["image"]) for i, row in zip(indexes, rows)} \
        if has_image else {}
    known = {columns[k] for k in ("id", "question", "image", "image_path", "answer")}
    documents, no_image = [], 0
    for number, (index, row) in enumerate(zip(indexes, rows), start=1):
        where = f"{path}: row {number} (index {index})"
        if _missing(row[columns["id"]]):
            context.bad(f"{where}: no {columns['id']}")
            continue
        try:
            images = _images(row, index, images_by_index, columns, has_image, has_path, path,
                             context, where)
        except DataError as err:
            context.bad(str(err))
            continue
        if images is None:
            no_image += 1
            continue
        answer = row.get(columns["answer"])
        answers = [] if _missing(answer) else as_list(answer, where)
        choices = {letter: str(row[letter]) for letter in option_columns
                   if not _missing(row[letter])} or None
        fields = {key: (None if _missing(value) else value) for key, value in row.items()
                  if key not in known and key not in option_columns}
        question = row.get(columns["question"])
        documents.append(Document(
            id=int(index) if index.lstrip("-").isdigit() else index,
            question="" if _missing(question) else str(question), images=images,
            answers=answers, choices=choices, fields=fields, source=where))
    if no_image:
        context.warnings.append(f"{no_image} row(s) of {path} have no image and are skipped, "
                                "as VLMEvalKit skips them")
    return documents


def _images(row: dict, index: str, images_by_index: dict, columns: dict, has_image: bool,
            has_path: bool, path: Path, context: ReadContext, where: str) -> list[str] | None:
    """The row's image files; None for a row without an image (skipped)."""
    if has_image:
        value = row.get(columns["image"])
        if _missing(value):
            return None
        value = str(value)
        if len(value) <= SHARED_IMAGE_MAX_LENGTH:
            shared = images_by_index.get(value)
            if _missing(shared) or len(str(shared)) <= SHARED_IMAGE_MAX_LENGTH:
                raise DataError(f"{where}: image refers to row index {value!r}, which has no "
                                "image of its own")
            value = str(shared)
        return [store_base64_image(item, context.media_dir, where)
                for item in as_list(value, where)]
    if has_path:
        value = row.get(columns["image_path"])
        if _missing(value):
            return None
        return [resolve_media(item, path.parent, path.parent / "images" / path.stem)
                for item in as_list(value, where)]
    raise DataError(f"{path}: neither an '{columns['image']}' nor an "
                    f"'{columns['image_path']}' column")


FORMAT = Format("vlmevalkit_tsv", read, ("local_dataset_path",),
                "VLMEvalKit's TSV (index, image as base64 or image_path, question, answer, A..)")
