"""What the accuracy and score runners share: setting up a run folder, turning predictions
into per-sample records, and writing every report from the records."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import OmegaConf

from modeltest.gate import BaselineError, check_gate, load_baseline
from modeltest.reports.atomic import write_text_atomic
from modeltest.reports.metric_rows import metric_rows
from modeltest.reports.result_csv import write_result_csv
from modeltest.reports.result_text import write_result_text
from modeltest.reports.submission import write_submission
from modeltest.reports.summary import library_versions, write_summary
from modeltest.reports.terminal import print_summary
from modeltest.samples import Sample
from modeltest.scorers import Scorer, get_scorer
from modeltest.scorers.aggregate import aggregate
from modeltest.scorers.prediction_cleaning import DEFAULT_STOP_STRINGS, clean_prediction
from modeltest.tasks import load_samples
from runners.config import ConfigError, to_container
from runners.demo import ensure_demo_assets
from runners.output_lock import lock_output_dir

SUBMISSION_TASKS = {"textvqa", "vqav2"}
TASK_PATH_KEYS = ("local_dataset_path", "annotation_file", "question_file", "image_dir",
                  "answer_file", "video_root")


@dataclass
class Run:
    """One run's config, folders and the notes every report repeats."""
    cfg: dict
    output_dir: Path
    scorer: Scorer
    samples: list[Sample]
    demo_data: bool
    notes: list[str] = field(default_factory=list)
    config_yaml: str = ""

    @property
    def task(self) -> str:
        return self.cfg["task"]["name"]

    @property
    def model(self) -> str:
        return self.cfg["model"]["name"]

    @property
    def results_dir(self) -> Path:
        return self.output_dir / "results"

    @property
    def debug_dir(self) -> Path:
        return self.output_dir / "debug"

    @property
    def stop_strings(self) -> tuple[str, ...]:
        return tuple(self.cfg["model"].get("stop_strings") or DEFAULT_STOP_STRINGS)


def prompt_template(cfg: dict) -> str:
    """The model's own template for this task when it has one, else the task's."""
    overrides = cfg["model"].get("prompts") or {}
    return overrides.get(cfg["task"]["name"]) or cfg["task"]["prompt_template"]


def open_run(hydra_cfg, write: bool = True, defer_config: bool = False) -> Run:
    """Resolve the config, build demo data if used, load the task: all before any model.
    `write` is false on every rank but rank 0 of a parallel run; a writer holds the output
    folder's lock. `defer_config`: config.yaml is written later (`write_config`), once the
    folder is known to accept this run."""
    cfg = to_container(hydra_cfg)
    task_paths = [cfg["task"].get(key) for key in TASK_PATH_KEYS]
    demo_data = ensure_demo_assets(task_paths)
    try:
        scorer = get_scorer(cfg["task"]["scorer"])
    except KeyError as err:
        raise ConfigError(err.args[0]) from None
    if (cfg.get("gate") or {}).get("baseline"):   # a bad baseline fails now, not after the run
        try:
            check_gate(load_baseline(cfg["gate"]["baseline"]), cfg["model"]["name"],
                       cfg["task"]["name"], {"overall": {}}, source=cfg["gate"]["baseline"])
        except BaselineError as err:
            raise ConfigError(str(err)) from None
    samples, warnings = load_samples(cfg["task"], prompt_template(cfg))
    output_dir = Path(cfg["output_dir"]).expanduser()
    run = Run(cfg, output_dir, scorer, samples, demo_data, list(warnings),
              OmegaConf.to_yaml(hydra_cfg, resolve=True))
    if demo_data:
        run.notes.insert(0, "DEMO DATA: this run used the embedded demo dataset, "
                            "not a real benchmark")
    if write:
        lock_output_dir(output_dir)
        if not defer_config:
            write_config(run)
    return run


def write_config(run: Run) -> None:
    run.results_dir.mkdir(parents=True, exist_ok=True)
    run.debug_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(run.output_dir / "config.yaml", run.config_yaml)


def make_record(run: Run, sample: Sample, raw_prediction: str | None, error: str | None,
                e2e_time: float = 0.0, first_token_time: float = 0.0) -> dict:
    """The samples.jsonl line of one sample; an errored sample scores 0."""
    cleaned = clean_prediction(raw_prediction, run.stop_strings)
    scored = run.scorer.score(cleaned, sample) if error is None else None
    return {
        "question_id": sample.question_id,
        "subject": sample.subject,
        "prompt": sample.prompt,
        "images": sample.images,
        "video": sample.video,
        "prediction": raw_prediction,
        "cleaned_prediction": cleaned,
        "normalized_prediction": scored.normalized if scored else "",
        "references": sample.references,
        "score": scored.score if scored else 0.0,
        "error": error,
        "e2e_time": round(e2e_time, 6),
        "first_token_time": round(first_token_time, 6),
        "extra": scored.extra if scored else dict(run.scorer.empty_extra),
    }


def write_reports(run: Run, records: list[dict], timing: dict | None = None) -> dict:
    """Every report from the records; returns the summary."""
    order = {sample.question_id: index for index, sample in enumerate(run.samples)}
    records = sorted(records, key=lambda r: order.get(r["question_id"], len(order)))
    metrics = aggregate(records, run.scorer)
    rows = metric_rows(run.task, metrics, run.scorer.metric)
    stem = f"{run.task}_{run.model}"
    notes = list(run.notes)
    overall = metrics["overall"]
    if overall.get("subsets_not_run"):
        notes.append("Video-Bench groups and final score average only the subsets run; not run: "
                     + ", ".join(overall["subsets_not_run"]))
    if "unparsed" in overall and overall["unparsed"]:
        notes.append(f"{overall['unparsed']} answer(s) named no readable choice (scored wrong)")
    errors = [{"question_id": r["question_id"], "error": r["error"]}
              for r in records if r["error"]]
    summary = {
        "task": run.task,
        "model": run.model,
        "runner": run.cfg["runner"]["name"],
        "metrics": metrics,
        "num_samples": len(records),
        "num_errors": len(errors),
        "errors": errors,
        "demo_data": run.demo_data,
        "notes": notes,
        "samples_per_second": None,
        "tokens_per_second": None,
        **(timing or {}),
        "seed": run.cfg.get("seed"),
        "versions": library_versions(),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "config": run.cfg,
    }
    write_result_csv(run.results_dir / f"{stem}_result.csv", rows, run.demo_data)
    write_result_text(run.results_dir / f"{stem}_result.txt", run.cfg, rows, notes)
    if run.task in SUBMISSION_TASKS:
        write_submission(run.results_dir / f"{run.task}_submission.json", records)
    if run.scorer.name == "caption":
        captions = {r["images"][0]: r["cleaned_prediction"] for r in records if not r["error"]}
        write_text_atomic(run.results_dir / "predict_result.json",
                          json.dumps(dict(sorted(captions.items())), indent=1, ensure_ascii=False))
    write_summary(run.results_dir / "summary.json", summary)
    print_summary(f"{run.task} on {run.model} ({run.cfg['runner']['name']})", rows, summary,
                  str(run.output_dir), notes)
    return summary
