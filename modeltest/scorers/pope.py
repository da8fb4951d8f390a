"""POPE: the yes/no reading and the set-level metrics of RUCAIBox/POPE's evaluate.py.

Reproduces `evaluate.py` at 3df3ba1b110ecce25696989577fad583b67d4239 (the file is unchanged
since the initial commit f3ec604, 2023-05-31). Reading an answer, kept as it is:
- only the first sentence counts: when the text contains a ".", everything from the first "."
  on is dropped ("No. Yes" -> "No"; "3.5 ..." -> "3");
- commas are removed, then the text is split on single spaces (" " only: tabs and newlines
  stay inside words, so "no\\nthere" is one word);
- the answer is "no" when one of the words is exactly "No", "not" or "no" (case-sensitive:
  "NO", "Not", "no!" and "no;" are not), otherwise "yes". So "Yes, but no" and "There is
  no.thing" are "no", while "", "I don't know", "NO", "no\\nthere" and "3.5 no" (first
  sentence "3") are "yes". Nothing is "unparsed": an answer that does not say no in those
  words counts as yes, as in the official script.
- Labels: "no" is negative, anything else positive in the script; here they must be "yes" or
  "no" (any case), since POPE's label files hold only those.
Metrics over a set (one split): TP, FP, TN, FN with "yes" positive; accuracy = (TP+TN)/all;
precision = TP/(TP+FP); recall = TP/(TP+FN); F1 = 2*precision*recall/(precision+recall);
yes_ratio = predicted yes / all. Where the script divides by zero (no "yes" predicted, no
positive label, or TP = 0) it stops with ZeroDivisionError; here that metric is None.
"""
from __future__ import annotations

from typing import Optional, Sequence

SOURCE = "RUCAIBox/POPE evaluate.py 3df3ba1b110ecce25696989577fad583b67d4239"
SPLITS = ("adversarial", "popular", "random")
NEGATIVE_WORDS = ("No", "not", "no")


def parse_yes_no(answer: str) -> str:
    """"yes" or "no", as evaluate.py reads an answer."""
    text = answer
    if text.find(".") != -1:
        text = text.split(".")[0]
    words = text.replace(",", "").split(" ")
    return "no" if any(word in words for word in NEGATIVE_WORDS) else "yes"


def _label(label: str) -> str:
    value = label.lower()
    if value not in ("yes", "no"):
        raise ValueError(f"POPE label {label!r}: must be yes or no")
    return value


def _ratio(numerator: float, denominator: float) -> Optional[float]:
    return None if denominator == 0 else float(numerator) / float(denominator)


def pope_metrics(answers: Sequence[str], labels: Sequence[str]) -> dict:
    """The script's counts and metrics for one set of answers and their labels."""
    if len(answers) != len(labels):
        raise ValueError(f"POPE: {len(answers)} answers for {len(labels)} labels")
    if not answers:
        raise ValueError("POPE: no answers")
    predictions = [parse_yes_no(answer) for answer in answers]
    truths = [_label(label) for label in labels]
    tp = sum(p == "yes" and t == "yes" for p, t in zip(predictions, truths))
    fp = sum(p == "yes" and t == "no" for p, t in zip(predictions, truths))
    tn = sum(p == "no" and t == "no" for p, t in zip(predictions, truths))
    fn = sum(p == "no" and t == "yes" for p, t in zip(predictions, truths))
    precision = _ratio(tp, tp + fp)
    recall = _ratio(tp, tp + fn)
    if precision is None or recall is None or precision + recall == 0:
        f1 = None
    else:
        f1 = 2 * precision * recall / (precision + recall)
    return {"TP": tp, "FP": fp, "TN": tn, "FN": fn,
            "accuracy": (tp + tn) / (tp + tn + fp + fn),
            "precision": precision, "recall": recall, "f1": f1,
            "yes_ratio": predictions.count("yes") / len(predictions)}
