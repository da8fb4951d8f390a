"""The run identity covers what changes answers (issue 20, item 3): the checkpoint's content,
a served model's endpoint, the generation settings, the dtype and the backend. A rerun into
the same folder that differs in any of them is refused (exit 2, naming what differs) instead
of resuming with another model's answers."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from runners.cli import main
from runners.demo import ensure_asset
from tests.served_stub import StubServer


def _copy_demo(tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    shutil.copytree(ensure_asset("models", "qwen2_vl"), folder)
    return folder


def _run(model: Path, out: Path, *extra: str) -> int:
    return main(["model=demo_qwen2_vl", f"model.model_path={model}", "task=textvqa",
                 "task.limit=3", f"output_dir={out}", *extra])


def _overwrite_weights(model: Path, keep_time: bool) -> None:
    """Change some weight bytes in place (same size, same header)."""
    weights = model / "model.safetensors"
    stat = weights.stat()
    data = bytearray(weights.read_bytes())
    header = 8 + int.from_bytes(data[:8], "little")
    for offset in range(header + 16, len(data), 4096):
        data[offset] ^= 0x5A
    weights.write_bytes(bytes(data))
    if keep_time:
        os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_weights_changed_in_place_are_refused(tmp_path, capsys):
    model, out = _copy_demo(tmp_path), tmp_path / "out"
    assert _run(model, out) == 0
    assert _run(model, out) == 0                      # unchanged: resumes (nothing to do)
    assert "resuming: 3 of 3" in capsys.readouterr().out
    _overwrite_weights(model, keep_time=False)
    assert _run(model, out) == 2
    err = capsys.readouterr().err
    assert "checkpoint.model.safetensors" in err and "holds a run with other settings" in err


def test_verify_weights_sees_bytes_that_sizes_and_times_do_not(tmp_path, capsys):
    model, out = _copy_demo(tmp_path), tmp_path / "out"
    assert _run(model, out, "runtime.verify_weights=true") == 0
    identity = json.loads((out / "debug" / "run_identity.json").read_text())
    assert "sha256" in identity["checkpoint"]["model.safetensors"]
    _overwrite_weights(model, keep_time=True)        # same size, time and header
    assert _run(model, out, "runtime.verify_weights=true") == 2
    assert "checkpoint.model.safetensors.sha256" in capsys.readouterr().err


@pytest.mark.parametrize("override", ["model.dtype=bf16", "model.generation.repetition_penalty=1.1"])
def test_dtype_and_generation_settings_are_part_of_the_identity(tmp_path, capsys, override):
    model, out = ensure_asset("models", "qwen2_vl"), tmp_path / "out"
    assert _run(model, out) == 0
    assert _run(model, out, override) == 2
    key = override.split("=")[0].removeprefix("model.")
    assert key.split(".")[-1] in capsys.readouterr().err


def echo_backend(prompt, images, max_new):
    word = "yes" if len(prompt) % 2 else "no"
    return word, [(1, word)]


def test_another_endpoint_is_refused(tmp_path, capsys):
    out = tmp_path / "out"

    def served(url):
        return main(["model=served", f"model.endpoint={url}", "model.served_model=stub-model",
                     "task=textvqa", "task.limit=3", "model.backoff=0.01",
                     f"model.model_path={ensure_asset('models', 'qwen2_vl')}",
                     f"output_dir={out}"])

    with StubServer("openai", echo_backend) as first, StubServer("openai", echo_backend) as other:
        assert served(first.url) == 0
        assert served(other.url) == 2
        assert other.requests == []                  # refused before any request
    err = capsys.readouterr().err
    assert "model.endpoint" in err
