"""CI accuracy gates (the policy; runners/gate.py wires it into runs): compare a run's metrics
with a baseline file.

Baseline YAML: `<model>: <task>: <metric>: {min: x}` or `{value: x, tolerance: t}`.
A metric is an overall metric name (any the run's summary.json has: `accuracy`, `anls`,
`final_score`, `clip_score`, ...) or `<subject>/<metric>` (e.g. `MSVD/accuracy`). Values are
in the reports' units (percent). A partial run (scored on a subset of the task's samples)
never passes a gate.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from modeltest.reports.atomic import write_text_atomic

GATE_FAILED_EXIT_CODE = 3


class BaselineError(ValueError):
    """An unreadable baseline file, a rule that is not numbers, or no entry for this model and
    task."""


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
        raise BaselineError(f"gate.baseline={path}: invalid YAML "
                            f"({' '.join(str(err).split())})") from None
    if not isinstance(data, dict):
        raise BaselineError(f"gate.baseline={path}: expected <model>: <task>: <metric>: ...")
    return data


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_rule(rule, where: str) -> None:
    """`{min: x}` or `{value: x, tolerance: t}` with numbers; BaselineError naming it."""
    if not isinstance(rule, dict) or not ({"min"} <= set(rule) or {"value"} <= set(rule)):
        raise BaselineError(f"{where}: expected {{min: x}} or {{value: x, tolerance: t}}")
    unknown = set(rule) - {"min", "value", "tolerance"}
    if unknown:
        raise BaselineError(f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}")
    for key, value in rule.items():
        if not _number(value):
            raise BaselineError(f"{where}.{key}={value!r}: not a number")
    if rule.get("tolerance", 0) < 0:
        raise BaselineError(f"{where}.tolerance={rule['tolerance']}: must be at least 0")


def check_baseline_file(path: str | Path) -> dict:
    """The whole file's rules checked (every model and task), before anything runs."""
    data = load_baseline(path)
    for model, tasks in data.items():
        if not isinstance(tasks, dict):
            raise BaselineError(f"{path}: {model}: expected <task>: <metric>: ...")
        for task, rules in tasks.items():
            if not isinstance(rules, dict):
                raise BaselineError(f"{path}: {model}.{task}: expected <metric>: {{min: x}}")
            for name, rule in rules.items():
                check_rule(rule, f"{path}: {model}.{task}.{name}")
    return data


def metric_value(metrics: dict, name: str) -> float | None:
    subject, _, metric = name.rpartition("/")
    value = metrics.get(subject or "overall", {}).get(metric)
    return float(value) if _number(value) else None


def check_gate(baseline: dict, model: str, task: str, metrics: dict,
               source: str = "baseline", partial: str | None = None) -> list[GateCheck]:
    """One check per baseline rule. `partial`: why the run covers only part of its task (then
    every check fails, whatever the numbers say)."""
    rules = (baseline.get(model) or {}).get(task)
    if not rules:
        raise BaselineError(f"{source}: no entry for model '{model}' and task '{task}'")
    checks = []
    for name, rule in rules.items():
        check_rule(rule, f"{source}: {model}.{task}.{name}")
        value = metric_value(metrics, str(name))
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
        if partial:
            passed, detail = False, f"partial run: {partial}"
        checks.append(GateCheck(str(name), value, text, passed, detail))
    return checks


def baseline_entry(metrics: dict, names: list[str], tolerance: float) -> dict:
    """The run's headline overall scores as `{metric: {value, tolerance}}`."""
    overall = metrics["overall"]
    return {name: {"value": round(float(overall[name]), 4), "tolerance": tolerance}
            for name in names if _number(overall.get(name))}


def write_baseline(path: str | Path, model: str, task: str, metrics: dict, names: list[str],
                   tolerance: float) -> Path:
    """Add or replace this model/task's entry, keeping the file's other entries."""
    path = Path(str(path)).expanduser()
    data = load_baseline(path) if path.is_file() else {}
    data.setdefault(model, {})[task] = baseline_entry(metrics, names, tolerance)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, yaml.safe_dump(data, sort_keys=True, allow_unicode=True))
    return path
