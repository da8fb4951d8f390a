"""debug/samples.jsonl: one line per sample, appended and flushed as each batch finishes."""
from __future__ import annotations

import json
import os
from pathlib import Path


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
