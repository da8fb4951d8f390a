"""What runner=train keeps between a kill and a rerun: the step reached, the weights, the
optimizer's and scheduler's state, every rank's random number generators and the rows logged
so far, written atomically every runner.save_every steps. The data order needs no state of its
own: it is a function of the seed and the step (runners/train_data.py), both recorded here.

A rerun resumes only the same training: the identity (model, data, every setting that changes
the weights) must match, or the run is refused naming what differs."""
from __future__ import annotations

import os
import random
from pathlib import Path

import torch

from runners.config import ConfigError

STATE_FILE = "train_state.pt"
# runner keys that change only what is printed or when state is saved, not the weights
NOT_IDENTITY = ("log_every", "save_every", "save_dir", "folder")


def identity(cfg: dict, train_task: dict) -> dict:
    """Everything that changes the trained weights: the model, the training files the task's
    format reads, how a sample becomes a prompt, the runner's settings, the seed and dp."""
    from modeltest.tasks import data_paths, detect_format

    runner = {k: v for k, v in cfg["runner"].items() if k not in NOT_IDENTITY}
    prompt = {k: train_task[k] for k in ("prompt_template", "prompt_fields", "prompt_hook",
                                         "columns", "split", "image_suffix", "data_split")
              if k in train_task}
    return {"model": cfg["model"]["name"], "model_path": cfg["model"]["model_path"],
            "task": cfg["task"]["name"], "format": detect_format(train_task),
            "train_data": data_paths(train_task), "prompt": prompt, "runner": runner,
            "seed": cfg["seed"], "dp": cfg["runtime"]["dp"]}


def rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_state(folder: Path, state: dict) -> Path:
    """Write atomically: a killed writer leaves the previous state whole."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / STATE_FILE
    temporary = folder / f".{STATE_FILE}.{os.getpid()}.tmp"
    torch.save(state, temporary)
    with open(temporary, "rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(temporary, target)
    return target


def load_state(folder: Path, expected: dict) -> dict | None:
    """The saved state when there is one for this same training, else None; a state of
    another training is a ConfigError naming what differs."""
    path = folder / STATE_FILE
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:   # a torn or foreign file: say what to do
        raise ConfigError(f"{path}: unreadable training state ({type(err).__name__}: {err}); "
                          "delete it to start again, or set runtime.resume=false") from None
    differs = _differences(state.get("identity", {}), expected)
    if differs:
        raise ConfigError(f"{path}: this output_dir holds another training ({'; '.join(differs[:5])}); "
                          "use another output_dir, or runtime.resume=false to start again")
    return state


def _differences(saved, expected, prefix: str = "") -> list[str]:
    if isinstance(saved, dict) and isinstance(expected, dict):
        out = []
        for key in sorted(set(saved) | set(expected)):
            out += _differences(saved.get(key), expected.get(key), f"{prefix}{key}.")
        return out
    if saved != expected:
        return [f"{prefix.rstrip('.')}: {saved!r} before, {expected!r} now"]
    return []
