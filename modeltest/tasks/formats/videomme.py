"""Video-MME as users hold it (tests/golden/PROMPTS_AND_COLUMNS_VIDEO.md has the layouts):

- the lmms-lab `datasets` copy (`huggingface-cli download lmms-lab/Video-MME --repo-type
  dataset --local-dir <root>`, what lmms-eval and VLMEvalKit download): the metadata parquet
  `<root>/videomme/test-00000-of-00001.parquet` with the columns `video_id`, `duration`,
  `domain`, `sub_category`, `url`, `videoID`, `question_id`, `task_type`, `question`,
  `options` (four strings "A. ..."), `answer` (the letter); the videos unzipped from
  `videos_chunked_*.zip` into `<root>/data/<videoID>.mp4` (then `.MP4`, then `.mkv`, the
  order lmms-eval looks in). `task.local_dataset_path` is `<root>` or the parquet file; a
  question's id is its `question_id` ("001-1");
- VLMEvalKit's `Video-MME.tsv` (made from that parquet by `VideoMME.prepare_dataset`):
  `index`, `video` (= videoID), `video_path` (`./video/<videoID>.mp4`, relative to the TSV's
  folder), `duration`, `domain`, `candidates` (the options as a Python list literal),
  `sub_category`, `task_type`, `subtitle_path`, `question`, `answer`. A question's id is its
  `index`.
`task.video_dir` replaces the video folder (`<root>/data`, or `<tsv folder>/video`).
`task.subjects` keeps some durations (short, medium, long). Every name is checked against the
official lists (modeltest/scorers/videomme.py) before any model loads. Nothing is decoded
here; `task.frames` says which frames the model sees (modeltest/tasks/video_frames.py).
"""
from __future__ import annotations

import re
from pathlib import Path

from modeltest.samples import DataError
from modeltest.scorers.videomme import BREAKDOWNS, DURATIONS
from modeltest.tasks.document import Document
from modeltest.tasks.formats import Format, ReadContext
from modeltest.tasks.formats.vlmevalkit_tsv import _read_table, as_list
from modeltest.tasks.io import require_dir
from modeltest.tasks.video_frames import reference_spec

PARQUET_FOLDER = "videomme"            # the lmms-lab repo's config folder
VIDEO_FOLDER = {"parquet": "data", "tsv": "video"}
VIDEO_SUFFIXES = (".mp4", ".MP4", ".mkv")
_OPTION = re.compile(r"^([A-Z])\. ", re.S)
PARQUET_FIELDS = ("video_id", "duration", "domain", "sub_category", "url", "videoID",
                  "task_type")
TSV_FIELDS = ("video", "duration", "domain", "sub_category", "task_type", "video_path",
              "subtitle_path")


def _parquet_file(path: Path) -> Path:
    if path.is_file():
        return path
    for folder in (path / PARQUET_FOLDER, path):
        found = sorted(folder.glob("test-*.parquet")) or sorted(folder.glob("*.parquet"))
        if found:
            if len(found) > 1:
                names = ", ".join(p.name for p in found)
                raise DataError(f"{folder}: several parquet files ({names}); point "
                                "task.local_dataset_path at one")
            return found[0]
    raise DataError(f"task.local_dataset_path={path}: no {PARQUET_FOLDER}/test-*.parquet "
                    "(the lmms-lab/Video-MME copy) and no .parquet file in it")


def _parquet_rows(path: Path) -> tuple[Path, list[dict]]:
    import pyarrow.parquet as pq

    try:
        return path, pq.read_table(path).to_pylist()
    except Exception as err:   # pyarrow raises several types for a damaged file
        raise DataError(f"{path}: not a readable parquet file ({err})") from None


def _choices(options: list[str], where: str) -> dict[str, str]:
    """{"A": "Apples."} from ["A. Apples.", ...]: the letters as the options spell them."""
    choices = {}
    for option in options:
        match = _OPTION.match(option)
        if not match:
            raise DataError(f"{where}: option {option[:40]!r} does not start with 'X. '")
        choices[match.group(1)] = option[match.end():]
    return choices


def _check_names(row: dict, where: str) -> None:
    if row["duration"] not in DURATIONS:
        raise DataError(f"{where}: duration {row['duration']!r} is not one of "
                        f"{', '.join(DURATIONS)}")
    for key, names in BREAKDOWNS.items():
        if row[key] not in names:
            raise DataError(f"{where}: {key} {row[key]!r} is not an official Video-MME {key}")


def _video(video_dir: Path, name: str) -> str:
    for suffix in VIDEO_SUFFIXES:
        candidate = video_dir / f"{name}{suffix}"
        if candidate.exists():
            return str(candidate.resolve())
    return str((video_dir / f"{name}{VIDEO_SUFFIXES[0]}").resolve())


def _selected(task: dict) -> tuple[str, ...]:
    chosen = task["subjects"]
    if not chosen:
        return DURATIONS
    unknown = [str(s) for s in chosen if s not in DURATIONS]
    if unknown:
        raise DataError(f"task.subjects: unknown duration(s) {', '.join(unknown)}; known: "
                        f"{', '.join(DURATIONS)}")
    return tuple(chosen)


def dataset_path(task: dict) -> Path:
    """task.local_dataset_path, which must exist; a Hub id there gets the usual hint (what to
    download, where to point the key)."""
    from modeltest.tasks import detect_format

    raw = task["local_dataset_path"]
    if not raw:
        raise DataError("task.local_dataset_path is not set")
    path = Path(str(raw)).expanduser()
    if not path.exists():
        detect_format({"format": None, "local_dataset_path": raw, "default_format": ""})
        raise DataError(f"task.local_dataset_path={raw}: no such file or directory")
    return path


def read(task: dict, context: ReadContext) -> list[Document]:
    path = dataset_path(task)
    layout = "tsv" if path.suffix.lower() == ".tsv" else "parquet"
    if layout == "tsv":
        root = path.parent
        rows = _read_table(path).to_dict("records")
        rows = [{k: (None if v != v else v) for k, v in row.items()} for row in rows]  # NaN
        needed = ("index", "video", "duration", "domain", "candidates", "sub_category",
                  "task_type", "question", "answer")
    else:
        parquet = _parquet_file(path)
        root = parquet.parent.parent if parquet.parent.name == PARQUET_FOLDER else parquet.parent
        path, rows = _parquet_rows(parquet)
        needed = ("question_id", "videoID", "duration", "domain", "sub_category", "task_type",
                  "question", "options", "answer")
    video_dir = require_dir(task["video_dir"], "task.video_dir") if task["video_dir"] \
        else root / VIDEO_FOLDER[layout]
    if rows:
        missing = [c for c in needed if c not in rows[0]]
        if missing:
            raise DataError(f"{path}: no column(s) {', '.join(missing)} (a Video-MME "
                            f"{'TSV' if layout == 'tsv' else 'parquet'} has "
                            f"{', '.join(needed)})")
    durations = _selected(task)
    spec = reference_spec(task) or None
    documents = []
    for number, row in enumerate(rows):
        where = f"{path}: row {number + 1}"
        if any(row[c] is None for c in needed):
            context.bad(f"{where}: empty {', '.join(c for c in needed if row[c] is None)}")
            continue
        _check_names(row, where)
        if row["duration"] not in durations:
            continue
        if layout == "tsv":
            options = as_list(row["candidates"], f"{where}: candidates")
            qid, fields = str(row["index"]), {k: row.get(k) for k in TSV_FIELDS}
            video = str((root / row["video_path"]).resolve()) if row.get("video_path") \
                and not task["video_dir"] else _video(video_dir, str(row["video"]))
        else:
            options = [str(option) for option in row["options"]]
            qid, fields = str(row["question_id"]), {k: row.get(k) for k in PARQUET_FIELDS}
            video = _video(video_dir, str(row["videoID"]))
        choices = _choices(options, where)
        answer = str(row["answer"]).strip()
        if answer not in choices:
            raise DataError(f"{where}: answer {answer!r} is not among the options "
                            f"{', '.join(choices)}")
        fields["option_texts"] = options
        documents.append(Document(id=qid, question=str(row["question"]), video=video,
                                  video_spec=spec, answers=[answer], choices=choices,
                                  fields=fields, source=where))
    return documents


def files(task: dict) -> dict[str, str]:
    """The metadata file read (its hash is part of the run's data identity; the videos, many
    and large, are not hashed)."""
    path = Path(str(task["local_dataset_path"])).expanduser()
    return {"local_dataset_path": str(path if path.suffix.lower() == ".tsv" or path.is_file()
                                      else _parquet_file(path))}


FORMAT = Format("videomme", read, ("local_dataset_path", "video_dir"),
                "Video-MME: the lmms-lab metadata parquet + <root>/data videos, or VLMEvalKit's "
                "Video-MME.tsv + video/", paths=files)
