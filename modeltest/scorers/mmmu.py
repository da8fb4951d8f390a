"""MMMU's own answer parsing and scoring, as the benchmark authors' evaluation does it.

Reproduces MMMU-Benchmark/MMMU `mmmu/utils/eval_utils.py` at commit
bb0b95a945998d91dfef37e969e07d49d1139438 (the file's logic is unchanged since its first upload,
44b45b5, 2023-11-26: later commits only renamed the id key and moved the file from `eval/`), run
through its entry point `mmmu/main_parse_and_eval.py --subject ALL`. Proven case by case by
tests/test_scorer_golden_mmmu.py against tests/golden/mmmu_eval_utils.json, which was recorded by
running that code unmodified (tests/golden/HOW.md).

Quirks kept on purpose, because the official score depends on them:
- Multiple choice: the response loses `, . ! ? ; : '` from both ends one character class at a time
  in that order (so "'.A" stays "'.A"), then is padded with one space each side. Bracketed letters
  "(B)" win over spaced letters " B " (a lone "B" counts, "B." does not after the ends are
  stripped, "B)" does not). Only when neither appears AND the padded response has more than five
  words is an option's text searched for, case-insensitively, as a substring (so a short answer
  that is exactly an option's text is NOT read). Several candidates: the one whose last occurrence
  is latest wins; equal positions go to the earlier letter (numpy's argmax).
- Unreadable multiple-choice answers: the official code picks a letter with `random.choice` from
  the module-level generator that `random.seed(42)` seeded on import, drawing in evaluation order.
  Here the default is "strict": the answer is wrong and counted as unparsed. `unparsed="random"`
  reproduces the official draw: one `random.Random(42)` per official run (one split), drawn in the
  order main_parse_and_eval.py visits the samples (subjects in its CAT_SHORT2LONG order, samples in
  dataset order within a subject); `evaluate_split` does exactly that.
- Open answers: the response is lower-cased BEFORE it is split into sentences on
  `\\.\\s(?=[A-Z])|\\n`, so only newlines split. In each piece the shortest tail after an indicator
  ("could be ", "so ", "is ", "thus ", "therefore ", "final ", "answer ", "result ", and "=" in
  the last piece) is kept; an empty tail counts as "none yet". Numbers are extracted with three
  regular expressions (grouped with commas, scientific, plain), and every text that Python's
  `float()` accepts after removing commas becomes a float rounded to 2 places ("nan", "inf",
  "1_000", non-ASCII digits included). A one-character string answer must appear with a space on
  one side; a string answer matches as a substring of a predicted string; a number must equal a
  predicted number exactly (NaN never equals another NaN).
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Iterable, Sequence

OFFICIAL_SEED = 42
UNPARSED_POLICIES = ("strict", "random")

# mmmu/utils/data_utils.py CAT_SHORT2LONG, in its order: the order main_parse_and_eval.py
# visits the subjects with --subject ALL (and run_llava.py concatenates them).
SUBJECT_ORDER = (
    "Accounting", "Agriculture", "Architecture_and_Engineering", "Art", "Art_Theory",
    "Basic_Medical_Science", "Biology", "Chemistry", "Clinical_Medicine", "Computer_Science",
    "Design", "Diagnostics_and_Laboratory_Medicine", "Economics", "Electronics",
    "Energy_and_Power", "Finance", "Geography", "History", "Literature", "Manage", "Marketing",
    "Materials", "Math", "Mechanical_Engineering", "Music", "Pharmacy", "Physics", "Psychology",
    "Public_Health", "Sociology",
)
# mmmu/utils/data_utils.py DOMAIN_CAT2SUB_CAT: the disciplines of the official report.
DISCIPLINES = {
    "Art and Design": ("Art", "Art_Theory", "Design", "Music"),
    "Business": ("Accounting", "Economics", "Finance", "Manage", "Marketing"),
    "Science": ("Biology", "Chemistry", "Geography", "Math", "Physics"),
    "Health and Medicine": ("Basic_Medical_Science", "Clinical_Medicine",
                            "Diagnostics_and_Laboratory_Medicine", "Pharmacy", "Public_Health"),
    "Humanities and Social Science": ("History", "Literature", "Sociology", "Psychology"),
    "Tech and Engineering": ("Agriculture", "Architecture_and_Engineering", "Computer_Science",
                             "Electronics", "Energy_and_Power", "Materials",
                             "Mechanical_Engineering"),
}

_END_CHARACTERS = (",", ".", "!", "?", ";", ":", "'")
_KEY_INDICATORS = ("could be ", "so ", "is ", "thus ", "therefore ", "final ", "answer ",
                   "result ")
_TRIVIAL_TAILS = (":", ",", ".", "!", "?", ";", "'")
_NUMBER_WITH_COMMAS = re.compile(r"-?\b\d{1,3}(?:,\d{3})+\b")
_NUMBER_SCIENTIFIC = re.compile(r"-?\d+(?:\.\d+)?[eE][+-]?\d+")
_NUMBER_PLAIN = re.compile(r"-?(?:\d+\.\d+|\.\d+|\d+\b)(?![eE][+-]?\d+)(?![,\d])")


@dataclass(frozen=True)
class ChoiceReading:
    """Which letter a multiple-choice response names; `letter` is None when strict and unread."""
    letter: str | None
    guessed: bool  # True when no candidate was found (the official code guessed here)


@dataclass(frozen=True)
class MMMUCase:
    """One question as main_parse_and_eval.py reads it from output.json."""
    id: str                      # "validation_Electronics_28"
    question_type: str           # "multiple-choice" or anything else (open)
    answer: str | list[str]      # the letter(s) for multiple choice, the text(s) for open
    response: str
    all_choices: tuple[str, ...] = ()
    index2ans: dict | None = None
    subject: str | None = None   # when the id does not carry it (a VLMEvalKit TSV's category)


@dataclass(frozen=True)
class MMMUResult:
    id: str
    correct: bool
    parsed: object      # the letter (or None when strict and unread), or the open predictions
    unparsed: bool      # a multiple-choice answer no rule could read


class OfficialGuesser:
    """The official fallback: `random.choice` on a generator seeded 42, one per official run."""

    def __init__(self, seed: int = OFFICIAL_SEED):
        self._random = random.Random(seed)

    def choice(self, letters: Sequence[str]) -> str:
        return self._random.choice(list(letters))


def _strip_end_characters(response: str) -> str:
    for character in _END_CHARACTERS:
        response = response.strip(character)
    return response


def read_choice(response: str, all_choices: Sequence[str], index2ans: dict,
                unparsed: str = "strict", guesser: OfficialGuesser | None = None) -> ChoiceReading:
    """parse_multi_choice_response, with the random guess made optional (see the module doc)."""
    if unparsed not in UNPARSED_POLICIES:
        raise ValueError(f"unparsed={unparsed!r}: expected one of {', '.join(UNPARSED_POLICIES)}")
    padded = " " + _strip_end_characters(response) + " "
    lowered = padded.lower()
    candidates = [c for c in all_choices if f"({c})" in padded]
    positions = [padded.rfind(f"({c})") for c in candidates]
    if not candidates:
        candidates = [c for c in all_choices if f" {c} " in padded]
        positions = [padded.rfind(f" {c} ") for c in candidates]
    if not candidates and len(padded.split()) > 5:
        # the official loop runs over index2ans (not all_choices), in its order
        candidates = [index for index, text in index2ans.items() if text.lower() in lowered]
        positions = [lowered.rfind(index2ans[c].lower()) for c in candidates]

    if not candidates:
        if unparsed == "strict":
            return ChoiceReading(None, True)
        if guesser is None:
            raise ValueError("unparsed='random' needs the run's OfficialGuesser")
        return ChoiceReading(guesser.choice(all_choices), True)
    # max() keeps the first of equal maxima, as numpy.argmax does
    best = max(range(len(candidates)), key=positions.__getitem__)
    return ChoiceReading(candidates[best], False)


def _is_number(text: str) -> bool:
    try:
        float(text.replace(",", ""))
    except ValueError:
        return False
    return True


def normalize_answer(text: str) -> list:
    """normalize_str: a number -> [float rounded to 2]; a string -> [lower], padded if 1 char."""
    text = text.strip()
    if _is_number(text):
        return [round(float(text.replace(",", "")), 2)]
    text = text.lower()
    if len(text) == 1:
        return [" " + text, text + " "]
    return [text]


def extract_numbers(text: str) -> list[str]:
    return (_NUMBER_WITH_COMMAS.findall(text) + _NUMBER_SCIENTIFIC.findall(text)
            + _NUMBER_PLAIN.findall(text))


def _key_subresponses(response: str) -> list[str]:
    response = response.strip().strip(".").lower()
    pieces = re.split(r"\.\s(?=[A-Z])|\n", response)
    keys = []
    for number, piece in enumerate(pieces):
        indicators = _KEY_INDICATORS + (("=",) if number == len(pieces) - 1 else ())
        shortest = None
        for indicator in indicators:
            if indicator in piece:
                tail = piece.split(indicator)[-1].strip()
                if not shortest or len(tail) < len(shortest):
                    shortest = tail
        if shortest and shortest.strip() not in _TRIVIAL_TAILS:
            keys.append(shortest)
    return keys or [response]


def parse_open(response: str) -> list:
    """parse_open_response: the candidate strings and numbers (deduplicated, order unspecified)."""
    keys = _key_subresponses(response)
    candidates = list(keys)
    for key in keys:
        candidates.extend(extract_numbers(key))
    normalized = [value for candidate in candidates for value in normalize_answer(candidate)]
    return list(dict.fromkeys(normalized))


def eval_open(answer: str | list[str], predictions: Iterable) -> bool:
    answers = answer if isinstance(answer, list) else [answer]
    normalized = [value for a in answers for value in normalize_answer(a)]
    for prediction in predictions:
        if isinstance(prediction, str):
            if any(isinstance(a, str) and a in prediction for a in normalized):
                return True
        elif prediction in normalized:
            return True
    return False


def eval_multi_choice(answer: str | list[str], letter: str | None) -> bool:
    if letter is None:
        return False
    return letter in answer if isinstance(answer, list) else letter == answer


def subject_of(sample_id: str) -> str:
    """"validation_Art_Theory_12" -> "Art_Theory" (as main_eval_only.py groups them)."""
    return "_".join(sample_id.split("_")[1:-1])


def official_order(cases: Sequence[MMMUCase]) -> list[int]:
    """Positions of `cases` in the order the official run visits them: subjects in SUBJECT_ORDER,
    then the dataset's order within a subject, i.e. the id's trailing number (ids without one
    keep the order they are given in)."""
    rank = {subject: number for number, subject in enumerate(SUBJECT_ORDER)}

    def key(position):
        case = cases[position]
        subject = case.subject or subject_of(case.id)
        if subject not in rank:
            raise ValueError(f"MMMU sample {case.id!r}: unknown subject {subject!r}")
        number = case.id.rsplit("_", 1)[-1]
        return rank[subject], int(number) if number.isdigit() else 0, position
    return sorted(range(len(cases)), key=key)


def score_case(case: MMMUCase, unparsed: str = "strict",
               guesser: OfficialGuesser | None = None) -> MMMUResult:
    if case.question_type == "multiple-choice":
        reading = read_choice(case.response, case.all_choices, case.index2ans or {},
                              unparsed, guesser)
        return MMMUResult(case.id, eval_multi_choice(case.answer, reading.letter),
                          reading.letter, reading.guessed)
    predictions = parse_open(case.response)
    return MMMUResult(case.id, eval_open(case.answer, predictions), predictions, False)


def evaluate_split(cases: Sequence[MMMUCase], unparsed: str = "strict",
                   seed: int = OFFICIAL_SEED) -> list[MMMUResult]:
    """Score one split's cases as one official run would; results come back in input order.

    With unparsed="random" the guesses are drawn from one generator seeded `seed`, in the
    official visiting order, so each case gets the letter the official run gave it. Cases of
    several splits are several official runs: call this once per split.
    """
    guesser = OfficialGuesser(seed) if unparsed == "random" else None
    results: list[MMMUResult | None] = [None] * len(cases)
    for position in official_order(cases):
        results[position] = score_case(cases[position], unparsed, guesser)
    return results  # type: ignore[return-value]


def official_report(per_subject: dict[str, tuple[int, int]]) -> dict[str, dict]:
    """main_eval_only.py's printed table from {subject: (correct, total)}: per discipline
    ('Overall-<discipline>'), per subject and 'Overall', each {"num", "acc"} with acc rounded to
    3 places; the instance-level accuracy weights each subject by its size."""
    def accuracy(subjects):
        # calculate_ins_level_acc: sum of (accuracy x size) over sum of sizes, in this order
        total = sum(per_subject[s][1] for s in subjects)
        weighted = sum(per_subject[s][0] / per_subject[s][1] * per_subject[s][1]
                       for s in subjects)
        return (weighted / total if total else 0), total

    report: dict[str, dict] = {}
    for discipline, subjects in DISCIPLINES.items():
        present = [s for s in subjects if s in per_subject]
        acc, total = accuracy(present)
        report["Overall-" + discipline] = {"num": int(total), "acc": round(acc, 3)}
        for subject in present:
            correct, count = per_subject[subject]
            report[subject] = {"num": int(count), "acc": round(correct / count, 3)}
    # the official run evaluates (and so sums) the subjects in SUBJECT_ORDER
    acc, total = accuracy([s for s in SUBJECT_ORDER if s in per_subject])
    report["Overall"] = {"num": total, "acc": round(acc, 3)}
    return report
