"""Data-parallel accuracy runs in which no rank waits for another after a batch.

The design chosen, and why:

- **Each data-parallel group writes its own records.** Group 0's writer (rank 0) appends to
  debug/samples.jsonl as a single process does; group k > 0's writer (its tp rank 0) appends to
  debug/samples.dp<k>.jsonl, in the same format, flushed and fsynced after every batch, with its
  own batch log (debug/output_<time>.dp<k>.txt). A kill -9 of one rank or of the whole run
  loses only the batches in flight: the next run (runners/resume.py) reads samples.jsonl and
  every part, merges them into samples.jsonl and removes the parts, so no finished sample of
  any rank is generated again.
- **Ranks talk through the key-value store of the process group** (the TCPStore that
  inference.distributed creates on rank 0 for the rendezvous and passes to the group): counters and flags, each a
  single request, never a collective, so a rank with a long batch (long videos) holds no one.
  `done` (records written by every group) moves rank 0's progress bar, which a thread
  refreshes every second, also while rank 0 itself is inside a long batch or has finished its
  share; `errors` (failed samples of every group) keeps runtime.max_error_rate a run-wide
  limit checked after each batch, as before; `abort` carries the first abort's message
  (too many errors, or a served endpoint that failed: samples left unanswered), which every
  rank reads after its next batch; `finished` counts the ranks that are done.
- **At the end** every rank polls `finished` (and `abort`) until all are done; only then one
  all_gather brings the records to rank 0, which appends the other groups' records to
  samples.jsonl (fsynced) and writes the reports as before, and a broadcast then lets each
  writer delete its part. samples.jsonl of a finished run holds the same records as before
  (in another order) and summary.json is unchanged.
- **Aborts**: a writer that meets an abort condition publishes the message and stops; the tp
  peers of its group get the decision by a broadcast inside the group (they run every batch
  in lockstep anyway, so no one waits). Rank 0 raises with the published message (one line,
  exit code 4) and acknowledges it; a rank > 0 that stops waits for that acknowledgement (or
  for rank 0 to be gone) before it exits, so that the launcher, which stops the others 20 s
  after a worker exits, never cuts rank 0 short in the middle of a batch. A rank that fails
  unexpectedly publishes its error the same way, and rank 0 raises it. The final totals are
  checked once more at the end (runners/accuracy.py `_check_error_rate`).

Not chosen: a gather every N batches or seconds is still a collective (the fastest rank waits
for the slowest at every gather, only less often), and sending records to rank 0 point to point
needs a receiving thread beside rank 0's own generation, and loses what is in flight with
rank 0. The parts need output_dir to be one folder for every rank (one machine, as
scripts/mm_run.sh runs; a shared file system across machines): on machines with separate
disks the final reports are still complete (they come from the gather), only a rerun after a
kill would generate the other machines' samples again.
"""
from __future__ import annotations

import threading
import time
from typing import Any

import torch.distributed as dist

from inference.distributed import Parallel

PREFIX = "modeltest/"
POLL_SECONDS = 0.2


class BoardGone(RuntimeError):
    """The store went away: rank 0 has stopped."""


class Board:
    """Counters and flags shared by every rank; plain values in one process."""

    def __init__(self, parallel: Parallel):
        self.parallel = parallel
        self._store = parallel.store if parallel.distributed else None
        self._local: dict[str, Any] = {}

    def _call(self, name: str, *args):
        try:
            return getattr(self._store, name)(*args)
        except (RuntimeError, dist.DistError) as err:   # DistNetworkError: rank 0 is gone
            raise BoardGone(str(err).splitlines()[0]) from None

    def add(self, key: str, amount: int = 0) -> int:
        """Add to a counter; its new value (0 adds nothing: a read)."""
        if self._store is None:
            self._local[key] = self._local.get(key, 0) + amount
            return self._local[key]
        return int(self._call("add", PREFIX + key, amount))

    def set(self, key: str, value: str) -> None:
        if self._store is None:
            self._local[key] = value
        else:
            self._call("set", PREFIX + key, value)

    def get(self, key: str) -> str | None:
        """A flag's value, None while it is not set (never blocks)."""
        if self._store is None:
            return self._local.get(key)
        if not self._call("check", [PREFIX + key]):
            return None
        return self._call("get", PREFIX + key).decode()

    def stop(self, kind: str, message: str) -> None:
        """Publish why the run stops (the first reason stays): kind is abort or failure."""
        if self.get("stop") is None:
            self.set("stop", f"{kind}\n{message}")

    def stopped(self) -> tuple[str, str] | None:
        value = self.get("stop")
        if value is None:
            return None
        kind, _, message = value.partition("\n")
        return kind, message

    def acknowledge(self, others: int, grace: float = 5.0) -> None:
        """On rank 0: the stop is seen, the others may exit; give those that are waiting for
        this a moment to leave before rank 0 (and the store with it) is gone."""
        try:
            self.set("stop_seen", "1")
            deadline = time.monotonic() + grace
            while self.add("left") < others and time.monotonic() < deadline:
                time.sleep(POLL_SECONDS / 4)
        except BoardGone:
            pass

    def wait_acknowledged(self) -> None:
        """On a rank > 0: wait until rank 0 has seen the stop (or is gone), then leave."""
        try:
            while self.get("stop_seen") is None:
                time.sleep(POLL_SECONDS)
            self.add("left", 1)
        except BoardGone:
            pass


def tp_broadcast(parallel: Parallel, value: Any) -> Any:
    """The value of this tp group's writer (tp rank 0), on every rank of the group."""
    if parallel.tp == 1:
        return value
    group = parallel.tp_mesh.get_group()
    box = [value]
    dist.broadcast_object_list(box, src=dist.get_global_rank(group, 0), group=group)
    return box[0]


class ProgressTicker:
    """Rank 0's progress bar follows the `done` counter of every group, once a second."""

    def __init__(self, board: Board, progress, initial: int, every: float = 1.0):
        self.board, self.progress, self.initial, self.every = board, progress, initial, every
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="progress", daemon=True)

    def start(self) -> "ProgressTicker":
        self._thread.start()
        return self

    def show(self, done: int) -> None:
        with self.lock:
            value = min(self.initial + done, self.progress.total)
            if value > self.progress.n:
                self.progress.n = value
                self.progress.refresh()

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.show(self.board.add("done"))
            except BoardGone:
                return

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)


def wait_for_everyone(board: Board, parallel: Parallel) -> tuple[str, str] | None:
    """After this rank's share: wait (polling the board, no collective) until every rank is
    done; why the run stops instead, if a rank published that."""
    board.add("finished", 1)
    while board.add("finished") < parallel.world_size:
        stop = board.stopped()
        if stop:
            return stop
        time.sleep(POLL_SECONDS)
    return None
