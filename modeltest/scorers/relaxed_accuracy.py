"""ChartQA relaxed accuracy (5%), in the two implementations that exist, case for case.

The ChartQA authors' repository (vis-nlp/ChartQA) ships no relaxed-accuracy code: its models'
evaluators compare strings exactly, and the paper only says "within 5% of the gold answer for
numeric answers, exact match otherwise". Two implementations give that sentence a meaning:

`pix2struct` (the default): google-research/pix2struct `pix2struct/metrics.py`
`relaxed_correctness` at 945f27e936c9464d9d7c133f1bd1f4f383be9e99 (unchanged since the
initial commit 9f695f4, 2022-11-22), with `aggregate_metrics`' max over the reference answers.
VLMEvalKit (`vlmeval/dataset/utils/vqa_eval.py`, which also strips the prediction first), lmms-eval
(`tasks/chartqa/utils.py`, via Qwen-VL's copy) and Qwen-VL/InternVL's eval scripts all use it.
Its quirks, kept on purpose:
- a number is whatever Python's `float()` accepts: surrounding whitespace, "1e3", "1_000",
  "nan", "inf", Unicode digits ("١٢", "１２"); "1,000", "$5" and "12 m" are not numbers;
- a trailing "%" (any number of them: `rstrip("%")`) divides by 100, so "12%" equals "0.12"
  and "12" does not equal "12%";
- the 5% rule is |p - t| / |t| <= 0.05, applied only when the prediction is a number and the
  target is a NON-ZERO number (a target of 0, "0%" or "-0" falls back to the string rule, so
  "0" vs "0.0" is wrong); "nan" targets never match numerically;
- the string rule is `prediction.lower() == target.lower()`: no stripping, no punctuation.

`unichart`: the ChartQA authors' own later code, vis-nlp/UniChart `model/chartqa_model.py`
`ChartQAModule.compute_metric` at 036a3c9386a430bafda263075948757a6ae1ebd9: try
`abs(float(gt) - float(pred)) / abs(float(gt)) <= 0.05`, on ANY exception compare
`str(gt).lower() == str(pred).lower()`, where gt and pred are by then whatever the `try`
had turned them into: no percent handling ("12%" is a string), a zero target raises and is
then compared as floats' strings ("0" vs "0.0" is right, "0" vs "-0" is not), and a numeric
target against a non-numeric prediction compares "12.0" with the prediction (always wrong).
UniChart's pipeline strips spaces (' ') off both before calling it; that step is not part of
this function.
"""
from __future__ import annotations

from typing import Optional, Sequence

MAX_RELATIVE_CHANGE = 0.05
VARIANTS = ("pix2struct", "unichart")
SOURCES = {
    "pix2struct": "google-research/pix2struct pix2struct/metrics.py relaxed_correctness "
                  "945f27e936c9464d9d7c133f1bd1f4f383be9e99",
    "unichart": "vis-nlp/UniChart model/chartqa_model.py ChartQAModule.compute_metric "
                "036a3c9386a430bafda263075948757a6ae1ebd9",
}


def _to_float(text: str) -> Optional[float]:
    try:
        if text.endswith("%"):
            return float(text.rstrip("%")) / 100.0
        return float(text)
    except ValueError:
        return None


def relaxed_correctness(target: str, prediction: str,
                        max_relative_change: float = MAX_RELATIVE_CHANGE) -> bool:
    """pix2struct's rule for one reference answer."""
    prediction_float = _to_float(prediction)
    target_float = _to_float(target)
    if prediction_float is not None and target_float:
        return abs(prediction_float - target_float) / abs(target_float) <= max_relative_change
    return prediction.lower() == target.lower()


def unichart_correctness(target: str, prediction: str,
                         max_relative_change: float = MAX_RELATIVE_CHANGE) -> bool:
    """UniChart's compute_metric for one reference answer (see the module notes)."""
    gt, pred = target, prediction
    try:
        gt = float(gt)
        pred = float(pred)
        return abs(gt - pred) / abs(gt) <= max_relative_change
    except (ValueError, ZeroDivisionError):
        # the only two exceptions float() and the division can raise on strings
        return str(gt).lower() == str(pred).lower()


RULES = {"pix2struct": relaxed_correctness, "unichart": unichart_correctness}


def relaxed_accuracy(prediction: str, answers: Sequence[str], variant: str = "pix2struct") -> float:
    """1.0 when the prediction is right against any reference answer, else 0.0."""
    if variant not in RULES:
        raise ValueError(f"relaxed accuracy variant {variant!r}: unknown "
                         f"(known: {', '.join(VARIANTS)})")
    if not answers:
        raise ValueError("relaxed_accuracy: a question needs at least one reference answer")
    rule = RULES[variant]
    return float(max(rule(answer, prediction) for answer in answers))


def relaxed_accuracy_percent(scores: Sequence[float]) -> float:
    """A set's relaxed accuracy as pix2struct's aggregate_metrics reports it (in percent)."""
    if not scores:
        raise ValueError("relaxed_accuracy_percent: no questions")
    total = 0
    for score in scores:
        total += score
    return (100.0 * total) / len(scores)
