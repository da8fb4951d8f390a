"""A local copy of a Hugging Face `datasets` dataset (what lmms-eval users hold: the lmms-lab
sets), read with the `datasets` library:

- a `save_to_disk` folder (a Dataset, or a DatasetDict with one folder per split), or
- parquet files: one file, or a folder holding them (as `huggingface-cli download
  <repo> --repo-type dataset --local-dir <folder>` leaves them: `data/<split>-00000-of-00002.parquet`).
`task.data_split` picks the split (null: `validation` when there is one, else the only one).
Images come from the `Image` feature's bytes, written once as files byte for byte
(modeltest/tasks/media_files.py): the `image` column, an `images` list, or `image_1`,
`image_2`, ... (MMMU's layout). `answers` may be a list of strings, a list of
{"answer", ...} objects (lmms-lab/VQAv2) or one string; `options` (a list, or a list written as
a Python literal) become lettered choices. `task.columns` renames: {id, question, image,
answer, options} -> the dataset's column names. Nothing is downloaded: a hub id is refused.
"""
from __future__ import annotations

import re
from pathlib import Path

from modeltest.samples import DataError
from modeltest.tasks.document import Document
from modeltest.tasks.formats import Format, ReadContext
from modeltest.tasks.formats.vlmevalkit_tsv import as_list
from modeltest.tasks.media_files import store_image_bytes

DEFAULT_COLUMNS = {"id": "question_id", "question": "question", "image": "image",
                   "answer": "answers", "options": "options"}
_SPLIT_FILE = re.compile(r"^(?P<split>[A-Za-z0-9_.]+?)[-_]\d{5}[-_]of[-_]\d{5}\.parquet$")
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def is_datasets_copy(path: Path) -> bool:
    """A save_to_disk folder, a parquet file, or a folder with parquet files in it."""
    if path.is_file():
        return path.suffix == ".parquet"
    if not path.is_dir():
        return False
    return any((path / name).is_file() for name in
               ("dataset_dict.json", "dataset_info.json", "state.json")) \
        or next(path.rglob("*.parquet"), None) is not None


def _split_of(file: Path, root: Path) -> str:
    match = _SPLIT_FILE.match(file.name)
    if match:
        return match.group("split")
    relative = file.relative_to(root).parts if file != root else ()
    return relative[-2] if len(relative) >= 2 else file.stem


def _choose(splits: list[str], wanted: str | None, where: Path) -> str:
    if wanted:
        if wanted not in splits:
            raise DataError(f"task.data_split={wanted}: {where} has the split(s) "
                            f"{', '.join(sorted(splits))}")
        return wanted
    if "validation" in splits:
        return "validation"
    if len(splits) == 1:
        return splits[0]
    raise DataError(f"{where} holds the splits {', '.join(sorted(splits))}: "
                    "set task.data_split")


def _load(path: Path, wanted: str | None, cache_dir: Path):
    import datasets

    datasets.disable_progress_bars()
    if path.is_dir() and (path / "dataset_dict.json").is_file():
        splits = datasets.load_from_disk(str(path))
        return splits[_choose(list(splits), wanted, path)], path
    if path.is_dir() and (path / "state.json").is_file():
        return datasets.load_from_disk(str(path)), path
    files = [path] if path.is_file() else sorted(path.rglob("*.parquet"))
    by_split: dict[str, list[str]] = {}
    for file in files:
        by_split.setdefault(_split_of(file, path), []).append(str(file))
    split = _choose(list(by_split), wanted, path)
    try:
        dataset = datasets.Dataset.from_parquet(by_split[split], cache_dir=str(cache_dir))
    except Exception as err:   # pyarrow's errors have no common base
        raise DataError(f"{path}: cannot read the parquet files of split '{split}' "
                        f"({type(err).__name__}: {' '.join(str(err).split())[:200]})") from None
    return dataset, Path(by_split[split][0])


def _image_columns(features, columns: dict[str, str]) -> list[str]:
    if columns["image"] in features:
        return [columns["image"]]
    if "images" in features:
        return ["images"]
    numbered = sorted((c for c in features if re.fullmatch(r"image_\d+", c)),
                      key=lambda c: int(c.split("_")[1]))
    return numbered


def _image_files(value, media_dir: Path, where: str) -> list[str]:
    """Files for one cell: an Image (as {"bytes", "path"} with decoding off), or a list."""
    if value is None:
        return []
    if isinstance(value, list):
        return [path for item in value for path in _image_files(item, media_dir, where)]
    if isinstance(value, dict):
        if value.get("bytes"):
            return [store_image_bytes(value["bytes"], media_dir)]
        if value.get("path") and Path(value["path"]).is_file():
            return [str(Path(value["path"]).resolve())]
        raise DataError(f"{where}: an image with neither bytes nor a readable path")
    if isinstance(value, (bytes, bytearray)):
        return [store_image_bytes(bytes(value), media_dir)]
    raise DataError(f"{where}: cannot read an image from a {type(value).__name__}")


def _answers(value, where: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return as_list(value, where)
    if isinstance(value, dict) and "answer" in value:
        return [str(value["answer"])]
    if isinstance(value, (list, tuple)):
        texts = []
        for item in value:
            if isinstance(item, dict):
                if "answer" not in item:
                    raise DataError(f"{where}: an answer object without 'answer'")
                texts.append(str(item["answer"]))
            else:
                texts.append(str(item))
        return texts
    return [str(value)]


def _choices(value, where: str) -> dict[str, str] | None:
    if value is None:
        return None
    options = as_list(value, where) if isinstance(value, str) else [str(v) for v in value]
    if len(options) > len(LETTERS):
        raise DataError(f"{where}: {len(options)} options, more than {len(LETTERS)}")
    return {LETTERS[i]: text for i, text in enumerate(options)} or None


def read(task: dict, context: ReadContext) -> list[Document]:
    from datasets import Image

    raw = task["local_dataset_path"]
    path = Path(str(raw)).expanduser()
    if not path.exists():
        raise DataError(f"task.local_dataset_path={raw}: no such file or folder")
    if not is_datasets_copy(path):
        raise DataError(f"task.local_dataset_path={raw}: not a `datasets` copy (a save_to_disk "
                        "folder, or parquet files)")
    dataset, origin = _load(path, task["data_split"], context.media_dir.parent / "datasets")
    columns = {**DEFAULT_COLUMNS, **(task["columns"] or {})}
    features = dataset.features
    if columns["id"] not in features:
        raise DataError(f"{origin}: no '{columns['id']}' column (columns: "
                        f"{', '.join(features)}); map yours with task.columns.id")
    image_columns = _image_columns(features, columns)
    for name in image_columns:   # bytes as stored, not decoded images
        if isinstance(features[name], Image):
            dataset = dataset.cast_column(name, Image(decode=False))
    skip = {columns[k] for k in ("id", "question", "answer", "options")} | set(image_columns)
    documents = []
    for number, row in enumerate(dataset, start=1):
        where = f"{origin}: row {number}"
        if row[columns["id"]] is None:
            context.bad(f"{where}: no {columns['id']}")
            continue
        try:
            images = [p for name in image_columns
                      for p in _image_files(row[name], context.media_dir, where)]
            answers = _answers(row.get(columns["answer"]), where)
            choices = _choices(row.get(columns["options"]), where)
        except DataError as err:
            context.bad(str(err))
            continue
        fields = {key: value for key, value in row.items()
                  if key not in skip and not isinstance(value, (bytes, dict, list))}
        documents.append(Document(
            id=row[columns["id"]], question=str(row.get(columns["question"]) or ""),
            images=images, answers=answers, choices=choices, fields=fields,
            source=f"{where} ({columns['id']} {row[columns['id']]})"))
    return documents


FORMAT = Format("hf", read, ("local_dataset_path",),
                "a local `datasets` copy: save_to_disk folder or parquet files")
