"""One run per output folder: an exclusive lock (`<output_dir>/.modeltest.lock`, holding the
pid of its owner) taken before anything is written, and removed when the run ends. The kernel
drops the lock when its process dies, so a lock left by a killed run is simply taken over.

Removing a lock file races with a run that opened it just before: that run would lock the
removed file while a third locks a new one. So a run that gets the lock checks that the path
still names the file it locked, and tries again when it does not."""
from __future__ import annotations

import errno
import fcntl
import os
import socket
from pathlib import Path

from runners.config import ConfigError

LOCK_NAME = ".modeltest.lock"
_held: dict[Path, int] = {}     # output folder -> open file descriptor


def lock_output_dir(output_dir: Path) -> None:
    """Take the folder's lock or stop with a one-line error naming the holder's pid."""
    folder = Path(output_dir).expanduser().resolve()
    if folder in _held:
        return
    while True:
        descriptor = _open_and_lock(folder)
        try:
            current = os.stat(folder / LOCK_NAME).st_ino
        except FileNotFoundError:
            current = None
        if current == os.fstat(descriptor).st_ino:
            break
        os.close(descriptor)      # the file was removed by the run that held it: again
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
    _held[folder] = descriptor


def _open_and_lock(folder: Path) -> int:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        raise ConfigError(f"output_dir {folder}: cannot write there ({err.strerror})") from None
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as err:
        holder = os.pread(descriptor, 200, 0).decode(errors="replace").split()
        os.close(descriptor)
        if err.errno not in (errno.EAGAIN, errno.EACCES):
            raise ConfigError(f"output_dir {folder}: cannot lock {folder / LOCK_NAME} "
                              f"({err.strerror})") from None
        pid = holder[0] if holder else "unknown"
        host = f" on {holder[1]}" if len(holder) > 1 and holder[1] != socket.gethostname() else ""
        raise ConfigError(f"output_dir {folder} is in use by another modeltest run (pid {pid}"
                          f"{host}); wait for it to finish or choose another output_dir") from None
    return descriptor


def release_output_locks() -> None:
    """Remove each lock file this process holds (while still holding it), then unlock."""
    while _held:
        folder, descriptor = _held.popitem()
        try:
            if os.stat(folder / LOCK_NAME).st_ino == os.fstat(descriptor).st_ino:
                os.unlink(folder / LOCK_NAME)
        except OSError:
            pass          # already gone, or the folder with it: nothing to remove
        os.close(descriptor)
