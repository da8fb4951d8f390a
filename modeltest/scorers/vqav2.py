"""VQA v2 accuracy, step for step as GT-Vision-Lab's vqaEval.py computes it, in two variants.

`current` (the default): vqaEval.py since commit a013f00 ("Fixed processing answers bug",
2021-03-11). Per question:
- newlines and tabs become spaces and surrounding whitespace goes, in the prediction and in
  the ten answers;
- only when the ten (stripped) answers are NOT all identical do the answers AND the prediction
  go through the punctuation step and then the digit/article/contraction step; when they are
  identical, nothing else is normalised ("Yes" against "yes" x10 scores 0, "t-shirt" against
  "t-shirt" x10 scores 1).

`pre2021`: vqaEval.py before a013f00 (what many papers and harnesses used):
- the prediction is always stripped and normalised (punctuation, then digits/articles);
- the answers are not stripped, and get only the punctuation step, only when the ten are not
  all identical.

Both: accuracy is the mean over the leave-one-out subsets of min(1, matches / 3):
1 match -> 0.3, 2 -> 0.6, 3 -> 0.9, 4 or more -> 1.0. An empty prediction is scored like any
other string. vqaEval.py is Python 2 code: its patterns' \\d is [0-9], and it lower-cases,
splits and strips by Python 2's Unicode tables (see answer_normalization).
"""
from __future__ import annotations

from .answer_normalization import (PY2_WHITESPACE, leave_one_out_accuracy,
                                   process_digit_article, process_punctuation)

VARIANTS = ("current", "pre2021")
SOURCES = {
    "current": "GT-Vision-Lab/VQA vqaEval.py at a013f00 (2021-03-11, current)",
    "pre2021": "GT-Vision-Lab/VQA vqaEval.py before a013f00 (a4f1afd)",
}


def _strip(text: str) -> str:
    return text.replace("\n", " ").replace("\t", " ").strip(PY2_WHITESPACE)


def _full(text: str) -> str:
    return process_digit_article(process_punctuation(text), py2=True)


def normalize_vqa(prediction: str, answers: list[str],
                  variant: str = "current") -> tuple[str, list[str]]:
    """(prediction, answers) as the chosen vqaEval.py variant compares them."""
    if variant == "current":
        prediction, answers = _strip(prediction), [_strip(a) for a in answers]
        if len(set(answers)) > 1:
            prediction, answers = _full(prediction), [_full(a) for a in answers]
        return prediction, answers
    if variant == "pre2021":
        prediction = _full(_strip(prediction))
        if len(set(answers)) > 1:
            answers = [process_punctuation(a) for a in answers]
        return prediction, list(answers)
    raise ValueError(f"task.vqa_eval={variant}: unknown (known: {', '.join(VARIANTS)})")


def vqa_v2_accuracy(prediction: str, answers: list[str], variant: str = "current") -> float:
    """Score in [0, 1] of one prediction against the (usually ten) human answers."""
    return leave_one_out_accuracy(*normalize_vqa(prediction, answers, variant))


def exact_membership_accuracy(prediction: str, answers: list[str],
                              variant: str = "current") -> float:
    """The seed harness's simpler number: 1 if the normalised prediction is any reference."""
    normalized, references = normalize_vqa(prediction, answers, variant)
    return float(normalized in references)


def scorer(task: dict):
    """`task.vqa_eval`: current (default) or pre2021."""
    from modeltest.registry import RegistryError
    from modeltest.scorers.base import SampleScore, Scorer

    variant = str(task.get("vqa_eval") or "current")
    if variant not in VARIANTS:
        raise RegistryError(f"task.vqa_eval={variant}: unknown (known: {', '.join(VARIANTS)})")

    def score(answer: str, sample) -> SampleScore:
        normalized, references = normalize_vqa(answer, sample.references, variant)
        return SampleScore(leave_one_out_accuracy(normalized, references), normalized,
                           {"exact_match": float(normalized in references)})
    return Scorer("vqav2", "accuracy", score, variant, SOURCES[variant],
                  extra_metrics=("exact_match",), error_extra=(("exact_match", 0.0),))
