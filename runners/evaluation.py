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
from modeltest.scorers.baseline import majority_baseline
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
        scorer = get_scorer(cfg["task"]["scorer"], cfg["task"])
    except KeyError as err:
        raise ConfigError(err.args[0]) from None
    if (cfg.get("gate") or {}).get("baseline"):   # a bad baseline fails now, not after the run
        try:
            check_gate(load_baseline(cfg["gate"]["baseline"]), cfg["model"]["name"],
                       cfg["task"]["name"], {"overall": {}}, source=cfg["gate"]["baseline"])
        except BaselineError as err:
            raise ConfigError(str(err)) from None
        if scorer.metric is None and not judge_config(cfg):
            raise ConfigError(
                f"gate.baseline: task {cfg['task']['name']} has no metric of its own to gate "
                "on; set runner.judge.model (and runner.judge.weights) to score its captions "
                "by CLIPScore and gate on clip_score")
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


def _scored_fields(run: Run, sample: Sample, raw_prediction: str | None,
                   error: str | None) -> dict:
    """The fields of a record that the scorer decides; an errored sample scores 0."""
    cleaned = clean_prediction(raw_prediction, run.stop_strings)
    scored = run.scorer.score(cleaned, sample) if error is None else None
    failed = 0.0 if run.scorer.metric is not None else None
    return {
        "cleaned_prediction": cleaned,
        "normalized_prediction": scored.normalized if scored else "",
        "references": sample.references,
        "score": scored.score if scored else failed,
        "extra": scored.extra if scored else dict(run.scorer.error_extra),
    }


def make_record(run: Run, sample: Sample, raw_prediction: str | None, error: str | None,
                e2e_time: float = 0.0, first_token_time: float = 0.0) -> dict:
    """The samples.jsonl line of one sample."""
    fields = _scored_fields(run, sample, raw_prediction, error)
    return {
        "question_id": sample.question_id,
        "subject": sample.subject,
        "prompt": sample.prompt,
        "images": sample.images,
        "video": sample.video,
        "prediction": raw_prediction,
        "cleaned_prediction": fields["cleaned_prediction"],
        "normalized_prediction": fields["normalized_prediction"],
        "references": sample.references,
        "score": fields["score"],
        "error": error,
        "e2e_time": round(e2e_time, 6),
        "first_token_time": round(first_token_time, 6),
        "extra": fields["extra"],
    }


def rescore(run: Run, records: list[dict]) -> tuple[list[dict], int]:
    """Every record scored again from its stored prediction by the current scorer (records
    read back from samples.jsonl carry the scores of the code that wrote them). Returns the
    records and how many stored scores changed."""
    samples = {str(sample.question_id): sample for sample in run.samples}
    fresh, changed = [], 0
    for record in records:
        sample = samples.get(str(record["question_id"]))
        if sample is None:
            fresh.append(record)
            continue
        fields = _scored_fields(run, sample, record.get("prediction"), record.get("error"))
        changed += fields["score"] != record.get("score")
        fresh.append({**record, **fields})
    return fresh, changed


def judge_config(cfg: dict) -> dict | None:
    """runner.judge when a judge model is set (coco_caption's CLIPScore), else None."""
    judge = (cfg.get("runner") or {}).get("judge") or {}
    return judge if judge.get("model") else None


def _judge_captions(run: Run, records: list[dict]) -> dict:
    """Each caption's CLIPScore (max(cos, 0) of image and caption) as its score."""
    from inference.device import pick_device
    from runners.clip_compare import load_judge

    judge_cfg = judge_config(run.cfg)
    device = pick_device(run.cfg["runtime"].get("device"))
    judge, info = load_judge(judge_cfg, device)
    judged = [r for r in records if not r["error"]]
    scores = judge.score([r["images"][0] for r in judged],
                         [r["cleaned_prediction"] for r in judged],
                         int(judge_cfg.get("batch_size", 32)))
    for record, cosine in zip(judged, scores.cosines):
        record["score"] = max(float(cosine), 0.0)
        record["extra"] = {"cosine": float(cosine)}
    for record in records:
        if record["error"]:
            record["score"] = 0.0
    return {**info, "truncated_captions": scores.truncated}


def _scoring_notes(run: Run, records: list[dict], overall: dict) -> list[str]:
    notes = []
    if run.scorer.name == "textvqa":
        odd = [str(r["question_id"]) for r in records if len(r["references"]) != 10]
        if odd:
            notes.append(f"{len(odd)} question(s) have not ten reference answers (the official "
                         "evaluator requires ten; scored over the answers given): "
                         + ", ".join(odd[:20]) + (" ..." if len(odd) > 20 else ""))
    if run.scorer.name == "videobench":
        reads = ", ".join(f"{overall.get('read_by_' + how, 0)} by {how}"
                          for how in ("letter", "text", "similarity"))
        notes.append(f"choices read: {reads}; {overall.get('unparsed', 0)} unparsed")
    return notes


def write_reports(run: Run, records: list[dict], timing: dict | None = None) -> dict:
    """Every report from the records; returns the summary."""
    order = {sample.question_id: index for index, sample in enumerate(run.samples)}
    records = sorted(records, key=lambda r: order.get(r["question_id"], len(order)))
    records, changed = rescore(run, records)
    scorer_info = run.scorer.describe()
    metric = run.scorer.metric
    if run.scorer.name == "caption" and judge_config(run.cfg):
        metric = "clip_score"
        scorer_info.update(variant="clip_score", metric=metric,
                           judge=_judge_captions(run, records),
                           source="mean CLIPScore (100 * max(cos, 0)) by runner.judge")
    metrics = aggregate(records, run.scorer, metric)
    rows = metric_rows(run.task, metrics, metric)
    stem = f"{run.task}_{run.model}"
    notes = list(run.notes)
    notes.append(f"scored by {scorer_info['name']} ({scorer_info['variant']}): "
                 f"{scorer_info['source']}")
    if changed:
        notes.append(f"{changed} stored score(s) in samples.jsonl differ from the current "
                     "scorer's; the reports use the current scorer")
    if metric is None:
        notes.append(f"task {run.task} has no metric of its own: set runner.judge.model "
                     "(and runner.judge.weights) for the mean CLIPScore of the captions")
    overall = metrics["overall"]
    baseline = majority_baseline(run.scorer, run.samples) if metric == run.scorer.metric \
        else None
    if baseline:
        notes.append(f"majority-answer baseline: always answering {baseline['answer']!r} "
                     f"scores {baseline['score']:.2f} {metric} (this run: "
                     f"{overall.get(metric, 0.0):.2f})")
    notes.extend(_scoring_notes(run, records, overall))
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
        "scorer": scorer_info,
        "metrics": metrics,
        "num_samples": len(records),
        "num_errors": len(errors),
        "errors": errors,
        "demo_data": run.demo_data,
        "majority_baseline": baseline,
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
