"""Multi-node runs (runtime.nnodes=2) with two "nodes" on 127.0.0.1 (gloo): each node is its own
scripts/mm_run.sh, started by the test with its runtime.node_rank, both writing to one folder.

- two nodes (tp=2 inside each) give the records (order, predictions, token ids), the metrics and
  the run identity of a one-node run with the same total dp;
- a node killed with SIGKILL mid-run makes the other stop within a bounded time with one line
  and a non-zero exit; rerunning both nodes generates nothing that was finished and ends with
  the one-node result (the model is the local stub server, so that the run is slow enough to
  be killed in the middle and every request is counted);
- inconsistent settings are one line and exit code 2 before any model loads; a node whose
  partner never comes stops after runtime.join_timeout; Slurm's srun variables give the
  defaults."""
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runners import launch
from runners.cli import main
from runners.config import ConfigError, compose, to_container
from runners.slurm import first_host
from runners.validation import validate
from tests.served_stub import StubServer
from tests.test_data_parallel import echo_backend, lines, resent, without_timing

ROOT = Path(__file__).resolve().parent.parent
TIMING_FIELDS = {"e2e_time", "first_token_time"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_node(node_rank: int, port: int, task: str, model: str, *extra: str,
               nnodes: int = 2) -> subprocess.Popen:
    """One node: scripts/mm_run.sh in its own session (its own process group, as on its
    own machine)."""
    env = dict(os.environ, PYTHON=sys.executable, OMP_NUM_THREADS="1")
    return subprocess.Popen(
        ["bash", "scripts/mm_run.sh", task, model, f"runtime.nnodes={nnodes}",
         f"runtime.node_rank={node_rank}", "runtime.master_addr=127.0.0.1",
         f"runtime.master_port={port}", *extra],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True)


def finish(process: subprocess.Popen, timeout: float = 600) -> tuple[int, str, str]:
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        pytest.fail(f"a node did not stop within {timeout} s: {err[-2000:]}")
    return process.returncode, out, err


def said(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("modeltest:")]


def records(out: Path) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in TIMING_FIELDS}
            for r in lines(out / "debug" / "samples.jsonl")]


def test_two_nodes_give_the_one_node_result(tmp_path):
    one = tmp_path / "one_node"
    env = dict(os.environ, PYTHON=sys.executable, OMP_NUM_THREADS="1")
    reference = subprocess.run(
        ["bash", "scripts/mm_run.sh", "textvqa", "demo_qwen2_vl", "runtime.dp=2",
         f"output_dir={one}"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert reference.returncode == 0, reference.stderr[-3000:]

    two = tmp_path / "two_nodes"
    port = free_port()
    # tp=2 inside each node, dp=2 across the two: ranks 0-1 on node 0, ranks 2-3 on node 1
    nodes = [start_node(rank, port, "textvqa", "demo_qwen2_vl", "runtime.tp=2",
                        f"output_dir={two}") for rank in (0, 1)]
    results = [finish(node) for node in nodes]
    assert [code for code, _, _ in results] == [0, 0], [err[-3000:] for _, _, err in results]
    assert not said(results[1][2]) and "reports:" in results[0][1]

    # the same records in the same order: ids, prompts, predictions, token ids
    assert records(two) == records(one)
    assert len(records(two)) == 12 and all(r["output_ids"] for r in records(two))
    assert not list((two / "debug").glob("samples.dp*.jsonl"))
    summary = json.loads((two / "results" / "summary.json").read_text())
    single = json.loads((one / "results" / "summary.json").read_text())
    assert summary["metrics"] == single["metrics"] and sorted(summary) == sorted(single)
    # the topology is recorded; the run identity is the one-node run's
    assert (summary["tp"], summary["dp"], summary["nnodes"]) == (2, 2, 2)
    assert (single["tp"], single["dp"], single["nnodes"]) == (1, 2, 1)
    assert json.loads((two / "debug" / "run_identity.json").read_text()) == \
        json.loads((one / "debug" / "run_identity.json").read_text())
    batch_logs = sorted(path.name for path in (two / "debug").glob("output_*.txt"))
    assert len(batch_logs) == 2     # one per data-parallel group, one group per node


def served(url: str, out: Path, *extra: str) -> list[str]:
    return [f"model.endpoint={url}", "runtime.concurrency=1", "model.backoff=0.01",
            "runtime.node_timeout=8", f"output_dir={out}", *extra]


@pytest.mark.parametrize("victim", [1, 0])
def test_a_killed_node_stops_every_node_and_a_rerun_resumes(tmp_path, victim):
    reference = tmp_path / "one_process"
    out = tmp_path / "two_nodes"
    with StubServer("openai", echo_backend) as stub:
        assert main(["model=served", "task=textvqa", *served(stub.url, reference)]) == 0
        # 6 samples a node, one request at a time: 1 s each, 2 s on the node to be killed, so
        # that it is killed with its share unfinished whichever node starts first
        stub.delay = 1.0
        stub.delay_of = lambda headers: 1.0 if headers.get("X-Modeltest-Rank") == str(victim) \
            else 0.0
        port = free_port()
        nodes = [start_node(rank, port, "textvqa", "served", *served(stub.url, out),
                            "+model.headers.X-Modeltest-Rank=$RANK") for rank in (0, 1)]
        deadline = time.time() + 300
        parts = [out / "debug" / "samples.jsonl", out / "debug" / "samples.dp1.jsonl"]
        while time.time() < deadline and all(n.poll() is None for n in nodes):
            if all(lines(path) for path in parts):   # both nodes have written a sample
                break
            time.sleep(0.05)
        assert all(n.poll() is None for n in nodes), [finish(n)[2][-2000:] for n in nodes]
        os.killpg(nodes[victim].pid, signal.SIGKILL)   # the node's machine goes away
        killed_at = time.monotonic()
        nodes[victim].wait()
        survivor = nodes[1 - victim]
        code, _, err = finish(survivor, timeout=120)
        stopped_after = time.monotonic() - killed_at
        done = lines(parts[0]) + lines(parts[1])
        assert code != 0, err[-3000:]
        # node_timeout (8 s) and the batch in flight, with room for a loaded machine
        assert stopped_after < 60, stopped_after
        assert len(said(err)) == 1, err[-3000:]
        assert f"node {victim}" in said(err)[0] and "rerun the same command" in said(err)[0]
        assert "Traceback" not in err
        assert 2 <= len(done) < 12, len(done)
        print(f"node {1 - victim} stopped {stopped_after:.1f} s after node {victim} was killed, "
              f"{len(done)} of 12 samples kept: {said(err)[0]}")

        stub.delay, stub.delay_of = 0.0, None
        sent_before = len(stub.requests)
        port = free_port()
        reruns = [start_node(rank, port, "textvqa", "served", *served(stub.url, out))
                  for rank in (0, 1)]
        results = [finish(node) for node in reruns]
        bodies = stub.requests[sent_before:]
    assert [c for c, _, _ in results] == [0, 0], [e[-3000:] for _, _, e in results]
    assert f"resuming: {len(done)} of 12 samples already done" in results[0][1]
    assert not resent(done, bodies)              # warm-ups included: nothing finished again
    assert len(bodies) <= 12 - len(done) + 2     # the rest, and one warm-up per node
    final = lines(out / "debug" / "samples.jsonl")
    assert len(final) == 12 and not list((out / "debug").glob("samples.dp*.jsonl"))
    kept = {r["fingerprint"]: r for r in final}
    assert all({k: kept[r["fingerprint"]][k] for k in r} == r for r in done)  # timings too
    assert without_timing(final) == without_timing(lines(reference / "debug" / "samples.jsonl"))
    assert json.loads((out / "results" / "summary.json").read_text())["metrics"] == \
        json.loads((reference / "results" / "summary.json").read_text())["metrics"]


def test_nodes_with_different_folders_stop_with_one_line_each(tmp_path):
    with StubServer("openai", echo_backend) as stub:
        port = free_port()
        nodes = [start_node(rank, port, "textvqa", "served",
                            *served(stub.url, tmp_path / f"node{rank}")) for rank in (0, 1)]
        results = [finish(node, timeout=300) for node in nodes]
        assert not stub.requests     # stopped before anything was generated
    for code, _, err in results:
        assert code == 2, err[-3000:]
        assert len(said(err)) == 1 and "give every node the same output_dir" in said(err)[0]


def test_a_node_whose_partner_never_comes_stops_after_join_timeout(tmp_path):
    started = time.monotonic()
    node = start_node(1, free_port(), "textvqa", "served", "model.endpoint=http://127.0.0.1:9",
                      "runtime.join_timeout=3", f"output_dir={tmp_path}")
    code, _, err = finish(node, timeout=120)
    assert code == 2, err[-3000:]
    assert len(said(err)) == 1 and "did not all meet at 127.0.0.1:" in said(err)[0]
    assert "within 3 s" in said(err)[0]
    assert time.monotonic() - started < 90


@pytest.mark.parametrize("settings, message", [
    (["runtime.nnodes=2", "runtime.node_rank=2"], "runtime.node_rank=2: must be below "
                                                  "runtime.nnodes=2"),
    (["runtime.nnodes=2", "runtime.dp=3"], "runtime.dp=3 data-parallel groups cannot be "
                                           "shared evenly by runtime.nnodes=2"),
    (["runtime.nnodes=2", "runner=performance"], "runner=performance runs on one node"),
    (["runtime.nnodes=2", "runtime.master_port=70000"], "runtime.master_port=70000: must be "
                                                        "between 1 and 65535"),
    (["runtime.nnodes=2", "runtime.node_timeout=0"], "runtime.node_timeout=0: must be above 0"),
])
def test_inconsistent_settings_are_one_line_before_any_worker(capsys, settings, message):
    assert launch.main(["task=textvqa", *settings]) == 2
    err = capsys.readouterr().err
    assert said(err) == [line for line in err.splitlines() if line.strip()]
    assert len(said(err)) == 1 and message in said(err)[0], err


def test_tensor_parallelism_stays_within_a_node(capsys, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2")
    assert launch.main(["task=textvqa", "runtime.device=cuda", "runtime.nnodes=2",
                        "runtime.tp=2"]) == 2
    assert "runtime.tp=2 does not divide the 3 devices of this node" in capsys.readouterr().err
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2,3")
    assert launch.main(["task=textvqa", "runtime.device=cuda", "runtime.nnodes=2",
                        "runtime.tp=2", "runtime.dp=6"]) == 2
    assert "= 6 processes per node, but this node has 4 devices" in capsys.readouterr().err
    # dp: auto is the whole job's: 2 nodes x 4 devices / tp 2
    code, overrides, layout = launch.preflight(["task=textvqa", "runtime.device=cuda",
                                                "runtime.nnodes=2", "runtime.node_rank=1",
                                                "runtime.tp=2"])
    assert code is None and overrides[-1] == "runtime.dp=4"
    assert (layout.nproc, layout.nnodes, layout.node_rank) == (4, 2, 1)


SLURM_STEP = {"SLURM_STEP_NUM_NODES": "2", "SLURM_STEP_NUM_TASKS": "2", "SLURM_PROCID": "1",
              "SLURM_NODEID": "1", "SLURM_STEP_NODELIST": "gpu[07-08]", "SLURM_JOB_ID": "4242",
              "SLURM_NNODES": "2", "SLURM_JOB_NODELIST": "gpu[07-08]"}


def runtime(monkeypatch, env: dict, *overrides: str) -> dict:
    for key in [*SLURM_STEP, "MASTER_ADDR", "MASTER_PORT"]:
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    cfg = to_container(compose(list(overrides)))
    validate(cfg)
    return {key: cfg["runtime"][key] for key in ("nnodes", "node_rank", "master_addr",
                                                 "master_port")}


def test_srun_sets_the_nodes(monkeypatch):
    assert runtime(monkeypatch, {}) == {"nnodes": 1, "node_rank": 0,
                                        "master_addr": "127.0.0.1", "master_port": 29500}
    # inside srun: the step's nodes, the task's rank, its first host, a port from the job id
    assert runtime(monkeypatch, SLURM_STEP) == {"nnodes": 2, "node_rank": 1,
                                                "master_addr": "gpu07", "master_port": 24242}
    assert runtime(monkeypatch, {**SLURM_STEP, "MASTER_ADDR": "head", "MASTER_PORT": "1234"}) \
        == {"nnodes": 2, "node_rank": 1, "master_addr": "head", "master_port": 1234}
    # the command line still wins
    assert runtime(monkeypatch, SLURM_STEP, "runtime.nnodes=1", "runtime.node_rank=0")[
        "nnodes"] == 1
    # a batch script without srun (no job step) is one node
    batch = {k: v for k, v in SLURM_STEP.items() if not k.startswith("SLURM_STEP")}
    assert runtime(monkeypatch, batch)["nnodes"] == 1
    with pytest.raises(ConfigError, match=r"srun started 4 tasks on 2 nodes: start one task "
                                          r"per node \(srun --ntasks-per-node=1\)"):
        runtime(monkeypatch, {**SLURM_STEP, "SLURM_STEP_NUM_TASKS": "4"})


@pytest.mark.parametrize("nodelist, host", [
    ("gpu[07-09,12],cpu1", "gpu07"), ("node1,node2", "node1"), ("a-b[001-004]", "a-b001"),
    ("single", "single"), ("rack1-[3,5]", "rack1-3"),
])
def test_first_host_of_a_slurm_node_list(nodelist, host):
    assert first_host(nodelist) == host


def test_nodes_reading_other_samples_are_refused(monkeypatch, tmp_path):
    """Node 1 reads another data file than node 0 (the split of the work would differ): the
    same line on every rank (the gather is the one collective; here, what it would bring)."""
    from inference.distributed import Parallel
    from runners import nodes

    parallel = Parallel(rank=0, world_size=4, dp=2, tp=2, node_size=2)
    folder = str(tmp_path.resolve())
    monkeypatch.setattr(nodes, "all_gather", lambda parallel, value: [
        value, (0, folder, value[2], True), (1, folder, "other", True), (1, folder, "other", True)])
    with pytest.raises(ConfigError, match=r"runtime.nnodes=2: node 1 \(rank 2\) reads other "
                                          r"samples than node 0"):
        nodes.check_nodes_agree(parallel, tmp_path, tmp_path / "debug", "digest", ["a", "b"])
    monkeypatch.setattr(nodes, "all_gather", lambda parallel, value: [value] * 4)
    nodes.check_nodes_agree(parallel, tmp_path, tmp_path / "debug", "digest", ["a", "b"])
