"""runner=score: rescore saved predictions without loading a model or decoding media.

`runner.predictions` is one of:
- a previous run's debug/samples.jsonl (question_id, subject, prediction), or any JSONL whose
  records carry them; Video-Bench records may give the benchmark's own question id with a
  separate `subject` (`{"question_id": "12", "subject": "MSVD", "prediction": ...}`);
- an official result file [{"question_id", "answer"}] (TextVQA, VQA v2);
- Video-Bench's evaluation-loop output: a folder of `<Subset>_eval.json` files (or one such
  file), `{q_id: {"video_id", "question", "output_sequence"}}`.
Scores are always computed here, from the predictions; stored scores are never read.
"""
from __future__ import annotations

from pathlib import Path

from modeltest.reports.samples_log import SamplesLog, read_samples_log
from modeltest.reports.submission import read_submission
from modeltest.samples import DataError
from modeltest.tasks.io import read_json
from runners.config import ConfigError
from runners.evaluation import make_record, open_run, write_reports
from runners.gating import apply_gate


Predictions = dict[str, tuple[str | None, str | None, str]]


def _read_samples_file(path: Path, known: set[str]) -> Predictions:
    predictions = {}
    for number, record in read_samples_log(path):
        if "question_id" not in record or "prediction" not in record:
            raise DataError(f"{path}:{number}: needs 'question_id' and 'prediction'")
        qid = str(record["question_id"])
        scoped = f"{record.get('subject')}/{qid}"
        if qid not in known and record.get("subject") is not None and scoped in known:
            qid = scoped               # Video-Bench's own id with a separate subject
        predictions[qid] = (record["prediction"], record.get("error"), f"{path}:{number}")
    return predictions


def _read_videobench_eval(path: Path, task: dict, notes: list[str]) -> Predictions:
    """The official loop's `<Subset>_eval.json` files: {q_id: {..., "output_sequence"}}."""
    files = sorted(path.glob("*_eval.json")) if path.is_dir() else [path]
    if not files:
        raise DataError(f"runner.predictions={path}: no <Subset>_eval.json file in the folder")
    mapping = task.get("subject_mapping") or {}
    by_name = {str((value or {}).get("name", key)): key for key, value in mapping.items()}
    chosen = set(task.get("subjects") or mapping)
    predictions, skipped = {}, []
    for file in files:
        name = file.name[:-len("_eval.json")]
        if name not in by_name:
            raise DataError(f"{file}: subset '{name}' is not in task.subject_mapping "
                            f"(known: {', '.join(by_name)})")
        if by_name[name] not in chosen:
            skipped.append(by_name[name])
            continue
        data = read_json(file)
        if not isinstance(data, dict):
            raise DataError(f"{file}: expected {{q_id: {{\"output_sequence\": ...}}}}")
        for qid, entry in data.items():
            if not isinstance(entry, dict) or "output_sequence" not in entry:
                raise DataError(f"{file}#{qid}: no 'output_sequence'")
            answer = entry["output_sequence"]
            predictions[f"{by_name[name]}/{qid}"] = (
                None if answer is None else str(answer), None, f"{file}#{qid}")
    if skipped:
        notes.append(f"not rescored (not in task.subjects): {', '.join(sorted(skipped))}")
    return predictions


def _read_predictions(path: Path, run_) -> Predictions:
    """{question_id: (raw prediction, error, where)} from any of the accepted formats."""
    known = {str(sample.question_id) for sample in run_.samples}
    if path.is_dir() or path.name.endswith("_eval.json"):
        if run_.cfg["task"]["loader"] != "videobench":
            raise DataError(f"runner.predictions={path}: <Subset>_eval.json files are "
                            "Video-Bench's; this task is " + run_.task)
        return _read_videobench_eval(path, run_.cfg["task"], run_.notes)
    official = read_submission(path) if path.suffix == ".json" else None
    if official is not None:
        return {qid: (answer, None, f"{path}") for qid, answer in official.items()}
    return _read_samples_file(path, known)


def run(hydra_cfg) -> int:
    predictions_file = hydra_cfg.runner.get("predictions")
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
    records = [make_record(run_, sample, *predictions[str(sample.question_id)][:2])
               for sample in run_.samples if str(sample.question_id) in predictions]
    missing = len(run_.samples) - len(records)
    if missing:
        run_.notes.append(f"{missing} sample(s) of the task have no prediction in {path} "
                          "and are not scored")
    run_.notes.append(f"rescored from {path}")
    target = run_.debug_dir / "samples.jsonl"
    if path.is_dir() or not target.exists() or target.resolve() != path.resolve():
        # never overwrite the input
        target.unlink(missing_ok=True)
        log = SamplesLog(target)
        log.append(records)
        log.close()
    summary = write_reports(run_, records)
    return apply_gate(run_.cfg.get("gate"), summary, run_.results_dir)
