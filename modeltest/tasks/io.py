"""Reading task files with errors that name the file and line."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterator

from modeltest.samples import DataError


def require_file(path: str | os.PathLike | None, key: str) -> Path:
    if path in (None, ""):
        raise DataError(f"{key} is not set")
    resolved = Path(str(path)).expanduser()
    if not resolved.is_file():
        raise DataError(f"{key}={path}: no such file")
    return resolved


def require_dir(path: str | os.PathLike | None, key: str) -> Path:
    if path in (None, ""):
        raise DataError(f"{key} is not set")
    resolved = Path(str(path)).expanduser()
    if not resolved.is_dir():
        raise DataError(f"{key}={path}: no such directory")
    return resolved


def read_json(path: Path) -> Any:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except json.JSONDecodeError as err:
        raise DataError(f"{path}:{err.lineno}: invalid JSON ({err.msg})") from None


def read_jsonl(path: Path, skip_bad_lines: bool = False,
               bad_lines: list[str] | None = None) -> Iterator[tuple[int, dict]]:
    """Yield (line number, object); a bad line is an error naming file:line, or skipped."""
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                if not isinstance(record, dict):
                    raise ValueError("not a JSON object")
            except ValueError as err:
                message = f"{path}:{number}: malformed JSONL line ({err})"
                if not skip_bad_lines:
                    raise DataError(message) from None
                if bad_lines is not None:
                    bad_lines.append(message)
                continue
            yield number, record


def resolve_media(path: str, *bases: Path) -> str:
    """An absolute path as is; a relative one under the first base where it exists."""
    candidate = Path(path).expanduser()
    if candidate.is_absolute():
        return str(candidate)
    for base in bases:
        if (base / candidate).exists():
            return str((base / candidate).resolve())
    return str((bases[0] / candidate).resolve()) if bases else str(candidate)


def answer_texts(answers: list, where: str) -> list[str]:
    """Reference answers given as strings or as {"answer": ...} objects."""
    texts = []
    for answer in answers:
        if isinstance(answer, dict):
            if "answer" not in answer:
                raise DataError(f"{where}: answer entry without 'answer' field")
            answer = answer["answer"]
        texts.append(str(answer))
    if not texts:
        raise DataError(f"{where}: the reference answer list is empty")
    return texts
