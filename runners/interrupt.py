"""Ctrl-C and SIGTERM end a run with one line and exit code 130 / 143, no traceback; what
finished stays in samples.jsonl (and a data-parallel run's samples.dp<k>.jsonl) for a resume.

At any moment:
- while the program is still importing (torch takes seconds), `install_early_handlers` ends
  the process at once with the line (nothing was written yet): an exception raised inside an
  import would print a traceback before any handler of ours could catch it;
- afterwards the handler raises `Interrupted` where the main thread is, and `runners.cli`
  prints the line; an interrupt that lands inside a finaliser (`__del__`, a weakref callback),
  where Python can only print "Exception ignored" with a traceback, is swallowed there and the
  signal delivered again a moment later, outside it (`_unraisable`).
"""
from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

# stdlib only above: this module is imported before torch (install_early_handlers)

EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}
# a signal repeated within this many seconds of the first is the same request to stop (the
# launcher repeats it for 9 s); after it, a second Ctrl-C stops at once, without cleaning up
REPEAT_GRACE_SECONDS = 12.0
_progress: dict = {}
_note: list[str] = []        # a runner's own line for an interruption (runner=train)
_first_signal_at: float | None = None
_exit_code = 130


class Interrupted(KeyboardInterrupt):
    def __init__(self, signum: int = signal.SIGINT):
        super().__init__(signal.Signals(signum).name)
        self.exit_code = EXIT_CODES.get(signum, 128 + signum)


_redelivering = False


def _say_once(line: str) -> None:
    """The first rank of each node prints the line (every rank of a parallel run gets the
    signal)."""
    if os.environ.get("LOCAL_RANK", os.environ.get("RANK", "0")) == "0":
        print(line, file=sys.stderr, flush=True)


_leaving = []


def _early_handler(signum, frame):
    """Before the run's own handlers (imports) and after them (the interpreter closing)."""
    code = EXIT_CODES.get(signum, 128 + signum)
    if _leaving:
        # the same request again (the terminal's Ctrl-C, then the launcher's copy of it, ms
        # apart) while the first call prints its line: that call ends the process once the
        # line is out; ending it here, first, exited 130 with no line at all
        return
    _leaving.append(code)
    if _first_signal_at is not None:
        # the run was stopped and runners.cli has said its line; a repeat of the launcher's
        # that lands while the process leaves (these handlers restored) says nothing more
        os._exit(_exit_code)
    _say_once(interrupted_message() if _progress else
              "interrupted: nothing was written yet; rerun the same command to start again")
    os._exit(code)


def install_early_handlers() -> None:
    """Before the heavy imports: a signal ends the process at once, with the line."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            signal.signal(signum, _early_handler)
        except ValueError:   # not the main thread (embedded use)
            return


def _unraisable(hook_args) -> None:
    """An Interrupted raised inside a finaliser cannot propagate (Python would print it as
    "Exception ignored in ..."): deliver the signal again, 50 ms later, where it can."""
    global _redelivering
    if isinstance(hook_args.exc_value, Interrupted):
        signum = signal.SIGTERM if hook_args.exc_value.exit_code == 143 else signal.SIGINT
        _redelivering = True
        threading.Timer(0.05, os.kill, (os.getpid(), signum)).start()
        return
    _default_unraisable(hook_args)


_default_unraisable = sys.unraisablehook


def _handler(signum, frame):
    global _first_signal_at, _exit_code, _redelivering
    now = time.monotonic()
    if _redelivering:        # our own second delivery (see _unraisable): raise it now
        _redelivering = False
        raise Interrupted(signum)
    if _first_signal_at is None:
        _first_signal_at = now
        _exit_code = EXIT_CODES.get(signum, 128 + signum)
        raise Interrupted(signum)
    if now - _first_signal_at > REPEAT_GRACE_SECONDS:   # asked again, long after: stop now
        os._exit(EXIT_CODES.get(signum, 128 + signum))
    # the same signal delivered again (terminal and launcher; the launcher sends it again
    # for a few seconds, see runners/launch.py): already stopping


def install_handlers() -> dict:
    """Install the handlers; returns the previous ones for `restore_handlers`."""
    global _first_signal_at
    _first_signal_at = None
    _progress.clear()
    _note.clear()
    sys.unraisablehook = _unraisable
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
    sys.unraisablehook = _default_unraisable


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
    from modeltest.reports.samples_log import part_paths

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


def leave(code: int | None) -> None:
    """Exit with the run's code without the interpreter's teardown. Its last stage puts the
    default signal actions back, so a Ctrl-C landing in those seconds (torch's teardown takes
    one or two) killed a process whose result was already whole, silently, with 130; nothing
    of ours needs that teardown: every file is closed by then and the streams are flushed
    here."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):   # a closed pipe: nothing more can be said there
            pass
    os._exit(0 if code is None else code)
