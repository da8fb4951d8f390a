"""Read which lettered option a free-form answer means.

Patterns go from the most explicit to the least. "A" and "I" are also English words, so a
capital A or I followed by a lower-case word ("A man is cooking") is never read as a choice.
Returns None when no choice can be read.
"""
from __future__ import annotations

import re

_ANNOUNCED = [
    # "Answer: B", "the answer is (B)", "The correct option is **C**", "option B", "choice: b"
    re.compile(r"(?i:answer|option|choice)\b(?:\s+(?i:is|would be|should be))?\s*[:：]?\s*"
               r"[\(\[（]?\*{0,2}\s*([A-Za-z])(?![A-Za-z0-9'’])"),
    # Chinese: "答案是B", "答案：B", "选项B", "选择 (C)"
    re.compile(r"(?:答案|选项|选择)\s*(?:是|为|：|:)?\s*[\(（]?\s*([A-Za-z])(?![A-Za-z])"),
]
# A marked letter anywhere: "(B)", "**B**", "[B]".
_MARKED = re.compile(r"[\(\[（]\s*([A-Z])\s*[\)\]）]|\*\*\s*([A-Z])\s*\*\*")
# A letter at the start, followed by a choice separator or the end: "B", "B.", "B)", "B:".
_LEADING = re.compile(r"^([A-Z])(?:\s*$|\s*[\.\)\:：,，]|\s+-\s)")
_SINGLE = re.compile(r"[\(\[（]?\s*([A-Za-z])\s*[\)\]）\.]?")


def _is_english_word(text: str, letter: str, end: int) -> bool:
    """True for "A man ..." / "I think ...": the letter is a word, not a choice."""
    return letter.upper() in ("A", "I") and re.match(r"\s+[a-z]", text[end:]) is not None


def _first_choice(pattern: re.Pattern, text: str, letters: set[str]) -> str | None:
    for match in pattern.finditer(text):
        for index, group in enumerate(match.groups(), start=1):
            if not group:
                continue
            lower_case_word = group.islower() and not re.match(r"\s*(?:[\.\)\]）:,]|$)",
                                                              text[match.end(index):])
            if (group.upper() in letters and not lower_case_word
                    and not _is_english_word(text, group, match.end(index))):
                return group.upper()
    return None


def extract_choice(prediction: str, choices: dict[str, str]) -> str | None:
    """Return the chosen option letter (a key of `choices`), or None if unreadable."""
    letters = {str(k).upper() for k in choices}
    text = prediction.strip()
    if not text:
        return None
    bare = text.strip("*_`\"' \n").strip()
    single = _SINGLE.fullmatch(bare)
    if single and single.group(1).upper() in letters:
        return single.group(1).upper()
    for pattern in (*_ANNOUNCED, _LEADING, _MARKED):
        found = _first_choice(pattern, bare if pattern is _LEADING else text, letters)
        if found:
            return found
    return _match_option_text(text, choices)


def _normalize(text: str) -> str:
    return re.sub(r"[^0-9a-z\u4e00-\u9fff]+", " ", text.lower()).strip()


def _match_option_text(text: str, choices: dict[str, str]) -> str | None:
    """The answer repeats one option's text, and no other's, without a letter."""
    said = _normalize(text)
    if not said:
        return None
    mentioned = []
    for letter, option in choices.items():
        option_text = _normalize(str(option))
        if not option_text:
            continue
        if said == option_text:
            return str(letter).upper()
        if re.search(r"(?:^|\s)" + re.escape(option_text) + r"(?:\s|$)", said):
            mentioned.append((str(letter).upper(), option_text))
    if not mentioned:
        return None
    # When one option's text contains another's ("red" and "dark red"), the longer one wins.
    mentioned.sort(key=lambda item: len(item[1]), reverse=True)
    best_letter, best_text = mentioned[0]
    if any(other not in best_text for _, other in mentioned[1:]):
        return None
    return best_letter
