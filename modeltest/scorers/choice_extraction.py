"""Read which lettered option a free-form answer means.

In order, from the most explicit reading to the least:
1. the whole answer is one letter: `B`, `(B)`, `b.`, `**B**`;
2. an answer that names several options (`A, B`, `A or B`, `A/B`) is refused;
3. an announced letter: `Answer: B`, `the answer is (B)`, `option B`, `答案是B`;
4. a letter leading the answer (`B. a cat`, `B)`, `B:`), or a marked one anywhere (`(B)`, `**B**`);
5. exactly one option letter asserted in a sentence: `I think it is B`, `ASSISTANT: B`,
   `It is C.`, `C is correct`, `Among the options, B`. "A" and "I" followed by a lower-case
   word ("A man is cooking", "I think") are English words, not choices; two different
   letters asserted is no reading;
6. the text of exactly one option, compared without case, punctuation or articles
   (`The baby is crawling.` is option `the baby is crawling`); when one option's text contains
   another's ("red car", "dark red car") the longer one wins.
Steps 1-5 are letter reads, step 6 a text read. With `fallback="similarity"` an answer none of
these reads goes to the option with the highest token F1 with it, when that is at least the
threshold and no other option ties it (Video-Bench's own pipeline asks a judge model instead).
"""
from __future__ import annotations

import re
from collections import Counter

FALLBACKS = ("none", "similarity")
DEFAULT_SIMILARITY_THRESHOLD = 0.5

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
# Two letters in a list: "A, B", "A and B", "(A) or (C)", "A/B", "A、B".
_SEVERAL = re.compile(r"(?<![A-Za-z0-9'’])[\(\[]?([A-Z])[\)\]]?\s*"
                      r"(?:,|，|/|&|、|\band\b|\bor\b|和|或)"
                      r"\s*[\(\[]?([A-Z])(?![A-Za-z0-9'’])")
# A capital letter standing alone as a word.
_LONE_CAPITAL = re.compile(r"(?<![A-Za-z0-9'’])([A-Z])(?![A-Za-z0-9'’])")
_ARTICLES = {"a", "an", "the"}


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


def _names_several(text: str, letters: set[str]) -> bool:
    return any(a in letters and b in letters and a != b
               for a, b in (m.groups() for m in _SEVERAL.finditer(text)))


def _asserted_letter(text: str, choices: dict[str, str], letters: set[str]) -> str | None:
    """The one option letter standing alone in the text (option texts masked out)."""
    for option in sorted((str(v) for v in choices.values()), key=len, reverse=True):
        if len(option) > 1:
            text = re.sub(re.escape(option), " ", text, flags=re.IGNORECASE)
    found = {m.group(1) for m in _LONE_CAPITAL.finditer(text)
             if m.group(1) in letters and not _is_english_word(text, m.group(1), m.end(1))}
    return found.pop() if len(found) == 1 else None


def _read_letter(text: str, choices: dict[str, str], letters: set[str]) -> str | None:
    bare = text.strip("*_`\"' \n").strip()
    single = _SINGLE.fullmatch(bare)
    if single and single.group(1).upper() in letters:
        return single.group(1).upper()
    for pattern in (*_ANNOUNCED, _LEADING, _MARKED):
        found = _first_choice(pattern, bare if pattern is _LEADING else text, letters)
        if found:
            return found
    return _asserted_letter(text, choices, letters)


def read_choice(prediction: str, choices: dict[str, str], fallback: str = "none",
                threshold: float = DEFAULT_SIMILARITY_THRESHOLD) -> tuple[str | None, str | None]:
    """(letter, how it was read: "letter" | "text" | "similarity") or (None, None)."""
    letters = {str(k).upper() for k in choices}
    text = (prediction or "").strip()
    if not text:
        return None, None
    if _names_several(text, letters) and not _SINGLE.fullmatch(text.strip("*_`\"' ")):
        return None, None
    letter = _read_letter(text, choices, letters)
    if letter:
        return letter, "letter"
    letter = _match_option_text(text, choices)
    if letter:
        return letter, "text"
    if fallback == "similarity":
        letter = _most_similar_option(text, choices, threshold)
        if letter:
            return letter, "similarity"
    return None, None


def extract_choice(prediction: str, choices: dict[str, str]) -> str | None:
    """The chosen option letter (a key of `choices`) by the strict reader, or None."""
    return read_choice(prediction, choices)[0]


def _normalize(text: str) -> str:
    words = re.sub(r"[^0-9a-z\u4e00-\u9fff]+", " ", text.lower()).split()
    return " ".join(w for w in words if w not in _ARTICLES)


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


def token_f1(a: str, b: str) -> float:
    """SQuAD-style token F1 of two texts after _normalize."""
    ta, tb = _normalize(a).split(), _normalize(b).split()
    common = sum((Counter(ta) & Counter(tb)).values())
    if not common:
        return 0.0
    precision, recall = common / len(ta), common / len(tb)
    return 2 * precision * recall / (precision + recall)


def _most_similar_option(text: str, choices: dict[str, str], threshold: float) -> str | None:
    scored = sorted(((token_f1(text, str(option)), str(letter).upper())
                     for letter, option in choices.items()), reverse=True)
    if not scored or scored[0][0] < threshold:
        return None
    if len(scored) > 1 and scored[1][0] == scored[0][0]:
        return None
    return scored[0][1]
