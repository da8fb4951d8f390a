"""MVBench as a task's scorer and its official table (conf/task/mvbench.yaml).

Per question (`scorer`): the reply becomes what the notebook's `check_ans` sees ("(" + its
first line, cut at "###" and after "Assistant:"; modeltest/scorers/mvbench.py) and is compared
with the ground truth "(X) answer" built from the candidates. The reply is read as the
notebook reads it: cut at the chat end markers only, its lines and spaces kept.
`task.unparsed` decides a reply whose option piece names no letter ("", "(", "()"): `wrong`
(the default) or `substring` (the notebook's check_ans, where an empty reply is right for
every question). Either way the per-question `score` is 1 or 0 and the unparsed count is
reported.

Per set (`official_table`, the aggregation hook): accuracy per task with the official names
in the notebook's order, and "Avg", correct over all questions, as the leaderboard cell.
"""
from __future__ import annotations

from modeltest.registry import RegistryError
from modeltest.samples import DataError, Sample
from modeltest.scorers import mvbench
from modeltest.scorers.base import SampleScore, Scorer


def _counts(records: list[dict]) -> dict:
    answered = [r for r in records if not r.get("error")]
    return {"unparsed": sum(1 for r in answered if not (r.get("extra") or {}).get("parsed"))}


def truth(sample: Sample) -> str:
    """The ground truth `qa_template` builds from the candidates (in option order)."""
    return mvbench.truth_string(list((sample.choices or {}).values()), sample.references[0])


def _check(sample: Sample) -> None:
    try:
        truth(sample)
    except (ValueError, IndexError):
        raise DataError(f"{sample.source}: answer {sample.references[:1]} is not one of the "
                        f"candidates {list((sample.choices or {}).values())}") from None


def scorer(task: dict) -> Scorer:
    unparsed = task["unparsed"]
    if unparsed not in mvbench.UNPARSED:
        raise RegistryError(f"task.unparsed={unparsed}: unknown (known: "
                            f"{', '.join(mvbench.UNPARSED)})")

    def score(answer: str, sample: Sample) -> SampleScore:
        prediction = mvbench.official_prediction(answer)
        right, parsed = mvbench.score_prediction(prediction, truth(sample), unparsed)
        return SampleScore(float(right), prediction, {"parsed": parsed})

    def notes(records: list[dict], overall: dict) -> list[str]:
        count = overall.get("unparsed", 0)
        how = ("scored as the notebook's check_ans scores them (an empty reply is right)"
               if unparsed == "substring" else
               "scored wrong (task.unparsed=substring: as the notebook's check_ans, which "
               "counts an empty reply right)")
        return [f"{count} repl{'y' if count == 1 else 'ies'} naming no option: {how}"]

    return Scorer("mvbench", "accuracy", score, f"unparsed={unparsed}", mvbench.SOURCE,
                  error_extra=(("parsed", False),), counts=_counts, notes=notes,
                  check_sample=_check, keep_whitespace=True)


def official_table(records: list[dict], metrics: dict, task: dict) -> None:
    """The notebook's `final_res` as `overall.official` ({task: accuracy, ..., "Avg"}), "Avg"
    as `overall.avg`, and the tasks' entries in the notebook's order."""
    rows = [{"task_type": str(r["subject"]), "correct": (r.get("score") or 0.0) >= 1.0,
             "parsed": bool((r.get("extra") or {}).get("parsed"))} for r in records]
    table = mvbench.aggregate(rows)
    official = {name: 100.0 * cell["accuracy"] for name, cell in table["tasks"].items()}
    official["Avg"] = 100.0 * table["avg"] if table["avg"] is not None else 0.0
    metrics["overall"]["official"] = official
    metrics["overall"]["avg"] = official["Avg"]
    for name in mvbench.TASKS:                 # the notebook's order
        if name in metrics:
            metrics[name] = metrics.pop(name)
