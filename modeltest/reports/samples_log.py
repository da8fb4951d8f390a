"""debug/samples.jsonl: one line per sample, appended and flushed as each batch finishes.

A data-parallel run's group k > 0 appends to its own part, debug/samples.dp<k>.jsonl (same
format); rank 0 merges the parts into samples.jsonl at the end, or the next run does when a run
was stopped (runners/data_parallel.py, runners/resume.py)."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

_PART = re.compile(r"samples\.dp(\d+)\.jsonl")


def part_path(samples_path: Path, dp_rank: int) -> Path:
    """Where data-parallel group `dp_rank` appends its records: samples.jsonl for group 0."""
    return samples_path if dp_rank == 0 else samples_path.with_name(f"samples.dp{dp_rank}.jsonl")


def part_paths(samples_path: Path) -> list[Path]:
    """The other groups' parts beside samples.jsonl, in group order."""
    found = []
    if samples_path.parent.is_dir():
        for path in samples_path.parent.iterdir():
            match = _PART.fullmatch(path.name)
            if match and path.is_file():
                found.append((int(match.group(1)), path))
    return [path for _, path in sorted(found)]


class SamplesLog:
    def __init__(self, path: Path):
        self.path = path
        self._handle = open(path, "a", encoding="utf-8")

    def append(self, records: list[dict]) -> None:
        try:
            for record in records:
                self._handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            self._handle.flush()
            os.fsync(self._handle.fileno())
        except OSError as err:   # a full disk: say which file
            raise OSError(err.errno, err.strerror, str(self.path)) from None

    def close(self) -> None:
        try:
            self._handle.close()
        except OSError:   # the failed write was reported already
            pass


def read_samples_log(path: Path) -> list[tuple[int, dict]]:
    """(line number, record) pairs; a torn last line (a killed run) is ignored."""
    records = []
    with open(path, encoding="utf-8") as handle:
        lines = handle.readlines()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            records.append((number, json.loads(line)))
        except json.JSONDecodeError:
            if number == len(lines) and not line.endswith("\n"):
                continue
            raise ValueError(f"{path}:{number}: malformed JSON line") from None
    return records
