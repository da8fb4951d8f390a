"""VLMEvalKit's rule-based option extraction (`can_infer`), in its three historical versions.

Reproduces open-compass/VLMEvalKit `vlmeval/utils/matching_util.py`:
- "current" (default): HEAD e8e78f05f3080fe28154f2130321f17951c3be94 (2026-08-18); the logic
  as of a67ace5 (2026-06-17), which added the "answer is X" regular expression.
- "pre2026_06": 0bccf4527f5eb4c2d5837a6492e379f4ca1be63f, the parent of a67ace5; the logic of
  c337155 (2025-08-04): a single letter counts only among the last five words, and the text
  match gives up on answers more than twice as long as all option texts together.
- "pre2025_08": c026693a1cdac9292447eb480579dc2e11fb6f1c, the parent of c337155; the logic in
  place from 2024-02 to 2025-08 (the period of most published Qwen2-VL / InternVL2 numbers).
Proven case by case by tests/test_scorer_golden_vlmevalkit.py against
tests/golden/mcq_extraction_<variant>.json, recorded by running each version unmodified.

The reading, in the official order:
1. "Failed to obtain answer via API" in the answer: no letter from step 2-4 (step 5 still runs).
2. One of four refusal sentences in the answer: "Z".
3. `.()[],:;!*#{}` become spaces and the answer is split on whitespace; if exactly one option
   letter is a word, it is the answer ("pre2026_06"/"current": only when it is among the last five
   words; the first occurrence counts). No option letter but a word "Z": "Z".
4. ("current" only) `(?i)(?:correct\\s+)?answer\\s+is\\s+\\**([ABCD])\\**` anywhere, when the
   letter (upper-cased) is an option.
5. Otherwise the option texts: lower-cased, exactly one of them a substring of the lower-cased
   answer ("pre2026_06"/"current": not when the lower-cased answer is longer than twice the summed
   lengths of the option texts).
Quirks kept on purpose: letters are case-sensitive in step 3 ("b" is not B); "A" as an English
article counts as option A ("A cat sits" -> A); "A/B" or "(A)(B)" are one word or two words as the
separators fall; full-width and CJK punctuation ("（A）", "A。", "答案：A") are not separators; a
"Z" answer is returned even though Z is no option (so it is wrong, not unread); in step 4 only
A-D are looked for. The VERBOSE environment variable of the official code (which turns a lone
"A" among more than three words into no answer) is taken as unset, its default.
"""
from __future__ import annotations

import re

VARIANTS = ("current", "pre2026_06", "pre2025_08")
DEFAULT_VARIANT = "current"

_API_FAILURE = "Failed to obtain answer via API"
_REFUSALS = ("Sorry, I can't help with images of people yet.", "I can't process this file.",
             "I'm sorry, but without the image provided", "Cannot determine the answer")
_SEPARATORS = ".()[],:;!*#{}"
_VERBOSE_ANSWER = re.compile(r"(?i)(?:correct\s+)?answer\s+is\s+\**([ABCD])\**")


def _check_variant(variant: str) -> None:
    if variant not in VARIANTS:
        raise ValueError(f"VLMEvalKit extraction variant {variant!r}: expected one of "
                         f"{', '.join(VARIANTS)}")


def infer_option(answer: str, choices: dict[str, str], variant: str = DEFAULT_VARIANT
                 ) -> str | None:
    """can_infer_option: the letter the answer names (or "Z"), None when it names none."""
    _check_variant(variant)
    if _API_FAILURE in answer:
        return None
    if any(refusal in answer for refusal in _REFUSALS):
        return "Z"
    spaced = answer
    for separator in _SEPARATORS:
        spaced = spaced.replace(separator, " ")
    words = spaced.split()
    named = [letter for letter in choices if letter in words]
    if len(named) == 1:
        letter = named[0]
        if variant == "pre2025_08" or words.index(letter) > len(words) - 5:
            return letter
    elif not named and "Z" in words:
        return "Z"
    if variant == "current":
        match = _VERBOSE_ANSWER.search(answer)
        if match and match.group(1).upper() in choices:
            return match.group(1).upper()
    return None


def infer_text(answer: str, choices: dict[str, str], variant: str = DEFAULT_VARIANT
               ) -> str | None:
    """can_infer_text: the one option whose text the answer contains (both lower-cased)."""
    _check_variant(variant)
    answer = answer.lower()
    if variant != "pre2025_08" and len(answer) > 2 * sum(len(str(v)) for v in choices.values()):
        return None
    found = [letter for letter, text in choices.items() if str(text).lower() in answer]
    return found[0] if len(found) == 1 else None


def can_infer(answer, choices: dict[str, str], variant: str = DEFAULT_VARIANT) -> str | None:
    """The option letter (or "Z") VLMEvalKit reads from an answer without a judge; None when the
    rules read nothing (VLMEvalKit would then ask its judge model, or, without one, count the
    answer wrong)."""
    answer = str(answer)
    return infer_option(answer, choices, variant) or infer_text(answer, choices, variant)
