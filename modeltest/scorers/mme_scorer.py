"""`scorer: mme`: each question right (1) or wrong (0) as MME's calculation.py reads the
answer (modeltest/scorers/mme.py: "yes"/"no" in its first four characters, else "other",
which is wrong); `acc` is the percent right, per subtask and overall, `other_num` how many
answers read as neither.

The aggregation hook adds the tool's set-level numbers: per subtask `acc_plus` (percent of
images whose two questions are both right) and `score` (acc + acc+, out of 200), and overall
`perception` (the ten perception subtasks, out of 2000) and `cognition` (the four cognition
ones, out of 800), subtasks in the tool's order. The two questions of an image are paired by
`image_path` (VLMEvalKit's column; lmms-lab's question_id). A subtask whose images do not
all have their two questions (e.g. cut by task.limit) gets no acc_plus or score and is left
out of the totals, as a subtask not run is; the notes name them.
"""
from __future__ import annotations

from collections import Counter, defaultdict

from modeltest.samples import DataError
from modeltest.scorers.base import SampleScore, Scorer
from modeltest.scorers.mme import EVAL_TYPES, SOURCE, SUBTASKS, mme_report, parse_yes_no
from modeltest.scorers.official_tables import record_field, reorder

PAIR_FIELD = "image_path"


def _check(sample) -> None:
    if len(sample.references) != 1 or sample.references[0].lower() not in ("yes", "no"):
        raise DataError(f"{sample.source}: MME's answer must be Yes or No, got "
                        f"{sample.references!r}")
    if sample.fields.get("category") not in SUBTASKS:
        raise DataError(f"{sample.source}: category {sample.fields.get('category')!r} is not "
                        f"one of MME's 14 subtasks ({', '.join(SUBTASKS)})")
    if not sample.fields.get(PAIR_FIELD):
        raise DataError(f"{sample.source}: no {PAIR_FIELD} (the image the question's pair "
                        "shares)")


def _counts(records: list[dict]) -> dict:
    return {"other_num": sum(1 for r in records if (r.get("extra") or {}).get("read") == "other")}


def _notes(records: list[dict], overall: dict) -> list[str]:
    notes = []
    if overall.get("subtasks_incomplete"):
        notes.append("subtasks with an image lacking one of its two questions (no acc_plus, "
                     "score, nor a share of the totals): "
                     + ", ".join(overall["subtasks_incomplete"]))
    if overall.get("subtasks_not_run"):
        notes.append("perception and cognition add only the subtasks run; not run: "
                     + ", ".join(overall["subtasks_not_run"]))
    return notes


def scorer(task: dict) -> Scorer:
    def score(answer: str, sample) -> SampleScore:
        read = parse_yes_no(answer)
        return SampleScore(float(read == sample.references[0].lower()), read, {"read": read})
    return Scorer("mme", "acc", score, "calculation.py", SOURCE,
                  error_extra=(("read", "other"),), counts=_counts, notes=_notes,
                  check_sample=_check,
                  keep_whitespace=True)   # the tool reads the first four characters


def aggregate(records: list[dict], metrics: dict, task: dict) -> None:
    by_subtask: dict[str, list[dict]] = defaultdict(list)
    for record in records:
        by_subtask[record_field(record, "category")].append({
            "subtask": record_field(record, "category"),
            "image": record_field(record, PAIR_FIELD),
            "prediction": record["cleaned_prediction"] or "",
            "answer": record["references"][0]})
    complete, incomplete = [], []
    for name in SUBTASKS:
        if name not in by_subtask:
            continue
        per_image = Counter(question["image"] for question in by_subtask[name])
        if all(count == 2 for count in per_image.values()):
            complete.extend(by_subtask[name])
        else:
            incomplete.append(name)
    report = mme_report(complete)
    for name, values in report["subtasks"].items():
        if name in metrics:      # the subtask tables (task.subject_field: category)
            metrics[name]["acc_plus"] = 100.0 * values["acc_plus"]
            metrics[name]["score"] = values["score"]
    overall = metrics["overall"]
    for eval_type, names in EVAL_TYPES.items():
        ran = any(name in report["subtasks"] for name in names)
        overall[eval_type.lower()] = report["totals"][eval_type] if ran else None
    overall["subtasks_incomplete"] = incomplete
    overall["subtasks_not_run"] = [name for name in SUBTASKS if name not in by_subtask]
    reorder(metrics, SUBTASKS)
