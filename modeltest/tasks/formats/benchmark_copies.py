"""One benchmark in either copy its users hold: VLMEvalKit's TSV (`ChartQA_TEST.tsv`, ...) or
the lmms-lab `datasets` copy (parquet files). Each copy is read by its generic format
(`vlmevalkit_tsv`, `hf`); this adds, per copy, what makes the two give the same Documents,
declared in the task's yaml under `copies` (`vlmevalkit_tsv`, `hf`):

  columns  the copy's own column names (its format's `task.columns`; keys the user sets in
           `task.columns` still win); `id: null` for a copy without an id column: a
           question's id is its row number in the split (lmms-eval's `doc_id`)
  fields   {field: the copy's column}: the same field names from both copies (subjects,
           record fields, what the scorer reads)
  values   {field: {the copy's value: the official name}}

An id written as digits ("10285", lmms-lab's questionId) becomes the number, as VLMEvalKit's
TSV reader gives it, so the official files (DocVQA's `questionId`) get numbers.
`task.data_config`: the lmms-lab config folder (DocVQA and InfographicVQA share one
repository), used when `task.local_dataset_path` is the repository's folder.
`task.subjects` keeps the questions of the named subjects only (official names, values of
`task.subject_field`); with `task.subject_separator` one question may name several (VLMEvalKit's
POPE.tsv: "adversarial,popular").
"""
from __future__ import annotations

from pathlib import Path

from modeltest.samples import DataError
from modeltest.tasks.document import Document
from modeltest.tasks.formats import Format, ReadContext
from modeltest.tasks.formats import hf_datasets, vlmevalkit_tsv

COPIES = {"vlmevalkit_tsv": vlmevalkit_tsv.FORMAT, "hf": hf_datasets.FORMAT}
COPY_KEYS = {"columns", "fields", "values"}


def copy_of(task: dict) -> str:
    """Which copy `task.local_dataset_path` is: vlmevalkit_tsv or hf."""
    raw = task["local_dataset_path"]
    if not raw:
        raise DataError(f"task {task['name']}: task.local_dataset_path is not set (a "
                        "VLMEvalKit .tsv, or a folder or parquet file of the lmms-lab copy)")
    path = Path(str(raw)).expanduser()
    if path.suffix.lower() == ".tsv":
        return "vlmevalkit_tsv"
    if not path.exists():
        raise DataError(f"task.local_dataset_path={raw}: no such file or folder")
    if hf_datasets.is_datasets_copy(path):
        return "hf"
    raise DataError(f"task.local_dataset_path={raw}: neither a VLMEvalKit TSV (.tsv) nor a "
                    "`datasets` copy (parquet files or a save_to_disk folder)")


def _dataset_path(task: dict, copy: str) -> str:
    """The config folder of an lmms-lab repository when the path is the repository's."""
    path = Path(str(task["local_dataset_path"])).expanduser()
    config = task["data_config"]
    if copy == "hf" and config and path.is_dir() and (path / str(config)).is_dir():
        return str(path / str(config))
    return str(path)


def _spec(task: dict, copy: str) -> dict:
    spec = (task["copies"] or {}).get(copy)
    if spec is None:
        raise DataError(f"task {task['name']}: task.copies has no entry '{copy}' (how to read "
                        f"its {copy} copy)")
    unknown = set(spec) - COPY_KEYS
    if unknown:
        raise DataError(f"task.copies.{copy}: unknown key(s) {', '.join(sorted(unknown))} "
                        f"(known: {', '.join(sorted(COPY_KEYS))})")
    return spec


def _normalized_id(value):
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return value


def _subjects(document: Document, task: dict) -> list[str]:
    value = document.field_value(str(task["subject_field"]))
    if value is None:
        return []
    separator = task["subject_separator"]
    return [part for part in str(value).split(separator)] if separator else [str(value)]


def _keep_subjects(documents: list[Document], task: dict, where: str) -> list[Document]:
    wanted = task["subjects"]
    if not wanted:
        return documents
    if not task["subject_field"]:
        raise DataError(f"task.subjects is set, but task {task['name']} has no "
                        "task.subject_field to select by")
    present = {subject for document in documents for subject in _subjects(document, task)}
    unknown = [str(name) for name in wanted if str(name) not in present]
    if unknown:
        raise DataError(f"task.subjects: {', '.join(unknown)} not in {where} (it has: "
                        f"{', '.join(sorted(present))})")
    keep = {str(name) for name in wanted}
    return [d for d in documents if keep & set(_subjects(d, task))]


def read(task: dict, context: ReadContext) -> list[Document]:
    copy = copy_of(task)
    spec = _spec(task, copy)
    path = _dataset_path(task, copy)
    columns = {**(spec.get("columns") or {}), **(task["columns"] or {})}
    documents = COPIES[copy].read({**task, "local_dataset_path": path, "columns": columns},
                                  context)
    renamed, values = spec.get("fields") or {}, spec.get("values") or {}
    for document in documents:
        document.id = _normalized_id(document.id)
        for field, column in renamed.items():
            document.fields[field] = document.fields.get(column)
        for field, mapping in values.items():
            value = document.fields.get(field)
            if value is not None and str(value) in mapping:
                document.fields[field] = mapping[str(value)]
    return _keep_subjects(documents, task, path)


def paths(task: dict) -> dict[str, str]:
    return {"local_dataset_path": _dataset_path(task, copy_of(task))}


FORMAT = Format("benchmark_copies", read, ("local_dataset_path",),
                "VLMEvalKit's TSV or the lmms-lab `datasets` copy of one benchmark", paths)
