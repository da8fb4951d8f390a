"""What the accuracy and score runners share: setting up a run folder, turning predictions
into per-sample records, and, once, scoring the records and writing every report.

Nothing here knows a task by name: the task's yaml says how it scores, aggregates and which
official file it writes (modeltest/tasks, modeltest/scorers, modeltest/reports/submission.py).
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import OmegaConf

from modeltest.gate import BaselineError, check_gate, load_baseline
from modeltest.registry import RegistryError
from modeltest.reports.atomic import atomic_path, write_text_atomic
from modeltest.reports.metric_rows import metric_rows
from modeltest.reports.result_csv import write_result_csv
from modeltest.reports.result_text import write_result_text
from modeltest.reports.run_page import write_run_page
from modeltest.reports.submission import write_submission
from modeltest.reports.summary import library_versions, write_summary
from modeltest.reports.terminal import print_summary
from modeltest.samples import Sample
from modeltest.scorers import Scorer, get_scorer
from modeltest.scorers.aggregate import aggregate, headline_metrics
from modeltest.scorers.baseline import task_baselines
from modeltest.scorers.prediction_cleaning import DEFAULT_STOP_STRINGS, clean_prediction
from modeltest.tasks import load_samples
from runners.clip_judge import judge_config
from runners.config import ConfigError, to_container
from runners.demo import ensure_demo_data
from runners.output_lock import lock_output_dir
from runners.thumbnails import records_media


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
        return tuple(self.cfg["model"]["stop_strings"] or DEFAULT_STOP_STRINGS)

    def clean(self, raw_prediction: str | None) -> str:
        """The answer the scorer sees: one trimmed line, or as generated up to the chat end
        marker for scorers whose official rules read whitespace (Scorer.keep_whitespace)."""
        return clean_prediction(raw_prediction, self.stop_strings,
                                self.scorer.keep_whitespace)


def prompt_template(cfg: dict) -> str:
    """The model's own template for this task when it has one, else the task's."""
    return (cfg["model"]["prompts"] or {}).get(cfg["task"]["name"]) \
        or cfg["task"]["prompt_template"]


def _scorer(task: dict) -> Scorer:
    try:
        return get_scorer(task["scorer"], task)
    except RegistryError as err:
        raise ConfigError(str(err)) from None


def _check_baseline_entry(cfg: dict, scorer: Scorer) -> None:
    """A baseline with no entry for this model and task fails now, not after the run."""
    baseline = cfg["gate"]["baseline"]
    if not baseline:
        return
    try:
        check_gate(load_baseline(baseline), cfg["model"]["name"], cfg["task"]["name"],
                   {"overall": {}}, source=baseline)
    except BaselineError as err:
        raise ConfigError(str(err)) from None
    if scorer.metric is None and not judge_config(cfg):
        raise ConfigError(
            f"gate.baseline: task {cfg['task']['name']} has no metric of its own to gate on; "
            "set runner.judge.model (and runner.judge.weights) to score it with a judge model "
            "and gate on clip_score")


def open_run(hydra_cfg, write: bool = True, defer_config: bool = False) -> Run:
    """Resolve the config, build demo data if used, load the task: all before any model.
    `write` is false on every rank but rank 0 of a parallel run; a writer holds the output
    folder's lock. `defer_config`: config.yaml is written later (`write_config`), once the
    folder is known to accept this run."""
    cfg = to_container(hydra_cfg)
    demo_data = ensure_demo_data(cfg["task"])
    scorer = _scorer(cfg["task"])
    _check_baseline_entry(cfg, scorer)
    samples, warnings = load_samples(cfg["task"], prompt_template(cfg))
    for sample in samples:
        scorer.check_sample(sample)
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
    """The samples.jsonl line of one sample, as generated; its score fields are added once,
    when the reports are written (`score_records`). `task.record_fields` are kept under
    `fields` for the task's aggregation hook."""
    kept = run.cfg["task"]["record_fields"]
    fields = {"fields": {name: sample.fields.get(name) for name in kept}} if kept else {}
    if sample.video_spec:     # how the video was read, where the task says more than the file
        fields["video_spec"] = sample.video_spec
    if run.cfg["task"]["answer_start"]:    # the model's answer began with it
        fields["answer_start"] = run.cfg["task"]["answer_start"]
    return {
        "question_id": sample.question_id,
        "subject": sample.subject,
        "prompt": sample.prompt,
        "images": sample.images,
        "video": sample.video,
        "prediction": raw_prediction,
        "cleaned_prediction": run.clean(raw_prediction),
        "references": sample.references,
        "error": error,
        "e2e_time": round(e2e_time, 6),
        "first_token_time": round(first_token_time, 6),
        **fields,
    }


def score_records(run: Run, records: list[dict]) -> tuple[list[dict], int]:
    """Every record scored from its stored prediction by the task's scorer; an errored sample
    scores 0. Returns the records and how many scores stored by an earlier run changed."""
    samples = {str(sample.question_id): sample for sample in run.samples}
    scorer = run.scorer
    answers = {}
    for position, record in enumerate(records):
        sample = samples.get(str(record["question_id"]))
        if sample is not None and record.get("error") is None:
            answers[position] = (run.clean(record.get("prediction")), sample)
    if scorer.score_all is not None:   # one answer's score depends on the others'
        results = dict(zip(answers, scorer.score_all(list(answers.values()))))
    else:
        results = {position: scorer.score(*answer) for position, answer in answers.items()}
    scored, changed = [], 0
    for position, record in enumerate(records):
        sample = samples.get(str(record["question_id"]))
        if sample is None:
            scored.append(record)
            continue
        cleaned = run.clean(record.get("prediction"))
        result = results.get(position)
        fields = {
            "cleaned_prediction": cleaned,
            "normalized_prediction": result.normalized if result else "",
            "references": sample.references,
            # an errored sample scores 0, unless nothing could score it (no metric, or no
            # reference answers: a test split)
            "score": result.score if result else (
                0.0 if run.scorer.metric and sample.references else None),
            "extra": result.extra if result else dict(run.scorer.error_extra),
        }
        changed += "score" in record and fields["score"] != record["score"]
        scored.append({**record, **fields})
    return scored, changed


def _judge(run: Run, records: list[dict]) -> dict:
    """Each answer's CLIPScore (max(cos, 0) of its image and the answer) as its score."""
    from inference.device import pick_device
    from runners.clip_judge import load_judge

    judge_cfg = judge_config(run.cfg)
    device = pick_device(run.cfg["runtime"]["device"])
    judge, info = load_judge(judge_cfg, device)
    judged = [r for r in records if not r["error"]]
    scores = judge.score([r["images"][0] for r in judged],
                         [r["cleaned_prediction"] for r in judged], int(judge_cfg["batch_size"]))
    for record, cosine in zip(judged, scores.cosines):
        record["score"] = max(float(cosine), 0.0)
        record["extra"] = {"cosine": float(cosine)}
    for record in records:
        if record["error"]:
            record["score"] = 0.0
    return {**info, "truncated_captions": scores.truncated}


def write_samples(path: Path, records: list[dict]) -> None:
    """samples.jsonl with the scored records, replacing the streamed one atomically."""
    with atomic_path(path) as temporary:
        with open(temporary, "w", encoding="utf-8") as handle:
            for record in records:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            handle.flush()
            os.fsync(handle.fileno())


def write_reports(run: Run, records: list[dict], timing: dict | None = None,
                  samples_path: Path | None = None, partial: str | None = None) -> dict:
    """Score the records (once, here) and write every report; returns the summary.
    `samples_path`: rewrite that samples.jsonl with the scored records. `partial`: why the
    records cover only part of the task (said first in every report; a gate then fails)."""
    order = {str(sample.question_id): index for index, sample in enumerate(run.samples)}
    records = sorted(records, key=lambda r: order.get(str(r["question_id"]), len(order)))
    records, changed = score_records(run, records)
    scorer_info = run.scorer.describe()
    metric = run.scorer.metric
    if run.scorer.judged and judge_config(run.cfg):
        metric = "clip_score"
        scorer_info.update(variant="clip_score", metric=metric, judge=_judge(run, records),
                           source="mean CLIPScore (100 * max(cos, 0)) by runner.judge")
    aggregation = run.cfg["task"]["aggregation"]
    metrics = aggregate(records, run.scorer, metric, aggregation, run.cfg["task"])
    rows = metric_rows(run.task, metrics, metric, run.scorer.extra_metrics,
                       tuple(aggregation["headline"] or ()))
    stem = f"{run.task}_{run.model}"
    notes = ([f"PARTIAL: {partial}"] if partial else []) + list(run.notes)
    notes.append(f"scored by {scorer_info['name']} ({scorer_info['variant']}): "
                 f"{scorer_info['source']}")
    if changed:
        notes.append(f"{changed} stored score(s) in samples.jsonl differ from the current "
                     "scorer's; the reports use the current scorer")
    if metric is None:
        notes.append(f"task {run.task} has no metric of its own: set runner.judge.model "
                     "(and runner.judge.weights) for the mean CLIPScore of the answers")
    overall = metrics["overall"]
    notes.extend(run.scorer.notes(records, overall))
    if overall.get("subjects_not_run"):
        notes.append("group scores and the final score average only the subjects run; not "
                     "run: " + ", ".join(overall["subjects_not_run"]))
    baselines = task_baselines(run.cfg["task"], run.scorer, run.samples) \
        if metric == run.scorer.metric else []
    notes.extend(f"{b['name']} baseline: {b['description']} scores {b['score']:.2f} {metric} "
                 f"(this run: {overall[metric]:.2f})" for b in baselines)
    errors = [{"question_id": r["question_id"], "error": r["error"]}
              for r in records if r["error"]]
    summary = {
        "task": run.task,
        "model": run.model,
        "backend": run.cfg["model"]["backend"],
        "runner": run.cfg["runner"]["name"],
        "scorer": scorer_info,
        "metrics": metrics,
        "headline_metrics": headline_metrics(run.scorer, metric, aggregation),
        "num_samples": len(records),
        "num_task_samples": len(run.samples),
        "partial": partial,
        "num_errors": len(errors),
        "errors": errors,
        "demo_data": run.demo_data,
        "baselines": baselines,
        "notes": notes,
        "samples_per_second": None,
        "tokens_per_second": None,
        **(timing or {}),
        "seed": run.cfg["seed"],
        "versions": library_versions(),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "config": run.cfg,
    }
    run.results_dir.mkdir(parents=True, exist_ok=True)
    if samples_path is not None:
        write_samples(samples_path, records)
    write_result_csv(run.results_dir / f"{stem}_result.csv", rows, run.demo_data)
    write_result_text(run.results_dir / f"{stem}_result.txt", run.cfg, rows, notes)
    write_submission(run.cfg["task"]["submission"], run.results_dir, run.task, records)
    write_summary(run.results_dir / "summary.json", summary)
    write_run_page(run.results_dir / "report.html", summary, rows, records,
                   records_media(records, run.results_dir, run.cfg))
    print_summary(f"{run.task} on {run.model} ({run.cfg['runner']['name']})", rows, summary,
                  str(run.output_dir), notes)
    return summary

