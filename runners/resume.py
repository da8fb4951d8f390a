"""Resuming an accuracy run: records in debug/samples.jsonl are keyed by a fingerprint of
the model, the generation settings and the sample, so a rerun into the same output_dir skips
what is done, and a rerun with another model or settings is refused instead of mixed in.
A stopped data-parallel run's parts (debug/samples.dp<k>.jsonl) count as done too: they are
merged into samples.jsonl here, then removed."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from inference.checkpoint_fingerprint import checkpoint_fingerprint
from modeltest.reports.atomic import write_text_atomic
from modeltest.reports.logprobs_log import keep_logprobs
from modeltest.reports.samples_log import part_paths, read_samples_log
from modeltest.samples import Sample
from runners.config import ConfigError
from runners.models import generation_settings
from runners.data_identity import data_identity

IDENTITY_FILE = "run_identity.json"


def run_identity(cfg: dict, samples: list[Sample] | None = None) -> dict:
    """What decides a sample's prediction, and the data evaluated: the model settings, the
    effective generation settings (the checkpoint's generation_config.json included where
    applied), the checkpoint's content (inference/checkpoint_fingerprint.py; every byte with
    runtime.verify_weights), a served model's endpoint and name, the dtype and the backend.
    The batch size and the device are left out, since greedy outputs are meant not to depend
    on them."""
    model = cfg["model"]
    settings = {key: model[key] for key in ("name", "adapter", "model_path", "dtype",
                                            "prompts", "generation", "vision",
                                            "trust_remote_code")}
    # keys only some families have (the prompt's system message, a served model's endpoint,
    # API and name, a backend): part of the identity where a model yaml sets them
    settings.update({key: model[key] for key in ("system_message", "endpoint", "api",
                                                 "served_model", "backend")
                     if key in model})
    identity = {
        "model": settings,
        "generation": generation_settings(model).record(),
        "checkpoint": checkpoint_fingerprint(model["model_path"],
                                             full=bool(cfg["runtime"]["verify_weights"])),
        "task": cfg["task"]["name"],
        "prompt_template": cfg["task"]["prompt_template"],
        "max_new_tokens": cfg["task"]["max_new_tokens"],
        "data": data_identity(cfg["task"], samples or []),
    }
    if cfg["runtime"]["logprobs"]:   # reaches generate and the server: a run records the
        identity["logprobs"] = cfg["runtime"]["logprobs"]   # log-probabilities of all or none
    return identity


def _digest(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def sample_fingerprint(identity_digest: str, sample: Sample) -> str:
    return _digest([identity_digest, str(sample.question_id), sample.prompt, sample.images,
                    sample.video, sample.references])[:24]


def _differences(old: dict, new: dict, prefix: str = "") -> list[str]:
    keys = sorted(set(old) | set(new))
    found = []
    for key in keys:
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            found += _differences(a, b, f"{prefix}{key}.")
        elif a != b:
            found.append(f"{prefix}{key}")
    return found


def _rewrite_clean(path: Path, records: list[dict]) -> None:
    """Rewrite samples.jsonl without a torn tail or duplicates (atomically)."""
    temporary = path.with_suffix(".jsonl.tmp")
    with open(temporary, "w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def _read_identity(path: Path) -> dict:
    try:
        identity = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(identity, dict):
            raise ValueError("not a JSON object")
        return identity
    except (ValueError, UnicodeDecodeError) as err:
        raise ConfigError(
            f"{path} is damaged ({err}), so this folder's earlier run cannot be checked; "
            f"delete {path.parent.parent} or set runtime.resume=false to start clean, "
            "or choose another output_dir") from None


def prepare_resume(debug_dir: Path, cfg: dict, resume: bool,
                   samples: list[Sample] | None = None) -> tuple[str, dict[str, dict], int]:
    """(identity digest, {fingerprint: finished record}, number of failed records dropped
    for a retry); starts clean when resume is off. Nothing is written when the folder holds
    another run."""
    identity = json.loads(json.dumps(run_identity(cfg, samples), default=str))
    digest = _digest(identity)
    identity_path = debug_dir / IDENTITY_FILE
    samples_path = debug_dir / "samples.jsonl"
    parts = part_paths(samples_path)
    if not resume:
        for path in (samples_path, *parts):
            path.unlink(missing_ok=True)
        identity_path.unlink(missing_ok=True)
        keep_logprobs(debug_dir, None)
        parts = []
    done: dict[str, dict] = {}
    failed = 0
    if identity_path.is_file() and (samples_path.is_file() or parts):
        previous = _read_identity(identity_path)
        if previous != identity:
            differences = _differences(previous, identity)
            changed = ", ".join(differences[:6]) or "settings"
            if len(differences) > 6:
                changed += f" and {len(differences) - 6} more"
            raise ConfigError(
                f"output_dir {debug_dir.parent} holds a run with other settings (differs in: "
                f"{changed}); choose another output_dir or set runtime.resume=false to start "
                "clean")
        lines = []
        for path in (samples_path, *parts):
            if not path.is_file():
                continue
            try:
                lines += read_samples_log(path)
            except ValueError as err:
                raise ConfigError(f"{err}; fix or delete it, or set runtime.resume=false") \
                    from None
        for _, record in lines:   # the last record of a sample wins
            key = record.get("fingerprint")
            if key:
                done[key] = record
        failed = sum(1 for record in done.values() if record.get("error"))
        # a failed sample (missing media, an exception) is tried again on every rerun
        done = {key: record for key, record in done.items() if not record.get("error")}
        records = list(done.values())
        _rewrite_clean(samples_path, records)
        for path in parts:   # merged (and fsynced) above
            path.unlink()
        keep_logprobs(debug_dir, set(done))   # runtime.logprobs: the kept samples' lines
    else:   # a folder from before fingerprints: nothing to trust
        for path in (samples_path, *parts):
            path.unlink(missing_ok=True)
        keep_logprobs(debug_dir, None)
    debug_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(identity_path, json.dumps(identity, indent=1, default=str))
    return digest, done, failed
