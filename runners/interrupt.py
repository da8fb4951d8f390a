"""Ctrl-C and SIGTERM end a run with one line and exit code 130 / 143, no traceback; what
finished stays in samples.jsonl (and a data-parallel run's samples.dp<k>.jsonl) for a resume."""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from modeltest.reports.samples_log import part_paths

EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}
_progress: dict = {}
_note: list[str] = []        # a runner's own line for an interruption (runner=train)
_first_signal_at: float | None = None
_exit_code = 130


class Interrupted(KeyboardInterrupt):
    def __init__(self, signum: int = signal.SIGINT):
        super().__init__(signal.Signals(signum).name)
        self.exit_code = EXIT_CODES.get(signum, 128 + signum)


def _handler(signum, frame):
    global _first_signal_at, _exit_code
    now = time.monotonic()
    if _first_signal_at is None:
        _first_signal_at = now
        _exit_code = EXIT_CODES.get(signum, 128 + signum)
        raise Interrupted(signum)
    if now - _first_signal_at > 3.0:   # asked again, long after: stop without cleaning up
        os._exit(EXIT_CODES.get(signum, 128 + signum))
    # the same signal delivered twice (terminal and launcher): already stopping


def install_handlers() -> dict:
    """Install the handlers; returns the previous ones for `restore_handlers`."""
    global _first_signal_at
    _first_signal_at = None
    _progress.clear()
    _note.clear()
    previous = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            previous[signum] = signal.signal(signum, _handler)
        except ValueError:   # not the main thread (embedded use): leave the defaults
            break
    return previous


def restore_handlers(previous: dict) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)


def was_interrupted() -> bool:
    return _first_signal_at is not None


def exit_code_of(err: BaseException | None = None) -> int:
    return getattr(err, "exit_code", _exit_code)


def set_progress(kept: int, total: int, path) -> None:
    _progress.update(kept=kept, total=total, path=str(path))


def set_note(line: str) -> None:
    """What to print when interrupted, for runners that keep no samples.jsonl."""
    _note[:] = [line]


def _complete_lines(path: str) -> int | None:
    try:
        with open(path, "rb") as handle:
            return handle.read().count(b"\n")
    except OSError:
        return None


def interrupted_message() -> str:
    if _note:
        return _note[0]
    if "total" in _progress:
        # what is on disk counts (the signal may land between a write and the bookkeeping)
        kept = _complete_lines(_progress["path"])
        parts = part_paths(Path(_progress["path"]))
        kept_parts = [_complete_lines(str(path)) or 0 for path in parts]
        where = _progress["path"] + (" and the data-parallel parts beside it "
                                     "(samples.dp*.jsonl)" if any(kept_parts) else "")
        kept = _progress["kept"] if kept is None else kept + sum(kept_parts)
        return (f"interrupted: {kept} of {_progress['total']} samples kept in {where}; "
                "rerun the same command to resume")
    return "interrupted: nothing was written yet; rerun the same command to start again"
