"""OCRBench: the per-question containment rules and the final score out of 1000.

Reproduces the scoring block of Yuliang-Liu/MultimodalOCR `OCRBench/example.py` at
794c36d6423cf1d5764081128bcaeb46b240def6 (the rules have not changed since 15218c3,
2024-01-16; every model script under OCRBench/scripts/ carries the same block). Per question:
- HME100k (Handwritten Mathematical Expression Recognition): the answer and the prediction are
  stripped, newlines become spaces and then every space (' ' only, not tabs or other
  whitespace) is removed; case is kept;
- every other dataset: both are lower-cased, stripped, and newlines become spaces;
- the question scores 1 when a normalized answer is a SUBSTRING of the normalized prediction
  (so an empty or whitespace-only answer always matches, and a long prediction that contains
  the answer anywhere matches); `answers` may be one string or a list (any one suffices).
Which rule applies is decided by `dataset_name == "HME100k"` (VLMEvalKit decides by the
category; in OCRBench both pick the same 100 questions). The prediction is normalized again
for each answer in the list, as the original loop does (the steps are idempotent).

Aggregation (only printed by the original when there are exactly 1000 questions): the sum of
the 0/1 results per question `type` (the ten categories below), "Text Recognition" the sum of
the first six, "Final Score" the sum of all ten (out of 1000). Questions without a prediction
are skipped there; here every record has one.
"""
from __future__ import annotations

from typing import Iterable, Sequence, Union

SOURCE = ("Yuliang-Liu/MultimodalOCR OCRBench/example.py scoring block "
          "794c36d6423cf1d5764081128bcaeb46b240def6")
HME_DATASET = "HME100k"
RECOGNITION = ("Regular Text Recognition", "Irregular Text Recognition",
               "Artistic Text Recognition", "Handwriting Recognition",
               "Digit String Recognition", "Non-Semantic Text Recognition")
CATEGORIES = RECOGNITION + ("Scene Text-centric VQA", "Doc-oriented VQA",
                            "Key Information Extraction",
                            "Handwritten Mathematical Expression Recognition")
# Points available per category in the 1000 questions (the printed "(Total N)").
CATEGORY_TOTALS = dict(zip(CATEGORIES, (50, 50, 50, 50, 50, 50, 200, 200, 200, 100)))


def _hme(text: str) -> str:
    return text.strip().replace("\n", " ").replace(" ", "")


def _plain(text: str) -> str:
    return text.lower().strip().replace("\n", " ")


def ocrbench_hit(prediction: str, answers: Union[str, Sequence[str]], dataset_name: str) -> int:
    """1 when a normalized answer is contained in the normalized prediction, else 0."""
    normalize = _hme if dataset_name == HME_DATASET else _plain
    if isinstance(answers, str):
        return int(normalize(answers) in normalize(prediction))
    result = 0
    for answer in answers:
        prediction = normalize(prediction)
        if normalize(answer) in prediction:
            result = 1
    return result


def ocrbench_scores(results: Iterable[tuple[str, int]]) -> dict:
    """Per-category sums, "Text Recognition" and "Final Score" from (type, 0/1) pairs."""
    scores = {category: 0 for category in CATEGORIES}
    for category, hit in results:
        if category not in scores:
            raise ValueError(f"OCRBench type {category!r}: unknown "
                             f"(known: {', '.join(CATEGORIES)})")
        scores[category] += hit
    recognition = sum(scores[category] for category in RECOGNITION)
    final = recognition + sum(scores[category] for category in CATEGORIES[len(RECOGNITION):])
    return dict(scores, **{"Text Recognition": recognition, "Final Score": final})
