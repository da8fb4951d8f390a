"""runner=score: rescore saved predictions without loading a model or decoding media.

`runner.predictions` is a previous run's debug/samples.jsonl (question_id, subject,
prediction) or an official result file [{"question_id", "answer"}].
"""
from __future__ import annotations

from pathlib import Path

from modeltest.reports.samples_log import SamplesLog, read_samples_log
from modeltest.reports.submission import read_submission
from modeltest.samples import DataError
from runners.config import ConfigError
from runners.evaluation import make_record, open_run, write_reports
from runners.gating import apply_gate


def _read_predictions(path: Path) -> dict[str, tuple[str | None, str | None, str]]:
    """{question_id: (raw prediction, error, where)} from either file format."""
    official = read_submission(path) if path.suffix == ".json" else None
    if official is not None:
        return {qid: (answer, None, f"{path}") for qid, answer in official.items()}
    predictions = {}
    for number, record in read_samples_log(path):
        if "question_id" not in record or "prediction" not in record:
            raise DataError(f"{path}:{number}: needs 'question_id' and 'prediction'")
        predictions[str(record["question_id"])] = (record["prediction"], record.get("error"),
                                                   f"{path}:{number}")
    return predictions


def run(hydra_cfg) -> int:
    predictions_file = hydra_cfg.runner.get("predictions")
    if not predictions_file:
        raise ConfigError("runner.predictions is not set (a samples.jsonl or a result file)")
    path = Path(str(predictions_file)).expanduser()
    if not path.is_file():
        raise ConfigError(f"runner.predictions={predictions_file}: no such file")
    try:
        predictions = _read_predictions(path)
    except ValueError as err:
        raise DataError(str(err)) from None
    run_ = open_run(hydra_cfg)
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
    if not target.exists() or target.resolve() != path.resolve():   # never overwrite the input
        target.unlink(missing_ok=True)
        log = SamplesLog(target)
        log.append(records)
        log.close()
    summary = write_reports(run_, records)
    return apply_gate(run_.cfg.get("gate"), summary, run_.results_dir)
