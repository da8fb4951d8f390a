"""Data formats: each reads files from disk into Documents (modeltest/tasks/document.py).

A format is a `Format`: its name (`task.format`), the task keys that hold its paths (so that
data identity, demo detection and error messages need no per-task list) and its reader.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from modeltest.tasks.document import Document


@dataclass
class ReadContext:
    """What a reader may need besides the task config."""
    media_dir: Path                       # where embedded images are written as files
    warnings: list[str] = field(default_factory=list)
    skip_bad_lines: bool = False

    def bad(self, message: str) -> None:
        """A malformed line or row: an error, or skipped and reported (task.skip_bad_lines)."""
        from modeltest.samples import DataError

        if not self.skip_bad_lines:
            raise DataError(message)
        self.warnings.append(message)


def configured_paths(keys: tuple[str, ...]) -> Callable[[dict], dict[str, str]]:
    """The paths a format reads: the task keys that are set."""
    def paths(task: dict) -> dict[str, str]:
        return {key: str(task[key]) for key in keys if task.get(key)}
    return paths


@dataclass(frozen=True)
class Format:
    name: str
    read: Callable[[dict, ReadContext], list[Document]]
    path_keys: tuple[str, ...]            # task keys naming files or folders it reads
    summary: str = ""
    # {task key: path} of the files it reads, defaults resolved (e.g. a sibling file)
    paths: Callable[[dict], dict[str, str]] | None = None

    def files(self, task: dict) -> dict[str, str]:
        return (self.paths or configured_paths(self.path_keys))(task)
