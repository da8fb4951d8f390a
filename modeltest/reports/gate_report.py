"""Gate results as JUnit XML (one testcase per metric), Markdown and a terminal table."""
from __future__ import annotations

import os
import sys
from pathlib import Path
from xml.etree import ElementTree

from tabulate import tabulate
from termcolor import colored

from modeltest.reports.atomic import atomic_path, write_text_atomic


def write_junit(path: Path, model: str, task: str, checks, demo_data: bool = False) -> None:
    failures = sum(1 for c in checks if not c.passed)
    suite = ElementTree.Element("testsuite", name="modeltest.gate", tests=str(len(checks)),
                                failures=str(failures), errors="0")
    properties = ElementTree.SubElement(suite, "properties")
    ElementTree.SubElement(properties, "property", name="data",
                           value="demo" if demo_data else "user")
    for check in checks:
        case = ElementTree.SubElement(suite, "testcase", classname=f"{model}.{task}",
                                      name=check.metric)
        if not check.passed:
            failure = ElementTree.SubElement(
                case, "failure", message=f"{check.metric} = {_fmt(check.value)}, "
                                         f"baseline {check.rule}")
            failure.text = check.detail
    tree = ElementTree.ElementTree(ElementTree.Element("testsuites"))
    tree.getroot().append(suite)
    ElementTree.indent(tree)
    with atomic_path(path) as temporary:
        tree.write(temporary, encoding="utf-8", xml_declaration=True)


def _fmt(value) -> str:
    return "missing" if value is None else f"{value:.2f}"


def render_markdown(model: str, task: str, checks, demo_data: bool = False) -> str:
    verdict = "PASS" if all(c.passed for c in checks) else "FAIL"
    lines = [f"### modeltest gate: {model} / {task}: {verdict}", "",
             *(["**DEMO DATA**: the run used the embedded demo dataset, not a real benchmark",
                ""] if demo_data else []),
             "| metric | value | baseline | result | note |", "|---|---|---|---|---|"]
    lines += [f"| {c.metric} | {_fmt(c.value)} | {c.rule} | "
              f"{'pass' if c.passed else 'FAIL'} | {c.detail} |" for c in checks]
    return "\n".join(lines) + "\n"


def write_markdown(path: Path, model: str, task: str, checks, demo_data: bool = False) -> None:
    text = render_markdown(model, task, checks, demo_data)
    write_text_atomic(path, text)
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if step_summary:
        with open(step_summary, "a", encoding="utf-8") as handle:
            handle.write(text + "\n")


def print_gate(model: str, task: str, checks) -> None:
    color = sys.stdout.isatty()
    paint = (lambda text, c: colored(text, c, attrs=["bold"])) if color else (lambda text, c: text)
    rows = [(c.metric, _fmt(c.value), c.rule,
             paint("PASS", "green") if c.passed else paint("FAIL", "red"), c.detail)
            for c in checks]
    passed = all(c.passed for c in checks)
    print(paint(f"\n== gate {model} / {task}: {'PASS' if passed else 'FAIL'} ==",
                "green" if passed else "red"))
    print(tabulate(rows, headers=["Metric", "Value", "Baseline", "Result", "Note"],
                   tablefmt="simple"), flush=True)
