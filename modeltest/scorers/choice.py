"""Multiple choice: which lettered option an answer names (modeltest/scorers/choice_extraction.py),
right when it is the reference letter. Any task whose samples have options can use it
(`task.scorer: choice`). Options: `task.choice_fallback` (none: an answer naming no option is
wrong and counted as unparsed; similarity: the closest option by token F1, at least
`task.choice_similarity_threshold`)."""
from __future__ import annotations

from modeltest.samples import DataError, Sample
from modeltest.registry import RegistryError
from modeltest.scorers.base import SampleScore, Scorer
from modeltest.scorers.choice_extraction import FALLBACKS, read_choice

READS = ("letter", "text", "similarity")


def _counts(records: list[dict]) -> dict:
    answered = [r for r in records if not r.get("error")]
    counts = {"unparsed": sum(1 for r in answered if not (r.get("extra") or {}).get("parsed"))}
    for how in READS:
        counts[f"read_by_{how}"] = sum(1 for r in answered
                                       if (r.get("extra") or {}).get("read") == how)
    return counts


def _notes(records: list[dict], overall: dict) -> list[str]:
    reads = ", ".join(f"{overall.get('read_by_' + how, 0)} by {how}" for how in READS)
    notes = [f"choices read: {reads}; {overall.get('unparsed', 0)} unparsed"]
    if overall.get("unparsed"):
        notes.append(f"{overall['unparsed']} answer(s) named no readable choice (scored wrong)")
    return notes


def _check(sample: Sample) -> None:
    if not sample.choices:
        raise DataError(f"{sample.source}: no options, which task.scorer=choice needs")
    if not sample.references or sample.references[0] not in sample.choices:
        answer = sample.references[0] if sample.references else ""
        raise DataError(f"{sample.source}: answer '{answer}' is not among the options "
                        f"{', '.join(sample.choices)}")


def scorer(task: dict) -> Scorer:
    fallback = str(task.get("choice_fallback") or "none")
    if fallback not in FALLBACKS:
        raise RegistryError(f"task.choice_fallback={fallback}: unknown (known: "
                            f"{', '.join(FALLBACKS)})")
    threshold = float(task["choice_similarity_threshold"]) \
        if task.get("choice_similarity_threshold") is not None else 0.5

    def score(answer: str, sample: Sample) -> SampleScore:
        choice, how = read_choice(answer, sample.choices or {}, fallback, threshold)
        return SampleScore(float(choice is not None and choice == sample.references[0]),
                           choice or "", {"parsed": choice is not None, "read": how})
    variant = "strict" if fallback == "none" else f"similarity>={threshold:g}"
    return Scorer("choice", "accuracy", score, variant,
                  "letter and option-text reader (modeltest/scorers/choice_extraction.py)",
                  error_extra=(("parsed", False), ("read", None)), counts=_counts,
                  notes=_notes, check_sample=_check)
