"""Data-parallel runs (runtime.dp=2 through scripts/mm_run.sh, CPU/gloo) in which no rank waits
for another after a batch: a slow rank does not hold the fast one back, rank 0's progress
follows every rank, a kill -9 loses no finished sample of any rank, aborts still stop the run.

The model is served by the local stub (tests/served_stub.py), so that one rank can be made
slow honestly: each worker sends its rank in a request header (`$RANK`, from the launcher's
environment) and the stub answers rank 1's requests late."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from inference.served.prompts import media_url
from runners.cli import main
from runners.demo import ensure_asset
from tests.served_stub import StubServer

ROOT = Path(__file__).resolve().parent.parent
TIMING_FIELDS = {"e2e_time", "first_token_time"}


def echo_backend(prompt, images, max_new):
    word = "yes" if len(prompt) % 2 else "no"
    return word, [(1, word)]


def overrides(url, out, *extra, rank_header=True):
    return ["model=served", f"model.endpoint={url}", "task=textvqa", "runtime.concurrency=1",
            "model.backoff=0.01", f"output_dir={out}", *extra,
            *(["+model.headers.X-Modeltest-Rank=$RANK"] if rank_header else [])]


def mm_run(url, out, *extra, **popen):
    # RANK=0 for the launcher's own config check; each worker gets its rank from the launcher
    env = dict(os.environ, PYTHON=sys.executable, OMP_NUM_THREADS="1", RANK="0")
    return subprocess.Popen(["bash", "scripts/mm_run.sh", "textvqa", "served", "runtime.dp=2",
                             *overrides(url, out, *extra)], cwd=ROOT, env=env, text=True,
                            start_new_session=True, **popen)


def lines(path: Path) -> list[dict]:
    """Complete JSON lines (a killed writer may leave a torn last one)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines(keepends=True)
            if line.endswith("\n")]


def samples(out: Path) -> Path:
    return out / "debug" / "samples.jsonl"


def part(out: Path) -> Path:
    return out / "debug" / "samples.dp1.jsonl"


def resent(done: list[dict], bodies: list[dict]) -> list:
    """The finished records whose question and image some request body carries again."""
    sent = [json.dumps(body) for body in bodies]
    return [r for r in done
            if any(json.dumps(r["prompt"])[1:-1] in body
                   and media_url(r["images"][0]).split(",", 1)[1] in body for body in sent)]


def without_timing(records):
    return sorted(({k: v for k, v in r.items() if k not in TIMING_FIELDS} for r in records),
                  key=lambda r: str(r["question_id"]))


def test_a_slow_rank_does_not_hold_the_fast_one_back(tmp_path):
    reference = tmp_path / "one_process"
    with StubServer("openai", echo_backend) as stub:
        assert main(overrides(stub.url, reference, rank_header=False)) == 0
        # rank 1's requests take 1.5 s each: its first batch (4 samples) ends after 6 s
        stub.delay_of = lambda headers: 1.5 if headers.get("X-Modeltest-Rank") == "1" else 0.0
        out = tmp_path / "dp2"
        first = len(stub.headers_seen)
        process = mm_run(stub.url, out, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        slow_rank_had = None
        deadline = time.time() + 400
        while time.time() < deadline and process.poll() is None:
            if len(lines(samples(out))) >= 6:      # rank 0 has written its whole share
                slow_rank_had = len(lines(part(out)))
                break
            time.sleep(0.01)
        _, err = process.communicate(timeout=400)
        ranks = {h.get("X-Modeltest-Rank") for h in stub.headers_seen[first:]}
    assert process.returncode == 0, err[-3000:]
    assert ranks == {"0", "1"}
    # with a collective after every batch, rank 0 could not end its second batch before rank 1
    # had ended its first
    assert slow_rank_had is not None and slow_rank_had < 4, slow_rank_had
    # rank 0's bar showed rank 1's first batch while rank 0 itself had nothing left to do
    assert "10/12" in err
    # the same reports as one process
    records = lines(samples(out))
    assert len(records) == 12 and len({r["fingerprint"] for r in records}) == 12
    assert without_timing(records) == without_timing(lines(samples(reference)))
    assert not part(out).exists()
    summary = json.loads((out / "results" / "summary.json").read_text())
    single = json.loads((reference / "results" / "summary.json").read_text())
    assert (summary["dp"], summary["num_samples"]) == (2, 12)
    assert summary["metrics"] == single["metrics"]
    assert sorted(summary) == sorted(single)
    batch_logs = sorted(path.name for path in (out / "debug").glob("output_*.txt"))
    assert len(batch_logs) == 2 and batch_logs[0] == batch_logs[1].replace(".txt", ".dp1.txt")


def test_kill_9_of_a_dp2_run_then_rerun_regenerates_nothing_finished(tmp_path):
    with StubServer("openai", echo_backend) as stub:
        stub.delay = 0.3
        process = mm_run(stub.url, tmp_path, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
        deadline = time.time() + 400
        while time.time() < deadline and process.poll() is None:
            if lines(samples(tmp_path)) and lines(part(tmp_path)):   # both ranks wrote
                break
            time.sleep(0.01)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        rank0, rank1 = lines(samples(tmp_path)), lines(part(tmp_path))
        done = rank0 + rank1
        assert rank0 and rank1 and len(done) < 12, (len(rank0), len(rank1))
        stub.delay = 0.0
        # the rerun's requests are told apart by a header of their own: a request of the
        # killed run may still be read by the stub's handler thread after the kill
        rerun = mm_run(stub.url, tmp_path, "+model.headers.X-Modeltest-Run=rerun",
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = rerun.communicate(timeout=400)
        bodies = [body for body, headers in zip(stub.requests, stub.headers_seen)
                  if headers.get("X-Modeltest-Run") == "rerun"]
    assert rerun.returncode == 0, err[-3000:]
    assert f"resuming: {len(done)} of 12 samples already done" in out
    assert not resent(done, bodies)            # warm-ups included: no finished sample again
    assert len(bodies) <= 12 - len(done) + 2   # the rest, and one warm-up per rank
    records = lines(samples(tmp_path))
    assert len(records) == 12 and len({r["fingerprint"] for r in records}) == 12
    by_fingerprint = {r["fingerprint"]: r for r in records}
    # what was stored is kept, timings too (the final records add their score fields)
    assert all({k: by_fingerprint[r["fingerprint"]][k] for k in r} == r for r in done)
    assert not part(tmp_path).exists()
    assert json.loads((tmp_path / "results" / "summary.json").read_text())["num_samples"] == 12


def test_a_failing_endpoint_stops_every_rank_and_a_rerun_finishes(tmp_path):
    with StubServer("openai", echo_backend) as stub:
        stub.fail_after = 6            # the warm-ups and 4 or 5 samples, then 500s
        process = mm_run(stub.url, tmp_path, "model.retries=1", stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
        _, err = process.communicate(timeout=400)
        assert process.returncode == 4, err[-3000:]
        said = [line for line in err.splitlines() if line.startswith("modeltest:")]
        assert len(said) == 1 and "HTTP 500" in said[0] and "samples.dp*.jsonl" in said[0], said
        done = lines(samples(tmp_path)) + lines(part(tmp_path))
        assert len(done) <= 5 and all(r["error"] is None for r in done)
        # the same endpoint, healthy again (another endpoint is another run identity)
        stub.fail_after = None
        stub.requests.clear()
        rerun = mm_run(stub.url, tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        _, err = rerun.communicate(timeout=400)
        assert not resent(done, stub.requests)
    assert rerun.returncode == 0, err[-3000:]
    assert len(lines(samples(tmp_path))) == 12 and not part(tmp_path).exists()


def test_too_many_errors_on_one_rank_abort_the_run(tmp_path):
    data = ensure_asset("data", "textvqa") / "textvqa_val.jsonl"
    questions = [json.loads(line)["question"] for line in data.read_text().splitlines()]
    with StubServer("openai", echo_backend) as stub:
        # two of rank 1's samples (every second one) are refused: 2 > 0.05 x 12
        stub.reject = lambda body: "too long" if any(
            json.dumps(q)[1:-1] in json.dumps(body) for q in (questions[1], questions[3])) \
            else None
        process = mm_run(stub.url, tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        _, err = process.communicate(timeout=400)
    assert process.returncode == 4, err[-3000:]
    said = [line for line in err.splitlines() if line.startswith("modeltest:")]
    assert len(said) == 1 and "runtime.max_error_rate=0.05" in said[0], said
    assert "too long" in said[0]
    assert not (tmp_path / "results" / "summary.json").exists()


def test_a_rerun_merges_the_parts_and_resume_false_drops_them(tmp_path, capsys):
    with StubServer("openai", echo_backend) as stub:
        assert main(overrides(stub.url, tmp_path, rank_header=False)) == 0
        finished = samples(tmp_path).read_text().splitlines(keepends=True)
        # as a killed dp=3 run leaves them: groups 1 and 2 wrote parts, one with a torn line
        samples(tmp_path).write_text("".join(finished[:4]))
        part(tmp_path).write_text("".join(finished[4:8]))
        (tmp_path / "debug" / "samples.dp2.jsonl").write_text(
            "".join(finished[8:]) + '{"question_id": 3')
        sent = len(stub.requests)
        assert main(overrides(stub.url, tmp_path, rank_header=False)) == 0
        assert len(stub.requests) == sent           # nothing generated again
        assert "resuming: 12 of 12 samples already done" in capsys.readouterr().out
        assert sorted(lines(samples(tmp_path)), key=str) == sorted(
            (json.loads(line) for line in finished), key=str)
        assert not list((tmp_path / "debug").glob("samples.dp*.jsonl"))
        part(tmp_path).write_text("".join(finished[4:8]))
        assert main(overrides(stub.url, tmp_path, "runtime.resume=false",
                              rank_header=False)) == 0
        assert len(stub.requests) == sent + 13      # the warm-up and all 12 again
    assert not part(tmp_path).exists() and len(lines(samples(tmp_path))) == 12
