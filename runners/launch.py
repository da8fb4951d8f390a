"""Start `--nproc` modeltest processes on this machine (what scripts/mm_run.sh runs), like
`torchrun --standalone`, but so that no worker outlives the launch:

- the config is checked once, here, before any worker starts (a bad value or a runtime.tp
  that does not divide the model's heads is one line, exit code 2);
- the workers stay in the launcher's process group (Ctrl-C in the terminal reaches all of
  them) and get a parent-death signal (SIGKILL of the launcher kills them too);
- SIGINT/SIGTERM sent to the launcher alone are passed on to the workers;
- when a worker fails, the others are stopped; the exit code is rank 0's own.

    python -m runners.launch [--nproc N] [key=value ...]     (N: runtime.tp x runtime.dp)

With runtime.nnodes > 1 it is one node of a multi-node job (README "Multi-node"): it starts
this node's runtime.tp x runtime.dp / runtime.nnodes workers as ranks node_rank x that ..., and
they meet node 0's rank 0 at runtime.master_addr:runtime.master_port.
"""
from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass

PR_SET_PDEATHSIG = 1
GRACE_SECONDS = 20
# after a Ctrl-C or SIGTERM the workers still running get it again this often, for this long
# (a worker that was starting when it came had it ignored; one already stopping ignores it)
RESEND_SECONDS = 2.0
RESEND_FOR_SECONDS = 9.0


def _die_with_parent(parent: int):
    def set_signal() -> None:
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):
            pass
        if os.getppid() != parent:   # the launcher died before the signal was armed
            os._exit(137)
        # ignored until the worker's own handlers are installed (the first lines of
        # runners.cli): a Ctrl-C while the interpreter starts would otherwise be an import's
        # traceback. One that lands in that moment is sent again (RESEND_SECONDS).
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    return set_signal


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def listed_accelerators() -> int:
    """Accelerators this launch may use: ASCEND_RT_VISIBLE_DEVICES / CUDA_VISIBLE_DEVICES when
    set, else what nvidia-smi or npu-smi lists; 0 on a machine with neither."""
    listed = os.environ.get("ASCEND_RT_VISIBLE_DEVICES") or os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed:
        return len([d for d in listed.split(",") if d.strip()])
    for command, marker in ((["nvidia-smi", "-L"], "GPU "), (["npu-smi", "info", "-l"], "NPU ID")):
        try:
            listing = subprocess.run(command, capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            continue
        count = sum(marker.lower() in line.lower() for line in listing.stdout.splitlines())
        if listing.returncode == 0 and count:
            return count
    return 0


def visible_devices() -> int:
    """The devices of this machine for runtime.dp: auto (1 on the CPU)."""
    return listed_accelerators() or 1


@dataclass
class Layout:
    """What this launcher starts: `nproc` workers of node `node_rank` of `nnodes`, ranks
    node_rank x nproc .. (node_rank + 1) x nproc - 1 of the job, so that each tensor-parallel
    group (tp consecutive ranks) lies within one node."""
    nproc: int
    nnodes: int
    node_rank: int
    master_addr: str
    master_port: int


def _per_node(runtime: dict, tp: int, dp) -> tuple[int | None, str | None]:
    """(dp of the whole job, or an error) for a multi-node job on this node's devices."""
    nnodes = runtime["nnodes"]
    devices = listed_accelerators() if runtime["device"] != "cpu" else 0
    if devices and devices % tp and dp == "auto":
        return None, (f"runtime.tp={tp} does not divide the {devices} devices of this node: "
                      "tensor parallelism stays within a node; choose a tp that divides them "
                      "or set runtime.dp")
    if devices and tp > devices:
        return None, (f"runtime.tp={tp} is more than the {devices} devices of this node: "
                      "tensor parallelism stays within a node")
    if dp == "auto":
        dp = nnodes * max(1, (devices or 1) // tp)
    if devices and tp * dp // nnodes > devices:
        return None, (f"runtime.tp={tp} x runtime.dp={dp} / runtime.nnodes={nnodes} = "
                      f"{tp * dp // nnodes} processes per node, but this node has {devices} "
                      "devices")
    return dp, None


def preflight(overrides: list[str]) -> tuple[int | None, list[str], Layout | None]:
    """Check the config in this process: (exit code when it is bad, the workers' overrides
    with runtime.dp made explicit, what this node starts)."""
    from runners.config import ConfigError, compose, harness_runtime, to_container
    from runners.validation import validate

    try:
        cfg = to_container(compose(overrides))
        validate(cfg)
    except ConfigError as err:
        print(f"modeltest: error: {err}", file=sys.stderr, flush=True)
        return 2, overrides, None
    # model.backend=vllm: one process, whose engine starts runtime.tp workers itself
    runtime = harness_runtime(cfg)
    tp, dp, nnodes = int(runtime["tp"]), runtime["dp"], runtime["nnodes"]
    if nnodes > 1:
        dp, error = _per_node(runtime, tp, dp)
        if error:
            print(f"modeltest: error: {error}", file=sys.stderr, flush=True)
            return 2, overrides, None
        if runtime["dp"] == "auto":
            overrides = [*overrides, f"runtime.dp={dp}"]
        return None, overrides, Layout(tp * dp // nnodes, nnodes, runtime["node_rank"],
                                       runtime["master_addr"], runtime["master_port"])
    if dp == "auto":   # conf/runtime/default.yaml: the visible devices / tp, at least 1
        dp = max(1, visible_devices() // tp)
        overrides = [*overrides, f"runtime.dp={dp}"]
    # one node: its workers meet on a free local port (launch), whatever master_* say
    return None, overrides, Layout(tp * int(dp), 1, 0, "127.0.0.1", 0)


def _stop(workers: list[subprocess.Popen], signum: int, grace: float) -> None:
    for worker in workers:
        if worker.poll() is None:
            try:
                worker.send_signal(signum)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(w.poll() is None for w in workers):
        time.sleep(0.05)
    for worker in workers:
        if worker.poll() is None:
            worker.kill()
            worker.wait()


def _exit_code(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode


def launch(layout: Layout, overrides: list[str]) -> int:
    command = [sys.executable, "-m", "runners.cli", *overrides]
    nproc, first = layout.nproc, layout.node_rank * layout.nproc
    if nproc == 1 and layout.nnodes == 1:   # one process: it simply becomes this one
        # ignored until runners.cli installs its handlers (an ignored signal stays ignored
        # across exec; scripts/launch.sh sends a Ctrl-C again while the process still runs)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        os.execv(sys.executable, command)
    # one node: a free port of its own; several: node 0's address and port, known to all
    address, port = ("127.0.0.1", str(_free_port())) if layout.nnodes == 1 else \
        (layout.master_addr, str(layout.master_port))
    workers: list[subprocess.Popen] = []
    received: list[float] = []      # when the first forwarded signal arrived
    forwarded: list[int] = []       # which signal

    def forward(signum, frame) -> None:
        received.append(time.monotonic())
        forwarded.append(signum)
        for worker in workers:
            if worker.poll() is None:
                try:
                    worker.send_signal(signum)
                except ProcessLookupError:
                    pass

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    for local in range(nproc):
        rank = first + local
        env = dict(os.environ, RANK=str(rank), LOCAL_RANK=str(local),
                   WORLD_SIZE=str(nproc * layout.nnodes), LOCAL_WORLD_SIZE=str(nproc),
                   GROUP_RANK=str(layout.node_rank), ROLE_RANK=str(rank),
                   MASTER_ADDR=address, MASTER_PORT=port)
        # as torchrun does: N processes must not each start a thread per core
        env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
        # a rank whose peer has stopped (Ctrl-C, a failure) must not print c10's warnings
        # with their C++ stack dumps (TCPStore "Connection reset by peer"): it says one
        # line through its own handling; errors still print
        env.setdefault("TORCH_CPP_LOG_LEVEL", "ERROR")
        workers.append(subprocess.Popen(command, env=env, preexec_fn=_die_with_parent(os.getpid())))
    failed_at: float | None = None
    failure = 0
    while any(w.poll() is None for w in workers):
        for worker in workers:
            code = worker.poll()
            if code not in (None, 0) and failed_at is None:
                failed_at, failure = time.monotonic(), _exit_code(code)
        if failed_at is not None and time.monotonic() - failed_at > GRACE_SECONDS:
            _stop(workers, signal.SIGTERM, 5.0)   # a peer failed and the rest hang
            break
        if received and time.monotonic() - received[0] > 60:   # asked to stop, still busy
            _stop(workers, signal.SIGKILL, 0.0)
            break
        if received and time.monotonic() - received[-1] >= RESEND_SECONDS and \
                time.monotonic() - received[0] <= RESEND_FOR_SECONDS:
            received.append(time.monotonic())
            for worker in workers:
                if worker.poll() is None:
                    try:
                        worker.send_signal(forwarded[0])
                    except ProcessLookupError:
                        pass
        time.sleep(0.05)
    main = workers[0].returncode
    if main is not None and main >= 0 and (main != 0 or not failure):
        return main
    return failure or _exit_code(main if main is not None else 1)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    nproc = None
    if argv[:1] == ["--nproc"]:
        try:
            nproc = int(argv[1])
        except (IndexError, ValueError):
            print("modeltest: error: --nproc needs a number", file=sys.stderr)
            return 2
        argv = argv[2:]
    if nproc is not None and nproc < 1:
        print(f"modeltest: error: {nproc} processes: need at least 1", file=sys.stderr)
        return 2
    try:
        code, argv, layout = preflight(argv)
    except KeyboardInterrupt:
        print("interrupted: nothing was written yet; rerun the same command to start again",
              file=sys.stderr, flush=True)
        return 130
    if code is not None:
        return code
    if nproc is not None:   # --nproc / NPROC: the workers of this node
        layout.nproc = nproc
    return launch(layout, argv)


if __name__ == "__main__":
    from runners import interrupt

    interrupt.install_early_handlers()     # a Ctrl-C before the workers start: one line
    if os.environ.pop("MODELTEST_DIE_WITH_PARENT", None):
        # started by scripts/launch.sh, which waits for it: a SIGKILL of that script
        # ends this launcher, and so (PR_SET_PDEATHSIG again) its workers
        _die_with_parent(os.getppid())()
        interrupt.install_early_handlers()   # _die_with_parent ignored them for a worker
    interrupt.leave(main())
