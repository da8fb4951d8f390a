"""What a multi-node accuracy run (runtime.nnodes > 1) adds to a one-node one:

- **the nodes agree before anything is generated**: every rank reports the folder it writes to
  and a digest of the samples it would split; rank 0's folder must be the one every node sees
  (a shared file system: the data-parallel parts of every node land beside samples.jsonl, and a
  rerun after a kill merges them), and every node must read the same samples, or the split of
  the work would differ between nodes. A disagreement is one line on every node, exit code 2;
- **every node shows it lives**: one thread per node (on its first rank) adds to its own
  counter in the run's key-value store every node_timeout / 10 seconds and reads the other
  nodes' counters; a node whose counter has not moved for runtime.node_timeout seconds (killed,
  frozen, cut off) stops the run through the board (runners/data_parallel.py `Board.stop`),
  which every rank reads after its batch or while it waits for the others. The node that holds
  the store (node 0) going away is seen by the others as the store going away (BoardGone),
  within node_timeout too (the store's requests time out, inference.distributed).
"""
from __future__ import annotations

import hashlib
import json
import threading
import time
from pathlib import Path

from inference.distributed import Parallel, all_gather
from runners.config import ConfigError
from runners.data_parallel import Board, BoardGone
from runners.resume import IDENTITY_FILE

# how long a node looks for rank 0's run_identity.json in the shared folder (a network file
# system may show a new file to other machines a moment later)
SHARED_FOLDER_WAIT_SECONDS = 10.0


def _sees_identity(debug_dir: Path, digest: str) -> bool:
    """The folder holds the run identity that rank 0 has just written (same digest)."""
    path = debug_dir / IDENTITY_FILE
    deadline = time.monotonic() + SHARED_FOLDER_WAIT_SECONDS
    while True:
        try:
            identity = json.loads(path.read_text(encoding="utf-8"))
            found = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str)
                                   .encode()).hexdigest()
            if found == digest:
                return True
        except (OSError, ValueError):
            pass
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)


def check_nodes_agree(parallel: Parallel, output_dir: Path, debug_dir: Path, digest: str,
                      fingerprints: list[str]) -> None:
    """Every rank: the same shared folder and the same samples on every node, or the same
    one-line ConfigError on every rank."""
    if parallel.nnodes == 1:
        return
    folder = str(Path(output_dir).expanduser().resolve())
    samples = hashlib.sha256("\n".join(fingerprints).encode()).hexdigest()
    sees = parallel.is_main or _sees_identity(debug_dir, digest)
    gathered = all_gather(parallel, (parallel.node, folder, samples, sees))
    _, main_folder, main_samples, _ = gathered[0]
    for rank, (node, node_folder, node_samples, node_sees) in enumerate(gathered):
        if node_folder != main_folder:
            raise ConfigError(f"runtime.nnodes={parallel.nnodes}: node {node} (rank {rank}) "
                              f"writes to output_dir {node_folder}, node 0 to {main_folder}: "
                              "give every node the same output_dir, on a shared file system")
        if not node_sees:
            raise ConfigError(f"runtime.nnodes={parallel.nnodes}: output_dir {main_folder} on "
                              f"node {node} (rank {rank}) is not the folder node 0 writes to "
                              f"(it does not show node 0's debug/{IDENTITY_FILE}): the nodes "
                              "need one shared output folder")
        if node_samples != main_samples:
            raise ConfigError(f"runtime.nnodes={parallel.nnodes}: node {node} (rank {rank}) "
                              "reads other samples than node 0 (task data paths, task.limit): "
                              "every node must read the same data")


class NodeWatch:
    """This node's sign of life, and its watch over the others (see the module's notes)."""

    def __init__(self, board: Board, parallel: Parallel, timeout: float, kept_in: str):
        self.board, self.parallel, self.timeout, self.kept_in = board, parallel, timeout, kept_in
        self.interval = min(5.0, max(0.1, timeout / 10))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="node-watch", daemon=True)

    @property
    def active(self) -> bool:
        """One watch per node, on its first rank, and only when there are several nodes."""
        parallel = self.parallel
        return parallel.nnodes > 1 and parallel.rank % parallel.node_size == 0

    def start(self) -> "NodeWatch":
        if self.active:
            self._thread.start()
        return self

    def _ranks(self, node: int) -> str:
        first = node * self.parallel.node_size
        last = first + self.parallel.node_size - 1
        return f"rank {first}" if first == last else f"ranks {first}-{last}"

    def _loop(self) -> None:
        me, board = self.parallel.node, self.board
        others = [n for n in range(self.parallel.nnodes) if n != me]
        seen = {node: (None, time.monotonic()) for node in others}
        while not self._stop.wait(self.interval):
            try:
                board.add(f"alive/{me}", 1)
                if board.add("finished") >= self.parallel.world_size:
                    return      # every rank is done: silence from now on is no failure
                now = time.monotonic()
                for node in others:
                    beats = board.add(f"alive/{node}")
                    if beats != seen[node][0]:
                        seen[node] = (beats, now)
                    elif now - seen[node][1] > self.timeout:
                        board.stop("abort", f"node {node} ({self._ranks(node)}) stopped: no sign "
                                            f"of life for {self.timeout:g} s "
                                            "(runtime.node_timeout). Finished samples are kept "
                                            f"in {self.kept_in}: rerun the same command on "
                                            "every node to resume")
                        return
            except BoardGone:   # node 0 is gone: every rank sees it at its next request
                return

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.interval + 5)
