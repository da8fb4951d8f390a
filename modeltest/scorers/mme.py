"""MME: yes/no reading, acc and acc+ per subtask, the 14 subtask scores and the two totals.

Reproduces `eval_tool/calculation.py` from MME's evaluation kit (BradyFU/Awesome-Multimodal-
Large-Language-Models, branch Evaluation, `tools/eval_tool.zip` added in
1c1d69e138b57cf8b0400427927bfb8ed4285458, 2023-07-01; the branch head dd29509 still ships it).
- Reading an answer: the prediction is lower-cased; exactly "yes" or "no" is that answer;
  otherwise only its FIRST FOUR characters are searched, "yes" first, then "no" as a
  substring: "yes, it is" -> yes, "no." -> no, "not sure" -> no, "none" -> no, "know" -> no,
  "yesterday" -> yes, "nope" -> no, "Yes, but no" -> yes, " yes" -> yes, "  yes" -> other,
  "I think yes" -> other, "" -> other. Anything else is "other": counted as wrong (the tool
  never guesses) and reported as `other_num`. The tool reads answers from tab-separated
  lines, so a prediction must be one line without tabs (its readme says to delete newlines).
- Ground truth: "Yes"/"No" (lower-cased by the tool; anything else is an error).
- Per subtask: acc = right answers / questions; acc+ = images whose TWO questions are both
  right / images; score = acc * 100 + acc+ * 100 (added in that order). The tool pairs the
  lines of a subtask file two by two in file order; here the two questions of an image are
  the records sharing its image name, in the order given (exactly two each, as the tool
  asserts).
- Totals: Perception = the sum of the ten perception subtask scores (out of 2000), Cognition
  the sum of the four cognition ones (out of 800), summed in the tool's subtask order.
"""
from __future__ import annotations

from typing import Iterable, Mapping, Sequence

SOURCE = ("MME eval_tool/calculation.py (BradyFU/Awesome-Multimodal-Large-Language-Models, "
          "branch Evaluation, tools/eval_tool.zip 1c1d69e138b57cf8b0400427927bfb8ed4285458)")
PERCEPTION = ("existence", "count", "position", "color", "posters", "celebrity", "scene",
              "landmark", "artwork", "OCR")
COGNITION = ("commonsense_reasoning", "numerical_calculation", "text_translation",
             "code_reasoning")
EVAL_TYPES = {"Perception": PERCEPTION, "Cognition": COGNITION}
SUBTASKS = PERCEPTION + COGNITION


def parse_yes_no(prediction: str) -> str:
    """"yes", "no" or "other", as calculation.py reads a response."""
    text = prediction.lower()
    if text in ("yes", "no"):
        return text
    prefix = text[:4]
    if "yes" in prefix:
        return "yes"
    if "no" in prefix:
        return "no"
    return "other"


def _truth(answer: str) -> str:
    label = answer.lower()
    if label not in ("yes", "no"):
        raise ValueError(f"MME ground truth {answer!r}: must be Yes or No")
    return label


def question_correct(prediction: str, answer: str) -> bool:
    return parse_yes_no(prediction) == _truth(answer)


def subtask_metrics(questions: Sequence[Mapping]) -> dict:
    """acc, acc_plus, score and other_num of one subtask.

    `questions`: dicts with "image", "prediction" and "answer", two per image.
    """
    by_image: dict[str, list[bool]] = {}
    other = 0
    for question in questions:
        label = parse_yes_no(question["prediction"])
        other += label == "other"
        by_image.setdefault(str(question["image"]), []).append(label == _truth(question["answer"]))
    if not by_image:
        raise ValueError("MME subtask without questions")
    for image, results in by_image.items():
        if len(results) != 2:
            raise ValueError(f"MME image {image!r} has {len(results)} questions (needs 2)")
    right = sum(sum(results) for results in by_image.values())
    acc = right / (2 * len(by_image))
    acc_plus = sum(all(results) for results in by_image.values()) / len(by_image)
    score = 0
    score += acc * 100
    score += acc_plus * 100
    return {"acc": acc, "acc_plus": acc_plus, "score": score, "other_num": other,
            "images": len(by_image)}


def mme_report(records: Iterable[Mapping]) -> dict:
    """Subtask metrics and the Perception / Cognition totals of the subtasks present.

    `records`: dicts with "subtask", "image", "prediction", "answer".
    A total covers only the subtasks that were run; `missing` lists the others.
    """
    by_subtask: dict[str, list[Mapping]] = {}
    for record in records:
        subtask = record["subtask"]
        if subtask not in SUBTASKS:
            raise ValueError(f"MME subtask {subtask!r}: unknown (known: {', '.join(SUBTASKS)})")
        by_subtask.setdefault(subtask, []).append(record)
    subtasks = {name: subtask_metrics(by_subtask[name]) for name in SUBTASKS if name in by_subtask}
    totals = {}
    for eval_type, names in EVAL_TYPES.items():
        total = 0
        for name in names:
            if name in subtasks:
                total += subtasks[name]["score"]
        totals[eval_type] = total
    return {"subtasks": subtasks, "totals": totals,
            "missing": [name for name in SUBTASKS if name not in subtasks]}
