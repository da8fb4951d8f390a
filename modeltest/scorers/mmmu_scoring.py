"""`task.scorer: mmmu`: MMMU scored by its authors' own evaluation (mmmu.py, proven case by case
against MMMU-Benchmark/MMMU's main_parse_and_eval.py), and its official report tables
(`tables`, the aggregation hook).

Task keys (conf/task/mmmu.yaml):
- `scoring`: `mmmu` (MMMU's eval_utils, the default) or `vlmevalkit` (VLMEvalKit's exact
  matching, as its MMMU_DEV_VAL evaluation scores without a judge: vlmevalkit_scoring.py).
- `unparsed` (mmmu scoring): a multiple-choice answer naming no option is `strict`ly wrong and
  counted as unparsed (default), or, `random`, gets the letter MMMU's own code would draw:
  `random.choice` on one generator seeded `unparsed_seed` (42) per split, drawn in the order
  its run visits the questions (subjects in its order, then the id's number). The whole run is
  scored at once for that (`Scorer.score_all`), whatever order its answers came in.
- `can_infer_version` (vlmevalkit scoring): as for vlmevalkit_mcq.
A question is multiple choice when its `question_type` says so (the lmms-lab copy), or, in
VLMEvalKit's TSV (no such column), when it has options; its options are those the data
holds (MMMU's index2ans: an option "None" counts, though VLMEvalKit's prompt does not show
it; VLMEvalKit's own TSV has such options as empty cells). A sample's subject and split are
its `category` and `split` fields (the TSV's columns; from the id in the lmms-lab copy,
modeltest/tasks/image_mcq.py).
"""
from __future__ import annotations

from collections import defaultdict

from modeltest.registry import RegistryError
from modeltest.samples import DataError, Sample
from modeltest.scorers import mmmu
from modeltest.scorers.base import SampleScore, Scorer
from modeltest.scorers.vlmevalkit_scoring import vlmevalkit_scorer

SCORINGS = ("mmmu", "vlmevalkit")
SOURCE = ("MMMU-Benchmark/MMMU bb0b95a mmmu/utils/eval_utils.py (parse_multi_choice_response, "
          "parse_open_response, eval_multi_choice, eval_open) via main_parse_and_eval.py")


def _answer(sample: Sample) -> str | list[str]:
    """One reference as a string, several (or none: nothing is right) as a list."""
    references = list(sample.references)
    return references[0] if len(references) == 1 else references


def case_of(answer: str, sample: Sample) -> mmmu.MMMUCase:
    """The question as main_parse_and_eval.py reads it from output.json."""
    options = dict(sample.choices or {})    # as the data holds them (index2ans)
    question_type = sample.fields.get("question_type") or (
        "multiple-choice" if options else "open")
    category = sample.fields.get("category")
    return mmmu.MMMUCase(str(sample.question_id), str(question_type), _answer(sample), answer,
                         tuple(options), options,
                         None if category in (None, "") else str(category))


def _result_score(result: mmmu.MMMUResult) -> SampleScore:
    parsed = result.parsed
    shown = parsed if isinstance(parsed, str) or parsed is None else \
        " | ".join(repr(value) for value in parsed)
    return SampleScore(float(result.correct), shown or "",
                       {"parsed": shown, "unparsed": result.unparsed})


def _counts(records: list[dict]) -> dict:
    answered = [r for r in records if not r.get("error")]
    return {"unparsed": sum(1 for r in answered if (r.get("extra") or {}).get("unparsed"))}


def _notes(unparsed: str):
    def notes(records: list[dict], overall: dict) -> list[str]:
        count = overall.get("unparsed", 0)
        if not count:
            return ["0 multiple-choice answers unparsed"]
        if unparsed == "random":
            return [f"{count} multiple-choice answer(s) named no option: given the letter MMMU's "
                    "own code draws for them (random.seed(42), task.unparsed=random)"]
        return [f"{count} multiple-choice answer(s) named no option: scored wrong "
                "(task.unparsed=strict; MMMU's own code guesses a letter at random: "
                "task.unparsed=random reproduces its seeded draw)"]
    return notes


def _check_order(sample: Sample) -> None:
    """task.unparsed=random needs each question's place in the official order."""
    subject = sample.fields.get("category") or mmmu.subject_of(str(sample.question_id))
    if subject not in mmmu.SUBJECT_ORDER:
        raise DataError(f"{sample.source}: MMMU subject {subject!r} (field category, or the "
                        "id) is not one of MMMU's 30, which task.unparsed=random needs to draw "
                        "in the official order")


def scorer(task: dict) -> Scorer:
    """SCORERS["mmmu"]."""
    scoring = str(task["scoring"])
    if scoring not in SCORINGS:
        raise RegistryError(f"task.scoring={scoring}: unknown (known: {', '.join(SCORINGS)})")
    if scoring == "vlmevalkit":
        return vlmevalkit_scorer(task, mmmu_rule=True)
    unparsed = str(task["unparsed"])
    if unparsed not in mmmu.UNPARSED_POLICIES:
        raise RegistryError(f"task.unparsed={unparsed}: unknown (known: "
                            f"{', '.join(mmmu.UNPARSED_POLICIES)})")
    seed = int(task["unparsed_seed"])

    def score(answer: str, sample: Sample) -> SampleScore:
        if unparsed == "random":    # one answer alone: a run is scored by score_all
            return score_all([(answer, sample)])[0]
        return _result_score(mmmu.score_case(case_of(answer, sample)))

    def score_all(pairs: list[tuple[str, Sample]]) -> list[SampleScore]:
        """Each split is one official run: its guesses drawn in the official order."""
        by_split: dict[str, list[int]] = defaultdict(list)
        for position, (_, sample) in enumerate(pairs):
            by_split[str(sample.fields.get("split") or "")].append(position)
        scores: list[SampleScore | None] = [None] * len(pairs)
        for positions in by_split.values():
            cases = [case_of(*pairs[p]) for p in positions]
            for position, result in zip(positions, mmmu.evaluate_split(cases, unparsed, seed)):
                scores[position] = _result_score(result)
        return scores   # type: ignore[return-value]

    variant = "strict" if unparsed == "strict" else f"random (seed {seed})"
    return Scorer("mmmu", "accuracy", score, variant, SOURCE,
                  error_extra=(("parsed", None), ("unparsed", False)), counts=_counts,
                  notes=_notes(unparsed),
                  check_sample=_check_order if unparsed == "random" else (lambda s: None),
                  keep_whitespace=True, score_all=score_all if unparsed == "random" else None)


def _table_entry(records: list[dict]) -> dict:
    """A table row: its questions, right answers, accuracy, and the scoring's counts (MMMU's
    `unparsed`, or VLMEvalKit's `needs_judge`)."""
    right = sum(1 for r in records if float(r.get("score") or 0.0) >= 1.0)
    entry = {"total": len(records), "pass": right,
             "accuracy": 100.0 * right / len(records) if records else 0.0}
    answered = [r.get("extra") or {} for r in records if not r.get("error")]
    for count in ("unparsed", "needs_judge"):
        if any(count in extra for extra in answered):
            entry[count] = sum(1 for extra in answered if extra.get(count))
    return entry


def tables(records: list[dict], metrics: dict, task: dict) -> None:
    """The aggregation hook: MMMU's report per split (main_eval_only.py's table, VLMEvalKit's
    row per split): `<split>/Overall-<discipline>`, then its subjects `<split>/<Subject>`, for
    each discipline in the official order, then `<split>/Overall` (instance-level accuracy:
    right answers over questions); the overall entry gets `accuracy_<split>` for each split
    (VLMEvalKit's primary number is `accuracy_validation`)."""
    by_split: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for record in records:
        fields = record.get("fields") or {}
        by_split[str(fields.get("split") or "all")][str(fields.get("category"))].append(record)
    for split in sorted(by_split):
        subjects = by_split[split]
        for discipline, members in mmmu.DISCIPLINES.items():
            present = [s for s in members if s in subjects]
            if not present:
                continue
            metrics[f"{split}/Overall-{discipline}"] = _table_entry(
                [r for s in present for r in subjects[s]])
            for subject in present:
                metrics[f"{split}/{subject}"] = _table_entry(subjects[subject])
        everything = [r for members in subjects.values() for r in members]
        metrics[f"{split}/Overall"] = _table_entry(everything)
        metrics["overall"][f"accuracy_{split}"] = metrics[f"{split}/Overall"]["accuracy"]
