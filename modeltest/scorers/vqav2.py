"""VQA v2 accuracy, step for step as GT-Vision-Lab's vqaEval.py computes it.

Official behaviour kept here:
- the prediction always goes through punctuation and digit/article/contraction processing;
- the reference answers get *only* the punctuation step, and only when the ten answers are
  not all identical (so "two" among varied references never equals a prediction "two",
  which becomes "2"; the official annotation files already hold digits);
- accuracy is the mean over the ten leave-one-out subsets of min(1, matches / 3):
  1 match -> 0.3, 2 -> 0.6, 3 -> 0.9, 4 or more -> 1.0.
"""
from __future__ import annotations

from .answer_normalization import (leave_one_out_accuracy, process_digit_article,
                                   process_punctuation)


def normalize_vqa_prediction(prediction: str) -> str:
    text = prediction.replace("\n", " ").replace("\t", " ").strip()
    return process_digit_article(process_punctuation(text))


def normalize_vqa_references(answers: list[str]) -> list[str]:
    answers = [a.replace("\n", " ").replace("\t", " ").strip() for a in answers]
    if len(set(answers)) > 1:
        answers = [process_punctuation(a) for a in answers]
    return answers


def vqa_v2_accuracy(prediction: str, answers: list[str]) -> float:
    """Score in [0, 1] of one prediction against the (usually ten) human answers."""
    return leave_one_out_accuracy(normalize_vqa_prediction(prediction),
                                  normalize_vqa_references(answers))


def exact_membership_accuracy(prediction: str, answers: list[str]) -> float:
    """The seed harness's simpler number: 1 if the normalised prediction is any reference."""
    return float(normalize_vqa_prediction(prediction) in normalize_vqa_references(answers))
