"""Video-MME answers scored as the benchmark's own `eval_your_results.py` scores them.

The official scorer, in two versions (`variant`):
- `current` (the default): thanku-all/parse_answer `eval_your_results.py` at afd52cf
  (2024-06-23), the file Video-MME's README links to since the repository's own copy was
  deleted (BradyFU/Video-MME 49a2e67, 2024-06-18). It reads the `duration`, `domain` and
  `sub_category` keys of the results file (output_test_template.json's layout).
- `pre20240623`: BradyFU/Video-MME `evaluation/eval_your_results.py` at 4e7566d (2024-06-03,
  its last version; parse_answer's e1e2bff and 0379c42 extract the same way). Its answer
  prefix list lacks the four entries added on 2024-06-23.

Extraction (`extract_answer`), kept as the official code does it, quirks included:
- the response is stripped, then every prefix of the list is removed with `str.replace`,
  in list order, wherever it occurs (not only at the start);
- two missing commas in the official list join "The best option is" with "The correct
  option is" and "Best answer:" with "Best option:": those four phrases are removed only
  when they appear glued together exactly so (see ANSWER_PREFIXES). Only prefixes that hold
  an upper-case A-D can change a reading: "Best answer: C" and "Best option: C" read B (from
  "Best") in both versions, "Answer: C" reads A where "Answer:" is not stripped;
- the answer is the FIRST upper-case A, B, C or D anywhere in what is left: "Both A and C"
  reads B, "Answer: C" reads A in `pre20240623` (C in `current`, which strips "Answer:"),
  lower-case "c" is not read, and neither is "E";
- "more than 10 words and no A-D" returns "" — which the no-letter rule would return
  anyway: the word-count cutoff never changes a result (kept, and proven by golden cases);
- an answer with no A-D is unreadable: "".

Aggregation (`aggregate`): accuracy per duration (short, medium, long) and over the whole
set, each split by domain, sub-category and task type, as the official script prints them.
The official script leaves an unreadable answer out of numerator AND denominator
("answered"): `unparsed="skip"` reproduces that. The default, `unparsed="wrong"`, counts it
as a wrong answer (lmms-eval's and VLMEvalKit's exact-matching denominators are all
questions too); every table reports how many answers were unreadable either way. The
official prints `100 * correct / answered` with one decimal and 0.0 where nothing was
answered; `aggregate` gives the fraction and None there.

Other scorers, for comparison (tests/golden/PROMPTS_AND_COLUMNS_VIDEO.md has the details):
VLMEvalKit's `extract_characters_regex` is a third prefix list (has "Answer:" and "Option:",
lacks "The correct answer"/"The correct option"); an answer it cannot read counts wrong
unless a judge model is asked for (`--judge`); lmms-eval used the pre20240623 extraction
until 2026-04 and now its own multi-format extractor (`extract_mcq_answer`), and always
divides by all questions.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

VARIANTS = ("current", "pre20240623")
SOURCES = {
    "current": "thanku-all/parse_answer eval_your_results.py at "
               "afd52cfe3dde5b3685e0d4f760c10c756860c758 (2024-06-23; linked from "
               "BradyFU/Video-MME README)",
    "pre20240623": "BradyFU/Video-MME evaluation/eval_your_results.py at "
                   "4e7566d36f63121fc72f040654d6f38f83f30125 (2024-06-03)",
}

_PREFIXES_2024_06_03 = (
    "The best answer is",
    "The correct answer is",
    "The answer is",
    "The answer",
    # No comma between these in the official list: Python joins the literals.
    "The best option is" "The correct option is",
    "Best answer:" "Best option:",
)
ANSWER_PREFIXES = {
    "pre20240623": _PREFIXES_2024_06_03,
    "current": _PREFIXES_2024_06_03 + ("Answer:", "Option:", "The correct answer",
                                       "The correct option"),
}

DURATIONS = ("short", "medium", "long")
DOMAINS = ("Knowledge", "Film & Television", "Sports Competition", "Artistic Performance",
           "Life Record", "Multilingual")
SUB_CATEGORIES = (
    "Humanity & History", "Literature & Art", "Biology & Medicine", "Finance & Commerce",
    "Astronomy", "Geography", "Law", "Life Tip", "Technology", "Animation", "Movie & TV Show",
    "Documentary", "News Report", "Esports", "Basketball", "Football", "Athletics",
    "Other Sports", "Stage Play", "Magic Show", "Variety Show", "Acrobatics", "Handicraft",
    "Food", "Fashion", "Daily Life", "Travel", "Pet & Animal", "Exercise", "Multilingual",
)
TASK_TYPES = (
    "Temporal Perception", "Spatial Perception", "Attribute Perception", "Action Recognition",
    "Object Recognition", "OCR Problems", "Counting Problem", "Temporal Reasoning",
    "Spatial Reasoning", "Action Reasoning", "Object Reasoning", "Information Synopsis",
)
# How each table is split, with the official names in the official order.
BREAKDOWNS = {"domain": DOMAINS, "sub_category": SUB_CATEGORIES, "task_type": TASK_TYPES}
UNPARSED = ("wrong", "skip")

_LETTER = re.compile(r"[ABCD]")
# The official cutoff: more than this many words and no A-D reads nothing.
WORD_LIMIT = 10


def _check_variant(variant: str) -> None:
    if variant not in VARIANTS:
        raise KeyError(f"videomme variant {variant!r}: unknown (known: {', '.join(VARIANTS)})")


def extract_answer(response: str, variant: str = "current") -> str:
    """The letter the official `extract_characters_regex` reads, or "" when it reads none."""
    _check_variant(variant)
    text = response.strip()
    for prefix in ANSWER_PREFIXES[variant]:
        text = text.replace(prefix, "")
    if len(text.split()) > WORD_LIMIT and not _LETTER.search(text):
        return ""
    match = _LETTER.search(text)
    return match.group(0) if match else ""


def score_answer(response: str, answer: str, variant: str = "current") -> tuple[str, bool]:
    """(letter read, right?) for one question; an unreadable answer is ("", False)."""
    letter = extract_answer(response, variant)
    return letter, letter != "" and letter == answer


def _cell(correct: int, parsed: int, questions: int, unparsed: str) -> dict:
    counted = parsed if unparsed == "skip" else questions
    return {"accuracy": correct / counted if counted else None, "correct": correct,
            "counted": counted, "unparsed": questions - parsed, "questions": questions}


def aggregate(rows: Iterable[Mapping], unparsed: str = "wrong") -> dict:
    """Official tables from rows with duration, domain, sub_category, task_type, extracted, answer.

    `extracted` is what `extract_answer` read ("" when nothing). Returns
    {"durations": {duration: table}, "overall": table}, where a table is a cell (accuracy,
    correct, counted, unparsed, questions) plus one cell per official name under "domain",
    "sub_category" and "task_type". Durations with no rows are left out, as the official
    script covers only the durations it is asked for.
    """
    if unparsed not in UNPARSED:
        raise KeyError(f"videomme unparsed={unparsed!r}: unknown (known: {', '.join(UNPARSED)})")
    # counts[duration][breakdown][name] = [correct, parsed, questions]
    counts: dict = {}
    for number, row in enumerate(rows):
        duration = row["duration"]
        if duration not in DURATIONS:
            raise ValueError(f"row {number}: duration {duration!r} is not one of "
                             f"{', '.join(DURATIONS)}")
        per_duration = counts.setdefault(duration, {key: {name: [0, 0, 0] for name in names}
                                                    for key, names in BREAKDOWNS.items()})
        extracted = row["extracted"]
        for key, names in BREAKDOWNS.items():
            if row[key] not in per_duration[key]:
                raise ValueError(f"row {number}: {key} {row[key]!r} is not an official "
                                 f"Video-MME {key} ({', '.join(names)})")
            cell = per_duration[key][row[key]]
            cell[2] += 1
            if extracted != "":
                cell[1] += 1
                cell[0] += extracted == row["answer"]

    def table(durations: list[str]) -> dict:
        result = {}
        for key, names in BREAKDOWNS.items():
            result[key] = {}
            for name in names:
                total = [sum(counts[d][key][name][i] for d in durations) for i in range(3)]
                result[key][name] = _cell(*total, unparsed)
        # The official overall sums the task-type cells (every question has one task type).
        total = [sum(c[i] for d in durations for c in counts[d]["task_type"].values())
                 for i in range(3)]
        result.update(_cell(*total, unparsed))
        return result

    present = [d for d in DURATIONS if d in counts]
    return {"durations": {d: table([d]) for d in present}, "overall": table(present)}
