"""MVBench as users hold it (tests/golden/PROMPTS_AND_COLUMNS_VIDEO.md has the layouts):

- the official copy (`OpenGVLab/MVBench` on the hub, its video zips unzipped in place under
  `video/`): `json/<task>.json` per task, a list of `{"video", "question", "candidates",
  "answer"}` (the answer is a candidate's text), with `"start"`, `"end"` (seconds) for the
  bounded tasks. Which json is which task, where its videos lie and how they are read is the
  notebook's `data_list`, given as `task.data_list` ({json stem: {name, prefix, data_type,
  bound}}): a video is `<video_root>/<prefix>/<video>` (`video_root` null: `<root>/video`,
  where the notebook writes `your_data_path/`). A question's id is `<task name>/<position in
  its json>`;
- VLMEvalKit's `MVBench.tsv` (made from the json files by `MVBench.prepare_dataset`):
  `task_type`, `prefix` (`video/...`, relative to the TSV's folder, or to `task.video_root`
  when set), `data_type`, `bound`, `start`, `end`, `video`, `question`, `answer`,
  `candidates` (a Python list literal), `index` (the id); and `MVBench_MP4.tsv` (from the
  hub's `video` branch, clips already cut), which has no `data_type`, `bound`, `start`, `end`.
Data types, as the notebook's readers take them: `video` (a file at its own frame rate),
`frame` (a folder of `00001.jpg`, ... at `task.frame_rates.frame`, 3 in the notebook) and `gif`
(read at `task.frame_rates.gif`, 25 in the notebook). A bounded question is about
[start, end] only. `task.subjects` keeps some tasks (official names). Nothing is decoded
here: each document carries its video's `video_spec` (modeltest/tasks/video_frames.py).
"""
from __future__ import annotations

from pathlib import Path

from modeltest.samples import DataError
from modeltest.scorers.mvbench import TASKS
from modeltest.tasks.document import Document
from modeltest.tasks.formats import Format, ReadContext
from modeltest.tasks.formats.videomme import dataset_path
from modeltest.tasks.formats.vlmevalkit_tsv import _read_table, as_list
from modeltest.tasks.io import read_json, require_dir, resolve_media
from modeltest.tasks.video_frames import reference_spec

DATA_TYPES = ("video", "frame", "gif")
TSV_COLUMNS = ("index", "task_type", "prefix", "video", "question", "answer", "candidates")
# MVBench.tsv has these too; MVBench_MP4.tsv (the hub's `video` branch: clips already cut to
# their bounds, all mp4) has neither: every row is then a whole video file
TSV_READING = ("data_type", "bound")


def _data_list(task: dict) -> dict[str, dict]:
    """{official task name: {json, prefix, data_type, bound}} from task.data_list."""
    entries = {}
    for stem, entry in (task["data_list"] or {}).items():
        entry = entry or {}
        name = entry.get("name")
        if name not in TASKS:
            raise DataError(f"task.data_list.{stem}.name={name}: not an MVBench task "
                            f"({', '.join(TASKS)})")
        if entry.get("data_type") not in DATA_TYPES:
            raise DataError(f"task.data_list.{stem}.data_type={entry.get('data_type')}: "
                            f"unknown (known: {', '.join(DATA_TYPES)})")
        entries[name] = {"json": f"{stem}.json", "prefix": str(entry.get("prefix") or ""),
                         "data_type": entry["data_type"], "bound": bool(entry.get("bound"))}
    return entries


def _selected(task: dict, known: list[str]) -> list[str] | None:
    """The official names task.subjects keeps, in the notebook's order; None: all."""
    chosen = task["subjects"]
    if not chosen:
        return None
    unknown = [str(s) for s in chosen if s not in known]
    if unknown:
        raise DataError(f"task.subjects: unknown MVBench task(s) {', '.join(unknown)}; "
                        f"known: {', '.join(known)}")
    return [name for name in known if name in chosen]


def _spec(task: dict, data_type: str, bound: bool, start, end, where: str) -> dict | None:
    spec: dict = {}
    if data_type != "video":
        rates = task["frame_rates"] or {}
        if not rates.get(data_type):
            raise DataError(f"task.frame_rates.{data_type} is not set ({where})")
        spec["frame_rate"] = float(rates[data_type])
    if bound:
        try:
            spec.update(start=float(start), end=float(end))
        except (TypeError, ValueError):
            raise DataError(f"{where}: a bounded task's question needs 'start' and 'end' "
                            f"seconds (got {start!r}, {end!r})") from None
    spec.update(reference_spec(task))
    return spec or None


def _document(task: dict, qid: str, name: str, item: dict, video: str, data_type: str,
              bound: bool, where: str) -> Document:
    candidates = item["candidates"]
    answer = str(item["answer"])
    if answer not in candidates:
        raise DataError(f"{where}: answer {answer[:40]!r} is not one of the candidates")
    spec = _spec(task, data_type, bound, item.get("start"), item.get("end"), where)
    return Document(id=qid, question=str(item["question"]), video=video, video_spec=spec,
                    answers=[answer],
                    choices={chr(ord("A") + k): c for k, c in enumerate(candidates)},
                    fields={"task_type": name, "video": item["video"],
                            "data_type": data_type},
                    source=where)


def _read_json_copy(task: dict, root: Path, context: ReadContext) -> list[Document]:
    data_list = _data_list(task)
    chosen = _selected(task, list(data_list))
    video_root = require_dir(task["video_root"], "task.video_root") if task["video_root"] \
        else root / "video"
    documents = []
    for name, entry in data_list.items():
        path = root / "json" / entry["json"]
        if chosen is None and not path.is_file():
            context.warnings.append(f"task {name} not run: {path} does not exist")
            continue
        if chosen is not None and name not in chosen:
            continue
        if not path.is_file():
            raise DataError(f"task.subjects: {name}: {path} does not exist")
        items = read_json(path)
        if not isinstance(items, list):
            raise DataError(f"{path}: expected a list of {{\"video\", \"question\", "
                            f"\"candidates\", \"answer\"}}")
        folder = video_root / entry["prefix"]
        for position, item in enumerate(items):
            where = f"{path}#{position}"
            if not isinstance(item, dict):
                raise DataError(f"{where}: expected an object")
            missing = [k for k in ("video", "question", "candidates", "answer") if k not in item]
            if missing:
                raise DataError(f"{where}: missing field(s) {', '.join(missing)}")
            if not isinstance(item["candidates"], list) or not item["candidates"]:
                raise DataError(f"{where}: 'candidates' must be a non-empty list")
            item = {**item, "candidates": [str(c) for c in item["candidates"]]}
            documents.append(_document(task, f"{name}/{position}", name, item,
                                       str((folder / str(item["video"])).resolve()),
                                       entry["data_type"], entry["bound"], where))
    return documents


def _flag(value, where: str) -> bool:
    text = str(value).strip()
    if text not in ("True", "False"):
        raise DataError(f"{where}: bound {value!r} is not True or False")
    return text == "True"


def _read_tsv(task: dict, path: Path, context: ReadContext) -> list[Document]:
    table = _read_table(path)
    missing = [c for c in TSV_COLUMNS if c not in table.columns]
    if missing:
        raise DataError(f"{path}: no column(s) {', '.join(missing)} (MVBench.tsv has "
                        f"{', '.join(TSV_COLUMNS + TSV_READING)}, start, end)")
    present = [c for c in TSV_READING if c in table.columns]
    if len(present) == 1:
        raise DataError(f"{path}: a '{present[0]}' column without "
                        f"'{(set(TSV_READING) - set(present)).pop()}'")
    cut_clips = not present
    chosen = _selected(task, list(TASKS))
    base = require_dir(task["video_root"], "task.video_root") if task["video_root"] \
        else path.parent
    documents = []
    for number, row in enumerate(table.to_dict("records")):
        row = {k: (None if v != v else v) for k, v in row.items()}      # NaN: empty
        where = f"{path}: row {number + 1}"
        empty = [c for c in TSV_COLUMNS if row[c] is None]
        if empty:
            context.bad(f"{where}: empty {', '.join(empty)}")
            continue
        name = row["task_type"]
        if name not in TASKS:
            raise DataError(f"{where}: task_type {name!r} is not an MVBench task")
        if chosen is not None and name not in chosen:
            continue
        if cut_clips:
            row.update(data_type="video", bound="False")
        if row["data_type"] not in DATA_TYPES:
            raise DataError(f"{where}: data_type {row['data_type']!r} is not one of "
                            f"{', '.join(DATA_TYPES)}")
        item = {"video": row["video"], "question": row["question"], "answer": row["answer"],
                "candidates": as_list(row["candidates"], f"{where}: candidates"),
                "start": row.get("start"), "end": row.get("end")}
        video = resolve_media(str(Path(str(row["prefix"])) / str(row["video"])), base)
        documents.append(_document(task, str(row["index"]), name, item, video,
                                   row["data_type"], _flag(row["bound"], where), where))
    return documents


def read(task: dict, context: ReadContext) -> list[Document]:
    path = dataset_path(task)
    if path.suffix.lower() == ".tsv":
        return _read_tsv(task, path, context)
    root = require_dir(path, "task.local_dataset_path")
    if not (root / "json").is_dir():
        raise DataError(f"task.local_dataset_path={path}: no json/ folder (the "
                        "OpenGVLab/MVBench copy has json/<task>.json and video/)")
    return _read_json_copy(task, root, context)


def files(task: dict) -> dict[str, str]:
    """The annotation files read (the json folder or the TSV); the videos are not hashed."""
    path = Path(str(task["local_dataset_path"])).expanduser()
    return {"local_dataset_path": str(path if path.suffix.lower() == ".tsv" else path / "json")}


FORMAT = Format("mvbench", read, ("local_dataset_path", "video_root"),
                "MVBench: json/<task>.json + video/<prefix>/ (the official copy), or "
                "VLMEvalKit's MVBench.tsv", paths=files)
