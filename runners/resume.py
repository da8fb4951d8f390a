"""Resuming an accuracy run: records in debug/samples.jsonl are keyed by a fingerprint of
the model, the generation settings and the sample, so a rerun into the same output_dir skips
what is done, and a rerun with another model or settings is refused instead of mixed in."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from modeltest.reports.samples_log import read_samples_log
from modeltest.samples import Sample
from runners.config import ConfigError

IDENTITY_FILE = "run_identity.json"


def run_identity(cfg: dict) -> dict:
    """What decides a sample's prediction; the batch size and the device are left out, since
    greedy outputs are meant not to depend on them."""
    model = cfg["model"]
    return {
        "model": {key: model.get(key) for key in ("name", "adapter", "model_path", "dtype",
                                                   "prompts", "generation", "vision",
                                                   "trust_remote_code")},
        "task": cfg["task"]["name"],
        "prompt_template": cfg["task"].get("prompt_template"),
        "max_new_tokens": cfg["task"].get("max_new_tokens"),
    }


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


def prepare_resume(debug_dir: Path, cfg: dict, resume: bool) -> tuple[str, dict[str, dict]]:
    """(identity digest, {fingerprint: finished record}); starts clean when resume is off."""
    identity = run_identity(cfg)
    digest = _digest(identity)
    identity_path = debug_dir / IDENTITY_FILE
    samples_path = debug_dir / "samples.jsonl"
    if not resume:
        samples_path.unlink(missing_ok=True)
        identity_path.unlink(missing_ok=True)
    done: dict[str, dict] = {}
    if identity_path.is_file() and samples_path.is_file():
        previous = json.loads(identity_path.read_text(encoding="utf-8"))
        if previous != identity:
            changed = ", ".join(_differences(previous, identity)) or "settings"
            raise ConfigError(
                f"output_dir {debug_dir.parent} holds a run with other settings (differs in: "
                f"{changed}); choose another output_dir or set runtime.resume=false to start "
                "clean")
        records = []
        try:
            lines = read_samples_log(samples_path)
        except ValueError as err:
            raise ConfigError(f"{err}; fix or delete it, or set runtime.resume=false") from None
        for _, record in lines:
            key = record.get("fingerprint")
            if key and key not in done:
                done[key] = record
                records.append(record)
        _rewrite_clean(samples_path, records)
    elif samples_path.is_file():   # a folder from before fingerprints: nothing to trust
        samples_path.unlink()
    identity_path.write_text(json.dumps(identity, indent=1, default=str), encoding="utf-8")
    return digest, done
