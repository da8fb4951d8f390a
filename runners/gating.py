"""Applying `gate.*` to a finished run's summary: baseline check, reports, exit code."""
from __future__ import annotations

from pathlib import Path

from modeltest.gate import (GATE_FAILED_EXIT_CODE, BaselineError, check_gate, load_baseline,
                            write_baseline)
from modeltest.reports.gate_report import print_gate, write_junit, write_markdown
from runners.config import ConfigError


def apply_gate(gate_cfg: dict | None, summary: dict, results_dir: Path) -> int:
    """0 when no gate is set or every metric meets its baseline, else 3."""
    gate_cfg = gate_cfg or {}
    model, task, metrics = summary["model"], summary["task"], summary["metrics"]
    if (gate_cfg.get("baseline") or gate_cfg.get("write_baseline")) \
            and (summary.get("scorer") or {"metric": ""}).get("metric") is None:
        raise ConfigError(f"gate: task {task} has no metric of its own to gate on; score its "
                          "captions with runner.judge.model (and runner.judge.weights) and "
                          "gate on clip_score")
    try:
        if gate_cfg.get("write_baseline"):
            path = write_baseline(gate_cfg["write_baseline"], model, task, metrics,
                                  float(gate_cfg.get("tolerance", 1.0)))
            print(f"baseline for {model} / {task} written to {path}")
        if not gate_cfg.get("baseline"):
            return 0
        checks = check_gate(load_baseline(gate_cfg["baseline"]), model, task, metrics,
                            source=str(gate_cfg["baseline"]))
    except BaselineError as err:
        raise ConfigError(str(err)) from None
    write_junit(results_dir / "junit.xml", model, task, checks, bool(summary.get("demo_data")))
    write_markdown(results_dir / "gate_summary.md", model, task, checks,
                   bool(summary.get("demo_data")))
    print_gate(model, task, checks)
    return 0 if all(c.passed for c in checks) else GATE_FAILED_EXIT_CODE
