"""bench_eval.py's side of `--peer lmms-eval`: finds the peer, writes the samples as a local
`datasets` copy it can read offline, runs scripts/peer_lmms_eval.py in the peer's own Python
(a subprocess: lmms-eval's pins never meet this project's venv) and compares the answers."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PEER_VERSION = "0.7.3"   # the version the README's table was measured with
DRIVER = Path(__file__).with_name("peer_lmms_eval.py")
INSTALL = (f"python3.11 -m venv <venv> && <venv>/bin/pip install lmms-eval=={PEER_VERSION} "
           "decord 'filelock<4' (see the README's bench_eval section), then --peer-python "
           "<venv>/bin/python")


def lmms_eval_version(python: str) -> str | None:
    """The lmms-eval version installed for `python`, None when it has none (or no such
    Python). Reads the package metadata only: importing lmms-eval takes seconds."""
    probe = ("import importlib.metadata as m\n"
             "try: print(m.version('lmms_eval'))\n"
             "except m.PackageNotFoundError: pass\n")
    try:
        found = subprocess.run([python, "-c", probe], capture_output=True, text=True,
                               timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return found.stdout.strip() or None


def parse_batch_sizes(text: str) -> list[int]:
    """`1,4,8` -> [1, 4, 8]; batch 1 is always run (batched answers are compared with it)."""
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"--peer-batch-sizes: {text!r} is not a comma-separated list of "
                         "integers") from None
    if not sizes or min(sizes) < 1:
        raise ValueError(f"--peer-batch-sizes: {text!r} needs batch sizes of at least 1")
    return sorted(set(sizes) | {1})


def write_peer_copy(samples, folder: Path) -> Path:
    """The samples as a `datasets` DatasetDict on disk (split `validation`): the prompt this
    harness built, the image file's own bytes as the Image feature, ids to match back."""
    import datasets

    for sample in samples:
        if len(sample.images) != 1 or sample.video:
            raise ValueError(f"--peer lmms-eval: sample {sample.question_id} has "
                             f"{len(sample.images)} images{' and a video' if sample.video else ''}"
                             "; the peer comparison takes one image per sample")
    datasets.disable_progress_bars()
    table = datasets.Dataset.from_dict({
        "request_id": [str(i) for i in range(len(samples))],
        "question_id": [str(s.question_id) for s in samples],
        "prompt": [s.prompt for s in samples],
        "image": [{"bytes": Path(s.images[0]).read_bytes(), "path": Path(s.images[0]).name}
                  for s in samples],
    }).cast_column("image", datasets.Image())
    datasets.DatasetDict({"validation": table}).save_to_disk(str(folder))
    return folder


def run_lmms_eval(python: str, job: dict, folder: Path, say) -> dict:
    """Runs the driver in the peer's Python, offline; its progress goes to our stderr."""
    folder.mkdir(parents=True, exist_ok=True)
    job_path, result_path = folder / "job.json", folder / "result.json"
    job_path.write_text(json.dumps(job, indent=2))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "HF_HOME": str(folder / "hf_home"), "WANDB_MODE": "disabled",
           "TOKENIZERS_PARALLELISM": "false"}
    env.pop("PYTHONPATH", None)     # the peer sees its own packages, not this project's
    say(f"running lmms-eval in {python} (batch sizes {job['batch_sizes']}) ...")
    done = subprocess.run([python, str(DRIVER), str(job_path), str(result_path)], env=env,
                          cwd=folder, stdout=sys.stderr, stderr=sys.stderr)
    if done.returncode != 0 or not result_path.exists():
        raise RuntimeError(f"lmms-eval peer failed (exit {done.returncode}); its output is "
                           "above")
    return json.loads(result_path.read_text())


def differing(a: list, b: list) -> list[int]:
    """Indices where two equally long answer lists differ."""
    if len(a) != len(b):
        raise ValueError(f"answer lists of {len(a)} and {len(b)} samples")
    return [i for i, (x, y) in enumerate(zip(a, b)) if x != y]
