"""A finished, partial or resumed run folder as the comparison reads it: its composed config,
its identity (task, prompt template, data with file hashes, the sample set), its per-sample
records, its per-step log-probabilities and its summary (with the environment manifest)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from modeltest.reports.logprobs_log import read_logprobs
from modeltest.reports.samples_log import part_paths, read_samples_log


class RunFolderError(ValueError):
    """A folder that is not a readable run; the message names the key and the file."""


@dataclass
class RunFolder:
    path: Path
    key: str                     # the setting that named it (runner.a / runner.b)
    config: dict
    identity: dict
    records: dict[str, dict]     # question id (as text) -> its last record
    logprobs: dict[str, dict]    # sample fingerprint -> its debug/logprobs.jsonl line
    summary: dict | None         # None while the run has not written its reports
    notes: list[str] = field(default_factory=list)

    @property
    def task(self) -> str:
        return str(self.identity.get("task"))

    @property
    def model(self) -> str:
        return str((self.identity.get("model") or {}).get("name"))

    @property
    def expected_samples(self) -> int | None:
        return ((self.identity.get("data") or {}).get("samples") or {}).get("count")

    @property
    def environment(self) -> dict | None:
        return (self.summary or {}).get("environment")

    def prompt_template(self) -> str | None:
        """The template the prompts were built from: the model's own for this task, else the
        task's (as runners/evaluation.py chooses it)."""
        own = ((self.identity.get("model") or {}).get("prompts") or {}).get(self.task)
        return own or self.identity.get("prompt_template")

    def logprobs_of(self, record: dict) -> dict | None:
        return self.logprobs.get(str(record.get("fingerprint")))


def _read_json(path: Path, key: str) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise RunFolderError(f"{key}: cannot read {path} ({err})") from None
    if not isinstance(value, dict):
        raise RunFolderError(f"{key}: {path} is not a JSON object")
    return value


def read_run(folder: str | Path, key: str) -> RunFolder:
    """The run in `folder` (its output_dir); `key` names the setting in errors."""
    path = Path(str(folder)).expanduser()
    if not path.is_dir():
        raise RunFolderError(f"{key}={folder}: no such folder")
    debug = path / "debug"
    samples = debug / "samples.jsonl"
    parts = part_paths(samples)
    if not samples.is_file() and not parts:
        raise RunFolderError(f"{key}={folder}: no debug/samples.jsonl (not a run's output_dir)")
    identity_file = debug / "run_identity.json"
    if not identity_file.is_file():
        raise RunFolderError(f"{key}={folder}: no debug/run_identity.json (a run of an older "
                             "harness; rerun it to compare)")
    identity = _read_json(identity_file, key)
    config_file = path / "config.yaml"
    try:
        config = yaml.safe_load(config_file.read_text(encoding="utf-8")) \
            if config_file.is_file() else {}
    except yaml.YAMLError as err:
        raise RunFolderError(f"{key}: cannot read {config_file} ({err})") from None
    records: dict[str, dict] = {}
    for file in ([samples] if samples.is_file() else []) + parts:
        try:
            for _, record in read_samples_log(file):
                if "question_id" not in record:
                    raise RunFolderError(f"{key}: {file}: a record without question_id")
                records[str(record["question_id"])] = record
        except ValueError as err:
            raise RunFolderError(f"{key}: {err}") from None
    summary_file = path / "results" / "summary.json"
    summary = _read_json(summary_file, key) if summary_file.is_file() else None
    notes = []
    if parts:
        notes.append(f"{key}: data-parallel parts not yet merged were read "
                     f"({', '.join(p.name for p in parts)})")
    if summary is None:
        notes.append(f"{key}: no results/summary.json (a stopped run): no environment manifest")
    elif "environment" not in summary:
        notes.append(f"{key}: its summary.json has no environment manifest (an older run, or "
                     "a resumed one that generated nothing)")
    try:
        logprobs = read_logprobs(debug)
    except ValueError as err:
        raise RunFolderError(f"{key}: {err}") from None
    return RunFolder(path, key, config or {}, identity, records, logprobs, summary, notes)
