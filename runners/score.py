"""runner=score: rescore saved predictions without loading a model or decoding media.

`runner.predictions` is one of:
- a previous run's debug/samples.jsonl, or any JSONL of `{"question_id", "prediction"}` lines
  (question_id: the dataset's id, e.g. a TSV's `index`); a record may give the benchmark's own
  id with a separate `subject` (`{"question_id": "12", "subject": "MSVD", ...}`);
- the task's official result file (`task.submission`, e.g. [{"question_id", "answer"}]);
- the benchmark's own output files, where the task has a reader for them
  (`task.predictions_reader`, e.g. Video-Bench's `<Subset>_eval.json`).
Scores are always computed here, from the predictions; stored scores are never read.
Predictions must cover every sample of the task and name each once: a partial file is an
error naming the count (`runner.allow_partial=true` scores the subset, every report says so
first, and a gate refuses to pass it); a duplicate id is an error naming it.
"""
from __future__ import annotations

from pathlib import Path

from modeltest.registry import RegistryError, import_attribute
from modeltest.reports.samples_log import read_samples_log
from modeltest.reports.submission import read_submission
from modeltest.samples import DataError
from runners.config import ConfigError
from runners.evaluation import make_record, open_run, write_reports
from runners.gate import apply_gate

Predictions = dict[str, tuple[str | None, str | None, str]]


def _read_jsonl(path: Path, known: set[str]) -> Predictions:
    predictions: Predictions = {}
    duplicates = []
    try:
        lines = read_samples_log(path)
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a text file of JSON lines") from None
    for number, record in lines:
        if not isinstance(record, dict) or "question_id" not in record \
                or "prediction" not in record:
            raise DataError(f"{path}:{number}: needs 'question_id' and 'prediction'")
        qid = str(record["question_id"])
        scoped = f"{record.get('subject')}/{qid}"
        if qid not in known and record.get("subject") is not None and scoped in known:
            qid = scoped               # the benchmark's own id with a separate subject
        if qid in predictions:
            duplicates.append(f"{qid} ({path}:{number})")
        prediction = record["prediction"]
        predictions[qid] = (None if prediction is None else str(prediction),
                            record.get("error"), f"{path}:{number}")
    if duplicates:
        raise DataError(f"{path}: duplicate question_id(s) {', '.join(duplicates[:10])}"
                        + (" ..." if len(duplicates) > 10 else ""))
    return predictions


def _read_predictions(path: Path, run_) -> Predictions:
    """{question_id: (raw prediction, error, where)} from any of the accepted formats."""
    task = run_.cfg["task"]
    known = {str(sample.question_id) for sample in run_.samples}
    if task["predictions_reader"]:
        try:
            reader = import_attribute(str(task["predictions_reader"]), "task.predictions_reader")
        except RegistryError as err:
            raise ConfigError(str(err)) from None
        own = reader(path, task, run_.notes)
        if own is not None:
            return own
    if path.is_dir():
        raise DataError(f"runner.predictions={path}: a folder, and not one task "
                        f"{run_.task}'s reader takes")
    if path.suffix == ".json":
        official = read_submission(task["submission"], path)
        if official is not None:
            return {qid: (answer, None, f"{path}") for qid, answer in official.items()}
    return _read_jsonl(path, known)


def _coverage(run_, predictions: Predictions, path: Path) -> str | None:
    """None when every sample has a prediction; else, with runner.allow_partial, why the run
    is partial (an error without it)."""
    missing = [str(s.question_id) for s in run_.samples if str(s.question_id) not in predictions]
    if not missing:
        return None
    reason = (f"{path} has predictions for {len(run_.samples) - len(missing)} of "
              f"{len(run_.samples)} samples of task {run_.task} (missing: "
              f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''})")
    if not run_.cfg["runner"]["allow_partial"]:
        raise DataError(f"{reason}; set runner.allow_partial=true to score only those")
    return f"{reason}: scored on those only"


def run(hydra_cfg) -> int:
    predictions_file = hydra_cfg.runner.predictions
    if not predictions_file:
        raise ConfigError("runner.predictions is not set (a samples.jsonl or a result file)")
    path = Path(str(predictions_file)).expanduser()
    if not path.exists():
        raise ConfigError(f"runner.predictions={predictions_file}: no such file or folder")
    run_ = open_run(hydra_cfg)
    try:
        predictions = _read_predictions(path, run_)
    except DataError:
        raise
    except ValueError as err:
        raise DataError(str(err)) from None
    known = {str(sample.question_id) for sample in run_.samples}
    unknown = [(qid, where) for qid, (_, _, where) in predictions.items() if qid not in known]
    if unknown:
        qid, where = unknown[0]
        raise DataError(f"{where}: question_id {qid} is not in task {run_.task} "
                        f"({len(unknown)} unknown id(s))")
    partial = _coverage(run_, predictions, path)
    records = [make_record(run_, sample, *predictions[str(sample.question_id)][:2])
               for sample in run_.samples if str(sample.question_id) in predictions]
    run_.notes.append(f"rescored from {path}")
    target = run_.debug_dir / "samples.jsonl"
    # never overwrite the input
    rewrite = path.is_dir() or not target.exists() or target.resolve() != path.resolve()
    summary = write_reports(run_, records, samples_path=target if rewrite else None,
                            partial=partial)
    return apply_gate(run_.cfg["gate"], summary, run_.results_dir)
