"""ANLS (DocVQA, InfographicVQA) exactly as the challenge's published evaluation script computes it.

Reproduces `infographicsVQA_eval.py`, the standalone script docvqa.org / the RRC publish
("This file can be downloaded from: https://www.docvqa.org/datasets/infographicvqa and
https://rrc.cvc.uab.es/?ch=17"), as vendored unmodified in QwenLM/Qwen-VL
`eval_mm/infographicsvqa_eval.py` (added in e6bbb9dd9e9fc44a4498d372e83b3b172dc1d808 and the
same at HEAD aa00ed04091eea5fcdd32985e7915f1c53e7d599, which recorded the golden cases).
lmms-eval's `anls` (lmms_eval/api/metrics.py) and VLMEvalKit's `anls_compute` + `hit_calculate`
(vlmeval/dataset/utils/vqa_eval.py) are line-for-line the same rule.
Per question, for every reference answer:
- both strings are stripped, lower-cased and their runs of whitespace collapsed to one space
  (`' '.join(s.strip().lower().split())`) before the Levenshtein distance is taken;
- the distance is divided by the length of the RAW strings, upper-cased:
  `max(len(answer.upper()), len(prediction.upper()))` (kept on purpose: published numbers use
  it). So padding whitespace lowers the normalized distance ("  Paris  " vs "pari": distance 1
  over 9), and characters whose upper case is longer count more ("ß" -> "SS", "ﬁ" -> "FI");
- two empty raw strings give distance 0 (similarity 1); a whitespace-only answer against an
  empty prediction also gives 1 (distance 0 over a non-zero raw length).
The question's score is 1 - min(normalized distances); below the threshold (0.5) it is 0.
The older RRC rule, `levenshtein_distance(answer.lower(), prediction.lower())` with no
stripping (left commented out in the script), is not reproduced: no official copy of it runs.
The set's ANLS is the plain mean over questions, summed in order as the script does.
"""
from __future__ import annotations

from typing import Sequence

THRESHOLD = 0.5
SOURCE = ("docvqa.org/RRC infographicsVQA_eval.py (QwenLM/Qwen-VL eval_mm/infographicsvqa_eval.py "
          "e6bbb9dd9e9fc44a4498d372e83b3b172dc1d808)")


def levenshtein_distance(first: str, second: str) -> int:
    """Edit distance with unit insertions, deletions and substitutions."""
    if len(first) > len(second):
        first, second = second, first
    previous = list(range(len(first) + 1))
    for j, char_b in enumerate(second):
        current = [j + 1]
        for i, char_a in enumerate(first):
            if char_a == char_b:
                current.append(previous[i])
            else:
                current.append(1 + min(previous[i], previous[i + 1], current[-1]))
        previous = current
    return previous[-1]


def normalize(text: str) -> str:
    """What the distance is taken on: stripped, lower-cased, whitespace runs -> one space."""
    return " ".join(text.strip().lower().split())


def normalized_distance(prediction: str, answer: str) -> float:
    """Distance of the normalized strings over the raw upper-cased length (0.0 for two empties)."""
    length = max(len(answer.upper()), len(prediction.upper()))
    if length == 0:
        return 0.0
    return float(levenshtein_distance(normalize(answer), normalize(prediction))) / float(length)


def anls(prediction: str, answers: Sequence[str], threshold: float = THRESHOLD) -> float:
    """One question's score: 1 - the smallest normalized distance, 0 below the threshold."""
    if not answers:
        raise ValueError("anls: a question needs at least one reference answer")
    score = 1 - min(normalized_distance(prediction, answer) for answer in answers)
    return 0.0 if score < threshold else score


def mean_anls(scores: Sequence[float]) -> float:
    """The set's ANLS as the script reports it: the scores summed in order, over their count."""
    if not scores:
        raise ValueError("mean_anls: no questions")
    total = 0
    for score in scores:
        total += score
    return total / len(scores)
