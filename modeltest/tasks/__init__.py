"""Tasks as data: `conf/task/<name>.yaml` says which format holds the benchmark, the prompt
template, the scorer and how its metrics aggregate; this package reads the data into Samples.

    format (FORMATS, `task.format` or detected) -> Documents -> Samples
    (prompt = task template + document fields [+ the task's prompt hook]; subject from
    `task.subject_field`)

Nothing here knows a benchmark by name: a new benchmark in a known format is one yaml.
"""
from __future__ import annotations

import re
from pathlib import Path

from modeltest.cache import media_root
from modeltest.registry import Registry, RegistryError, import_attribute
from modeltest.samples import DataError, Sample
from modeltest.tasks.document import Document
from modeltest.tasks.formats import Format, ReadContext
from modeltest.tasks.prompt import render_prompt

FORMATS = Registry("task.format", {
    "textvqa_jsonl": "modeltest.tasks.formats.textvqa_jsonl:FORMAT",
    "vqav2_json": "modeltest.tasks.formats.vqav2_json:FORMAT",
    "videobench_json": "modeltest.tasks.formats.videobench_json:FORMAT",
    "image_folder": "modeltest.tasks.formats.image_folder:FORMAT",
    "vlmevalkit_tsv": "modeltest.tasks.formats.vlmevalkit_tsv:FORMAT",
    "hf": "modeltest.tasks.formats.hf_datasets:FORMAT",
})

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def detect_format(task: dict) -> str:
    """`task.format` when set; else from `task.local_dataset_path`: a .tsv is VLMEvalKit's, a
    parquet file or a `datasets` folder is `hf`; else the task's `default_format` (its
    official files)."""
    from modeltest.tasks.formats.hf_datasets import is_datasets_copy

    if task["format"]:
        return str(task["format"])
    raw = task.get("local_dataset_path")
    if raw:
        path = Path(str(raw)).expanduser()
        if not path.exists() and _HUB_ID.match(str(raw)):
            raise DataError(
                f"task.local_dataset_path={raw} looks like a Hugging Face Hub id; nothing is "
                f"downloaded at run time: download it first (huggingface-cli download {raw} "
                f"--repo-type dataset --local-dir /data/{str(raw).split('/')[-1]}) and point "
                "task.local_dataset_path at that folder")
        if path.suffix.lower() == ".tsv":
            return "vlmevalkit_tsv"
        if is_datasets_copy(path):
            return "hf"
    return str(task["default_format"])


def task_format(task: dict) -> Format:
    try:
        return FORMATS.get(detect_format(task))
    except RegistryError as err:
        raise DataError(str(err)) from None


def data_paths(task: dict) -> dict[str, str]:
    """{task key: path} of the files the task's format reads (data identity)."""
    return task_format(task).files(task)


def _subject(document: Document, task: dict) -> str:
    name = task["subject_field"]
    value = document.field_value(name) if name else None
    if value is None or value == "" or (isinstance(value, float) and value != value):
        return str(task["name"])
    return str(value)


def _prompt_hook(task: dict):
    spec = task["prompt_hook"]
    if not spec:
        return None
    try:
        return import_attribute(str(spec), "task.prompt_hook")
    except RegistryError as err:
        raise DataError(str(err)) from None


def to_sample(document: Document, task: dict, template: str, hook=None) -> Sample:
    fields = {key: value for key, value in document.fields.items()
              if value is None or isinstance(value, (str, int, float, bool))}
    return Sample(question_id=document.id, subject=_subject(document, task),
                  prompt=render_prompt(template, document, hook), images=list(document.images),
                  video=document.video, references=list(document.answers),
                  choices=document.choices, source=document.source, fields=fields)


def load_samples(task: dict, template: str,
                 media_dir: Path | None = None) -> tuple[list[Sample], list[str]]:
    """Samples of a task (after task.limit) and warnings such as skipped lines."""
    context = ReadContext(media_dir or media_root(), skip_bad_lines=bool(task["skip_bad_lines"]))
    documents = task_format(task).read(task, context)
    if task["limit"]:
        documents = documents[: int(task["limit"])]
    hook = _prompt_hook(task)
    samples = [to_sample(document, task, template, hook) for document in documents]
    if not samples:
        raise DataError(f"task {task['name']}: the dataset is empty")
    seen: dict[str, object] = {}
    for sample in samples:   # 34602 and "34602" are the same question
        key = str(sample.question_id)
        if key in seen:
            also = "" if seen[key] == sample.question_id else f" (also written as {seen[key]!r})"
            raise DataError(f"{sample.source}: duplicate question_id {sample.question_id!r}{also}")
        seen[key] = sample.question_id
    return samples, context.warnings
