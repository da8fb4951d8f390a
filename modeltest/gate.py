"""CI accuracy gates: compare a run's metrics with a baseline file.

Baseline YAML: `<model>: <task>: <metric>: {min: x}` or `{value: x, tolerance: t}`.
A metric is an overall metric name (`accuracy`, `exact_match`, `final_score`, `clip_score`) or
`<subject>/<metric>` (e.g. `MSVD/accuracy`). Values are in the reports' units (percent).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from modeltest.reports.atomic import write_text_atomic

GATE_FAILED_EXIT_CODE = 3


class BaselineError(ValueError):
    """An unreadable baseline file, or one with no entry for this model and task."""


@dataclass
class GateCheck:
    metric: str
    value: float | None
    rule: str
    passed: bool
    detail: str = ""


def load_baseline(path: str | Path) -> dict:
    path = Path(str(path)).expanduser()
    if not path.is_file():
        raise BaselineError(f"gate.baseline={path}: no such file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise BaselineError(f"gate.baseline={path}: invalid YAML ({err})") from None
    if not isinstance(data, dict):
        raise BaselineError(f"gate.baseline={path}: expected <model>: <task>: <metric>: ...")
    return data


def metric_value(metrics: dict, name: str) -> float | None:
    subject, _, metric = name.rpartition("/")
    value = metrics.get(subject or "overall", {}).get(metric)
    return float(value) if isinstance(value, (int, float)) else None


def check_gate(baseline: dict, model: str, task: str, metrics: dict,
               source: str = "baseline") -> list[GateCheck]:
    rules = (baseline.get(model) or {}).get(task)
    if not rules:
        raise BaselineError(f"{source}: no entry for model '{model}' and task '{task}'")
    checks = []
    for name, rule in rules.items():
        value = metric_value(metrics, str(name))
        if not isinstance(rule, dict) or not ({"min"} <= set(rule) or {"value"} <= set(rule)):
            raise BaselineError(f"{source}: {model}.{task}.{name}: expected {{min: x}} or "
                                "{value: x, tolerance: t}")
        if "min" in rule:
            floor, text = float(rule["min"]), f">= {float(rule['min']):.2f}"
        else:
            tolerance = float(rule.get("tolerance", 0.0))
            floor = float(rule["value"]) - tolerance
            text = f"{float(rule['value']):.2f} ± {tolerance:.2f}"
        if value is None:
            checks.append(GateCheck(str(name), None, text, False, "metric not in this run"))
            continue
        passed = value >= floor - 1e-9
        detail = "" if passed else f"below by {floor - value:.2f}"
        if passed and "value" in rule and value > float(rule["value"]) + float(
                rule.get("tolerance", 0.0)):
            detail = "above baseline: consider updating it"
        checks.append(GateCheck(str(name), value, text, passed, detail))
    return checks


def baseline_entry(metrics: dict, tolerance: float) -> dict:
    """The current overall scores as `{metric: {value, tolerance}}`."""
    overall = metrics["overall"]
    names = [k for k in ("accuracy", "exact_match", "final_score", "clip_score")
             if isinstance(overall.get(k), (int, float))]
    return {name: {"value": round(float(overall[name]), 4), "tolerance": tolerance}
            for name in names}


def write_baseline(path: str | Path, model: str, task: str, metrics: dict,
                   tolerance: float) -> Path:
    """Add or replace this model/task's entry, keeping the file's other entries."""
    path = Path(str(path)).expanduser()
    data = load_baseline(path) if path.is_file() else {}
    data.setdefault(model, {})[task] = baseline_entry(metrics, tolerance)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, yaml.safe_dump(data, sort_keys=True, allow_unicode=True))
    return path
