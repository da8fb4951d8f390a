"""debug/output_<timestamp>.txt: the seed's per-batch record, with readable separators."""
from __future__ import annotations

from pathlib import Path

SEPARATOR = "=" * 80


class BatchLog:
    def __init__(self, path: Path):
        self.path = path
        self._handle = open(path, "a", encoding="utf-8")
        self._count = 0

    def append(self, records: list[dict], e2e_time: float) -> None:
        self._count += 1
        lines = [SEPARATOR, f"batch {self._count}  size {len(records)}  "
                            f"e2e_time {e2e_time:.3f} s", SEPARATOR]
        for record in records:
            lines += [f"[{record['question_id']}] query: {record['prompt']!r}",
                      f"    media: {', '.join(record['images'] + ([record['video']] if record['video'] else []))}",
                      f"    generated: {record['prediction']!r}"
                      + (f"    ERROR: {record['error']}" if record["error"] else ""),
                      "-" * 80]
        try:
            self._handle.write("\n".join(lines) + "\n")
            self._handle.flush()
        except OSError as err:   # a full disk: say which file
            raise OSError(err.errno, err.strerror, str(self.path)) from None

    def close(self) -> None:
        try:
            self._handle.close()
        except OSError:   # the failed write was reported already
            pass
