"""runner=gate: gate an existing run's summary.json without re-running it."""
from __future__ import annotations

from modeltest.tasks.io import read_json, require_file
from runners.config import ConfigError, to_container
from runners.gating import apply_gate


def run(hydra_cfg) -> int:
    cfg = to_container(hydra_cfg)
    summary_file = cfg["runner"].get("summary")
    if not summary_file:
        raise ConfigError("runner.summary is not set (a run's results/summary.json)")
    path = require_file(summary_file, "runner.summary")
    summary = read_json(path)
    if not cfg["gate"].get("baseline") and not cfg["gate"].get("write_baseline"):
        raise ConfigError("runner=gate needs gate.baseline=<yaml> (or gate.write_baseline=<yaml>)")
    return apply_gate(cfg["gate"], summary, path.parent)
