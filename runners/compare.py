"""runner=compare: two run folders of any task, paired sample by sample; reports, and a gate.

Reads each run's config.yaml, debug/run_identity.json, debug/samples.jsonl (and unmerged
data-parallel parts), debug/logprobs.jsonl and results/summary.json; never loads a model.
Writes results/compare.json, compare.csv, compare.txt, compare.png, badcase_a.csv and
badcase_b.csv (Ascend's bad-case analyser layout), and the gate's junit.xml and
gate_summary.md. Exit codes: 2 when the runs are not comparable (one line naming the
difference; runner.allow_mismatch=true compares their common samples), 3 when the verdict is
`worse`, or anything but `equivalent` with runner.require=equivalent.
"""
from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

from modeltest.compare.answers import Settings
from modeltest.compare.comparability import mismatches
from modeltest.compare.comparison import KlThresholds, Options, changed_samples, compare_runs
from modeltest.compare.runs import RunFolderError, read_run
from modeltest.gate import GATE_FAILED_EXIT_CODE, GateCheck
from modeltest.reports.atomic import write_text_atomic
from modeltest.reports.compare_files import (write_badcase_csvs, write_compare_csv,
                                             write_compare_json)
from modeltest.reports.compare_plot import write_compare_plot
from modeltest.reports.compare_text import render_text
from modeltest.reports.gate_report import print_gate, write_junit, write_markdown
from runners.config import ConfigError, to_container
from runners.output_lock import lock_output_dir
from runners.token_decoding import token_decoder


def _settings(runner: dict) -> tuple[Settings, KlThresholds]:
    """The settings, already checked by the schema (runners/schema.py CompareRunner)."""
    for side in ("a", "b"):
        if not runner[side]:
            raise ConfigError(f"runner.{side} is not set (a run's output_dir)")
    return (Settings(float(runner["margin"]), runner["bootstrap"], runner["seed"],
                     float(runner["power"])),
            KlThresholds(float(runner["kl"]["token_kl"]), float(runner["kl"]["token_share"]),
                         float(runner["kl"]["max_kl"])))


def gate_checks(result: dict, require: str) -> list[GateCheck]:
    verdict = result["verdict"]
    if require == "equivalent":
        passed = verdict == "equivalent"
        rule = f"equivalent within ±{result['margin']:g}"
    else:
        passed = verdict != "worse"
        rule = f"not worse (margin ±{result['margin']:g})"
    ci = result["delta_ci95"]
    detail = f"verdict {verdict}" + (f", 95% CI [{ci[0]:+.2f}, {ci[1]:+.2f}]" if ci else
                                     ", no answer level")
    return [GateCheck("delta (b - a)", result["delta"], rule, passed, detail)]


def run(hydra_cfg) -> int:
    cfg = to_container(hydra_cfg)
    runner = cfg["runner"]
    settings, kl = _settings(runner)
    try:
        run_a = read_run(runner["a"], "runner.a")
        print(f"run a: {len(run_a.records)} samples of {run_a.task} in {run_a.path}", flush=True)
        run_b = read_run(runner["b"], "runner.b")
        print(f"run b: {len(run_b.records)} samples of {run_b.task} in {run_b.path}", flush=True)
    except RunFolderError as err:
        raise ConfigError(str(err)) from None
    differing = mismatches(run_a, run_b)
    if differing and not runner["allow_mismatch"]:
        raise ConfigError(f"runner.a and runner.b are not comparable: {'; '.join(differing)} "
                          "(runner.allow_mismatch=true compares their common samples)")
    labels = tuple(str(label) for label in runner["labels"])
    if len(labels) != 2:
        raise ConfigError(f"runner.labels={list(labels)}: needs two names")
    notes: list[str] = []
    decoders = {side: token_decoder(folder, side, notes)
                for side, folder in (("a", run_a), ("b", run_b))} \
        if runner["decode_tokens"] else {}
    print(f"comparing {len(set(run_a.records) & set(run_b.records))} common samples ...",
          flush=True)
    try:
        result, rows = compare_runs(run_a, run_b, Options(settings, kl, labels, decoders,
                                                          differing))
    except ValueError as err:
        raise ConfigError(str(err)) from None
    result["notes"] += notes
    result["require"] = runner["require"]
    output_dir = Path(cfg["output_dir"]).expanduser()
    lock_output_dir(output_dir)
    results = output_dir / "results"
    results.mkdir(parents=True, exist_ok=True)
    write_text_atomic(output_dir / "config.yaml", OmegaConf.to_yaml(hydra_cfg, resolve=True))
    changed = changed_samples(rows)
    write_compare_json(results / "compare.json", result)
    write_compare_csv(results / "compare.csv", rows)
    text = render_text(result, changed)
    write_text_atomic(results / "compare.txt", text)
    write_compare_plot(results / "compare.png", result)
    write_badcase_csvs(results, rows, {qid: str(record.get("prompt"))
                                       for qid, record in run_a.records.items()})
    print(text + f"reports: {results}", flush=True)
    checks = gate_checks(result, runner["require"])
    name = f"{run_a.model} vs {run_b.model}"
    write_junit(results / "junit.xml", name, result["task"], checks, result["demo_data"])
    write_markdown(results / "gate_summary.md", name, result["task"], checks,
                   result["demo_data"])
    print_gate(name, result["task"], checks)
    return 0 if all(check.passed for check in checks) else GATE_FAILED_EXIT_CODE
