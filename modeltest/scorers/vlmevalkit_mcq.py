"""What VLMEvalKit does around the option extraction when it scores a multiple-choice benchmark
without a judge model (AI2D, ScienceQA, RealWorldQA, MMMU as VLMEvalKit scores it; MMBench adds
the circular grouping of circular.py).

Reproduces open-compass/VLMEvalKit at e8e78f05f3080fe28154f2130321f17951c3be94:
`ImageMCQDataset.evaluate` (vlmeval/dataset/image_mcq.py) with `model='exact_matching'` — the mode
`run.py` ends in when the default judge (gpt-4o-mini) is not reachable — and `mcq_vanilla_eval`,
`extract_answer_from_item`, `MMMU_preproc` (vlmeval/dataset/utils/multiple_choice.py). Proven by
tests/test_scorer_golden_vlmevalkit.py against tests/golden/vlmevalkit_<dataset>.json, recorded by
running that evaluation unmodified on generated TSV files.

Kept on purpose:
- The prediction file is an .xlsx that pandas reads back with its default missing-value strings:
  an empty answer, "None", "NA", "null", "nan", "N/A", ... become NaN, which `str()` turns into
  "nan" before extraction ("nan" then matches an option text containing "nan", like "banana").
  The benchmark TSV is read the same way, so an option whose text is one of those strings is no
  option at all (it vanishes from the prompt and from the choices).
- No judge: an answer the rules cannot read becomes "Z" and is wrong; `needs_judge` marks the
  answers VLMEvalKit would have sent to its GPT judge.
- MMMU (any dataset whose name contains "MMMU"): an open question (no option A) gets option
  A = the answer text and B = "Other Answers", and every answer that is not one capital letter
  is replaced by "A" as the ground truth.
"""
from __future__ import annotations

import string
from dataclasses import dataclass

from .mcq_extraction import DEFAULT_VARIANT, can_infer

# pandas' default na_values (pandas._libs.parsers.STR_NA_VALUES), used by read_csv/read_excel
PANDAS_NA_STRINGS = frozenset({
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
})
MMMU_OPEN_OTHER = "Other Answers"


@dataclass(frozen=True)
class MCQVerdict:
    hit: bool
    extracted: str | None     # the letter (or "Z") the rules read; None when they read nothing
    needs_judge: bool         # VLMEvalKit would have asked its judge model about this answer


def as_read_back(prediction: str) -> str:
    """The prediction as VLMEvalKit's evaluation sees it after its .xlsx round trip."""
    return "nan" if prediction in PANDAS_NA_STRINGS else prediction


def present_options(row: dict) -> dict[str, str]:
    """build_choices: the option columns A..Z that hold a value (a pandas NA string holds none)."""
    return {letter: row[letter] for letter in string.ascii_uppercase
            if row.get(letter) is not None and row[letter] not in PANDAS_NA_STRINGS}


def mmmu_open_as_choice(choices: dict[str, str], answer: str) -> tuple[dict[str, str], str]:
    """MMMU_preproc and the answer map of mcq_vanilla_eval for a dataset named *MMMU*."""
    if "A" not in choices:
        choices = dict(choices, A=answer, B=MMMU_OPEN_OTHER)
    truth = answer if answer in string.ascii_uppercase and len(answer) == 1 else "A"
    return choices, truth


def exact_matching_verdict(prediction: str, choices: dict[str, str], answer: str,
                           variant: str = DEFAULT_VARIANT) -> MCQVerdict:
    """eval_vanilla with no judge model: the read letter, or "Z", compared with the answer."""
    extracted = can_infer(prediction, choices, variant)
    return MCQVerdict(hit=(extracted or "Z") == answer, extracted=extracted,
                      needs_judge=extracted is None)
