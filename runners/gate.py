"""The gate wired into runs (policy: modeltest/gate.py): after an accuracy or score run, and
as `runner=gate` on an existing run's summary.json:

    modeltest runner=gate gate.baseline=<yaml> runner.summary=<summary.json>
"""
from __future__ import annotations

from pathlib import Path

from modeltest.gate import (GATE_FAILED_EXIT_CODE, BaselineError, check_gate, load_baseline,
                            write_baseline)
from modeltest.reports.gate_report import print_gate, write_junit, write_markdown
from modeltest.tasks.io import read_json, require_file
from runners.config import ConfigError, to_container


def apply_gate(gate_cfg: dict, summary: dict, results_dir: Path) -> int:
    """0 when no gate is set or every metric meets its baseline, else 3."""
    model, task, metrics = summary["model"], summary["task"], summary["metrics"]
    if (gate_cfg["baseline"] or gate_cfg["write_baseline"]) \
            and summary["scorer"]["metric"] is None:
        raise ConfigError(f"gate: task {task} has no metric of its own to gate on; score it "
                          "with runner.judge.model (and runner.judge.weights) and gate on "
                          "clip_score")
    try:
        if gate_cfg["write_baseline"]:
            if "headline_metrics" not in summary:
                raise ConfigError("the summary has no headline_metrics (written by an older "
                                  "modeltest); rescore the run with runner=score first")
            path = write_baseline(gate_cfg["write_baseline"], model, task, metrics,
                                  summary["headline_metrics"], float(gate_cfg["tolerance"]))
            print(f"baseline for {model} / {task} written to {path}")
        if not gate_cfg["baseline"]:
            return 0
        checks = check_gate(load_baseline(gate_cfg["baseline"]), model, task, metrics,
                            source=str(gate_cfg["baseline"]), partial=summary.get("partial"))
    except BaselineError as err:
        raise ConfigError(str(err)) from None
    write_junit(results_dir / "junit.xml", model, task, checks, bool(summary.get("demo_data")))
    write_markdown(results_dir / "gate_summary.md", model, task, checks,
                   bool(summary.get("demo_data")))
    print_gate(model, task, checks)
    return 0 if all(c.passed for c in checks) else GATE_FAILED_EXIT_CODE


def run(hydra_cfg) -> int:
    cfg = to_container(hydra_cfg)
    summary_file = cfg["runner"]["summary"]
    if not summary_file:
        raise ConfigError("runner.summary is not set (a run's results/summary.json)")
    path = require_file(summary_file, "runner.summary")
    summary = read_json(path)
    if not cfg["gate"]["baseline"] and not cfg["gate"]["write_baseline"]:
        raise ConfigError("runner=gate needs gate.baseline=<yaml> (or gate.write_baseline=<yaml>)")
    return apply_gate(cfg["gate"], summary, path.parent)
