"""Video-MME as a task's scorer and its official report (conf/task/videomme.yaml).

Per question (`scorer`): the letter Video-MME's `extract_characters_regex` reads from the reply
(modeltest/scorers/videomme.py, `task.videomme_eval`: current or pre20240623), scored 1 when it
is the answer letter. The reply is read as the official script reads it: cut at the chat end
markers only, its spaces and lines kept.

Per set (`official_report`, the aggregation hook): the tables `eval_your_results.py` prints,
per duration and for the whole set, by domain, sub-category and task type, with the official
names in the official order. `task.unparsed` decides what an unreadable reply counts as:
`wrong` (the default: a wrong answer, in every denominator) or `skip` (the official script:
left out of numerator and denominator, so `accuracy` is correct / answered). Either way the
per-question `score` is 1 or 0 and the unparsed count is reported beside every accuracy.
"""
from __future__ import annotations

from modeltest.registry import RegistryError
from modeltest.samples import DataError, Sample
from modeltest.scorers import videomme
from modeltest.scorers.base import SampleScore, Scorer

REPORT_KEYS = ("duration", "domain", "sub_category", "task_type")
ENTIRE = "entire dataset"    # the official "Evaluation on the entire dataset"


def _counts(records: list[dict]) -> dict:
    answered = [r for r in records if not r.get("error")]
    return {"unparsed": sum(1 for r in answered if not (r.get("extra") or {}).get("parsed"))}


def _check(sample: Sample) -> None:
    if not sample.references or sample.references[0] not in "ABCD" \
            or len(sample.references[0]) != 1:
        raise DataError(f"{sample.source}: answer {sample.references!r} is not one letter A-D, "
                        "which Video-MME's scorer compares")


def scorer(task: dict) -> Scorer:
    variant, unparsed = task["videomme_eval"], task["unparsed"]
    if variant not in videomme.VARIANTS:
        raise RegistryError(f"task.videomme_eval={variant}: unknown (known: "
                            f"{', '.join(videomme.VARIANTS)})")
    if unparsed not in videomme.UNPARSED:
        raise RegistryError(f"task.unparsed={unparsed}: unknown (known: "
                            f"{', '.join(videomme.UNPARSED)})")

    def score(answer: str, sample: Sample) -> SampleScore:
        letter, right = videomme.score_answer(answer, sample.references[0], variant)
        return SampleScore(float(right), letter, {"parsed": letter != ""})

    def notes(records: list[dict], overall: dict) -> list[str]:
        count = overall.get("unparsed", 0)
        how = ("left out of numerator and denominator, as eval_your_results.py does"
               if unparsed == "skip" else "scored wrong (task.unparsed=skip: the official "
                                          "script leaves them out)")
        return [f"{count} repl{'y' if count == 1 else 'ies'} with no A-D letter Video-MME's "
                f"extractor reads: {how}"]

    return Scorer("videomme", "accuracy", score, f"{variant}, unparsed={unparsed}",
                  videomme.SOURCES[variant], error_extra=(("parsed", False),), counts=_counts,
                  notes=notes, check_sample=_check, keep_whitespace=True)


def _percent(cell: dict) -> float:
    # eval_your_results.py prints 100 * correct / answered, and 0 where nothing was answered
    return 100.0 * cell["accuracy"] if cell["accuracy"] is not None else 0.0


def _table(cells: dict) -> dict:
    table = {"Overall": _percent(cells), "counted": cells["counted"],
             "unparsed": cells["unparsed"]}
    for key in videomme.BREAKDOWNS:
        table[key] = {name: _percent(cell) for name, cell in cells[key].items()}
    return table


def official_report(records: list[dict], metrics: dict, task: dict) -> None:
    """The official tables into `metrics`: `overall.official` ({duration or "entire
    dataset": {Overall, counted, unparsed, domain, sub_category, task_type}}), the
    per-duration accuracies as `overall.<duration>`, and `accuracy` of the overall and of
    each duration entry as the official script computes it under `task.unparsed`. A sample
    whose generation failed counts as an unreadable reply in these tables."""
    rows = []
    for record in records:
        fields = record.get("fields") or {}
        missing = [key for key in REPORT_KEYS if key not in fields]
        if missing:
            raise DataError(f"record {record['question_id']}: no {', '.join(missing)} "
                            "(task.record_fields must keep them for Video-MME's tables)")
        rows.append({**{key: fields[key] for key in REPORT_KEYS},
                     "extracted": "" if record.get("error") else
                     record.get("normalized_prediction") or "",
                     "answer": record["references"][0]})
    tables = videomme.aggregate(rows, unparsed=task["unparsed"])
    overall = metrics["overall"]
    official = {duration: _table(cells) for duration, cells in tables["durations"].items()}
    official[ENTIRE] = _table(tables["overall"])
    overall["official"] = official
    overall["accuracy"] = official[ENTIRE]["Overall"]
    overall["counted"] = official[ENTIRE]["counted"]
    for duration in videomme.DURATIONS:
        if duration in official:
            overall[duration] = official[duration]["Overall"]
            if duration in metrics:
                metrics[duration]["accuracy"] = official[duration]["Overall"]
                metrics[duration]["counted"] = official[duration]["counted"]
    for duration in videomme.DURATIONS:      # the official order: short, medium, long
        if duration in metrics:
            metrics[duration] = metrics.pop(duration)
