"""`scorer: anls` (DocVQA, InfoVQA): each question's ANLS as the RRC script computes it
(modeltest/scorers/anls.py); the set's `anls` is their mean, in percent.

DocVQA and InfoVQA publish no test answers: a question without reference answers is not
scored (its record's score is null and the metric covers the others, or is absent when none
has answers), and the notes point at the official result file (`task.submission`) the
benchmark's server (RRC) scores.
"""
from __future__ import annotations

from modeltest.scorers.anls import SOURCE, THRESHOLD, anls, normalize
from modeltest.scorers.base import SampleScore, Scorer


def unanswered_notes(task: dict):
    """Notes for records without reference answers (a test split)."""
    spec = task["submission"]
    target = f"results/{str(spec['file']).format(task=task['name'])}" if spec else None

    def notes(records: list[dict], overall: dict) -> list[str]:
        unanswered = sum(1 for r in records if not r["references"])
        if not unanswered:
            return []
        scored = len(records) - unanswered
        text = (f"{unanswered} of {len(records)} question(s) have no reference answers (a test "
                "split): not scored")
        text += f"; the metric covers the other {scored}" if scored else "; no metric"
        if target:
            text += f"; {target} is the official result file the benchmark's server scores"
        return [text]
    return notes


def scorer(task: dict) -> Scorer:
    def score(answer: str, sample) -> SampleScore:
        if not sample.references:
            return SampleScore(None, normalize(answer))
        return SampleScore(anls(answer, sample.references, THRESHOLD), normalize(answer))
    return Scorer("anls", "anls", score, f"rrc (threshold {THRESHOLD})", SOURCE,
                  notes=unanswered_notes(task),
                  keep_whitespace=True)   # ANLS divides by the answer's raw length
