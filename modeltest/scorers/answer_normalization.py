"""Answer normalisation shared by the official VQA v2 and TextVQA (EvalAI) evaluators.

Both official scripts use the same tables and the same two steps (punctuation, then
digits/articles/contractions). The quirks are kept on purpose, because published numbers
were produced with them:
- the period pattern's look-behind is mistyped as ``(?!<=\\d)`` (a look-ahead), so it strips
  every period that is not followed by a digit;
- ``re.sub`` is called with ``re.UNICODE`` in the *count* position, so at most 32 periods go;
- a punctuation mark is deleted (not spaced) when it touches a space anywhere in the text or
  when the text contains a digit-comma-digit group;
- the contraction table maps "somebody'd" to "somebodyd" (a typo in the original).

vqaEval.py is Python 2 code whose patterns are compiled without re.UNICODE, so there ``\\d``
means [0-9] only; MMF's processor is Python 3, where ``\\d`` is any Unicode digit. Both
flavours of the patterns are here. Python 2 also lower-cases and splits by its own Unicode
5.2 tables: "İ" becomes "i" (not "i" + U+0307), a final "Σ" becomes "σ", characters cased
only in later Unicode versions stay as they are, and U+180E counts as whitespace;
``py2_lower``, ``PY2_WHITESPACE`` and ``process_digit_article(py2=True)`` reproduce that.
"""
from __future__ import annotations

import re

PUNCTUATION = [";", "/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-",
               ">", "<", "@", "`", ",", "?", "!"]

# (?!<=\d) is what the official code says; it behaves as "always true" here.
PERIOD_STRIP = re.compile(r"(?!<=\d)(\.)(?!\d)")
VQA_PERIOD_STRIP = re.compile(r"(?!<=\d)(\.)(?!\d)", re.ASCII)   # Python 2's \d
# vqaEval.py's comma pattern; EvalAI's processor uses a look-around variant (see textvqa.py).
VQA_COMMA_STRIP = re.compile(r"(\d)(\,)(\d)", re.ASCII)
# The official call passes re.UNICODE (== 32) as re.sub's positional `count`.
PERIOD_STRIP_MAX_REPLACEMENTS = int(re.UNICODE)

# Python 2.7 (Unicode 5.2) whitespace, for str.split() and str.strip().
PY2_WHITESPACE = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u180e\u2000\u2001\u2002"
                  "\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f"
                  "\u205f\u3000")
_PY2_SPLIT = re.compile(f"[{PY2_WHITESPACE}]+")
# Code points that Python 3.11 lower-cases and Python 2.7 does not (cased after Unicode 5.2);
# computed by comparing unichr(i).lower() under Python 2.7.18 with chr(i).lower().
_PY2_UNCASED = ((895, 895), (1318, 1318), (1320, 1320), (1322, 1322), (1324, 1324),
                (1326, 1326), (4295, 4295), (4301, 4301), (5024, 5109), (7312, 7354),
                (7357, 7359), (11311, 11311), (11506, 11506), (42592, 42592), (42648, 42648),
                (42650, 42650), (42893, 42893), (42896, 42896), (42898, 42898),
                (42902, 42902), (42904, 42904), (42906, 42906), (42908, 42908),
                (42910, 42910), (42912, 42912), (42914, 42914), (42916, 42916),
                (42918, 42918), (42920, 42920), (42922, 42926), (42928, 42932),
                (42934, 42934), (42936, 42936), (42938, 42938), (42940, 42940),
                (42942, 42942), (42944, 42944), (42946, 42946), (42948, 42951),
                (42953, 42953), (42960, 42960), (42966, 42966), (42968, 42968),
                (42997, 42997), (66736, 66771), (66928, 66938), (66940, 66954),
                (66956, 66962), (66964, 66965), (68736, 68786), (71840, 71871),
                (93760, 93791), (125184, 125217))


def _py2_lower_char(char: str) -> str:
    if char == "\u0130":
        return "i"
    point = ord(char)
    if any(low <= point <= high for low, high in _PY2_UNCASED):
        return char
    return char.lower()     # one character at a time: no final-sigma context


def py2_lower(text: str) -> str:
    """unicode.lower() as Python 2.7 computes it."""
    if text.isascii():
        return text.lower()
    return "".join(_py2_lower_char(c) for c in text)


NUMBER_WORDS = {"none": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4",
                "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10"}
ARTICLES = frozenset({"a", "an", "the"})

CONTRACTIONS = {
    "aint": "ain't", "arent": "aren't", "cant": "can't", "couldve": "could've",
    "couldnt": "couldn't", "couldn'tve": "couldn't've", "couldnt've": "couldn't've",
    "didnt": "didn't", "doesnt": "doesn't", "dont": "don't", "hadnt": "hadn't",
    "hadnt've": "hadn't've", "hadn'tve": "hadn't've", "hasnt": "hasn't", "havent": "haven't",
    "hed": "he'd", "hed've": "he'd've", "he'dve": "he'd've", "hes": "he's", "howd": "how'd",
    "howll": "how'll", "hows": "how's", "Id've": "I'd've", "I'dve": "I'd've", "Im": "I'm",
    "Ive": "I've", "isnt": "isn't", "itd": "it'd", "itd've": "it'd've", "it'dve": "it'd've",
    "itll": "it'll", "let's": "let's", "maam": "ma'am", "mightnt": "mightn't",
    "mightnt've": "mightn't've", "mightn'tve": "mightn't've", "mightve": "might've",
    "mustnt": "mustn't", "mustve": "must've", "neednt": "needn't", "notve": "not've",
    "oclock": "o'clock", "oughtnt": "oughtn't", "ow's'at": "'ow's'at", "'ows'at": "'ow's'at",
    "'ow'sat": "'ow's'at", "shant": "shan't", "shed've": "she'd've", "she'dve": "she'd've",
    "she's": "she's", "shouldve": "should've", "shouldnt": "shouldn't",
    "shouldnt've": "shouldn't've", "shouldn'tve": "shouldn't've", "somebody'd": "somebodyd",
    "somebodyd've": "somebody'd've", "somebody'dve": "somebody'd've",
    "somebodyll": "somebody'll", "somebodys": "somebody's", "someoned": "someone'd",
    "someoned've": "someone'd've", "someone'dve": "someone'd've", "someonell": "someone'll",
    "someones": "someone's", "somethingd": "something'd", "somethingd've": "something'd've",
    "something'dve": "something'd've", "somethingll": "something'll", "thats": "that's",
    "thered": "there'd", "thered've": "there'd've", "there'dve": "there'd've",
    "therere": "there're", "theres": "there's", "theyd": "they'd", "theyd've": "they'd've",
    "they'dve": "they'd've", "theyll": "they'll", "theyre": "they're", "theyve": "they've",
    "twas": "'twas", "wasnt": "wasn't", "wed've": "we'd've", "we'dve": "we'd've",
    "weve": "we've", "werent": "weren't", "whatll": "what'll", "whatre": "what're",
    "whats": "what's", "whatve": "what've", "whens": "when's", "whered": "where'd",
    "wheres": "where's", "whereve": "where've", "whod": "who'd", "whod've": "who'd've",
    "who'dve": "who'd've", "wholl": "who'll", "whos": "who's", "whove": "who've",
    "whyll": "why'll", "whyre": "why're", "whys": "why's", "wont": "won't",
    "wouldve": "would've", "wouldnt": "wouldn't", "wouldnt've": "wouldn't've",
    "wouldn'tve": "wouldn't've", "yall": "y'all", "yall'll": "y'all'll", "y'allll": "y'all'll",
    "yall'd've": "y'all'd've", "y'alld've": "y'all'd've", "y'all'dve": "y'all'd've",
    "youd": "you'd", "youd've": "you'd've", "you'dve": "you'd've", "youll": "you'll",
    "youre": "you're", "youve": "you've",
}


def process_punctuation(text: str, comma_strip: re.Pattern = VQA_COMMA_STRIP,
                        period_strip: re.Pattern = VQA_PERIOD_STRIP) -> str:
    """The official punctuation step; the decision per mark looks at the *input* text."""
    out = text
    has_digit_comma = comma_strip.search(text) is not None
    for mark in PUNCTUATION:
        if (mark + " " in text or " " + mark in text) or has_digit_comma:
            out = out.replace(mark, "")
        else:
            out = out.replace(mark, " ")
    return period_strip.sub("", out, count=PERIOD_STRIP_MAX_REPLACEMENTS)


def process_digit_article(text: str, py2: bool = False) -> str:
    """Lower-case, number words to digits, drop articles, restore contractions; `py2`:
    lower-case and split as Python 2.7 does (vqaEval.py)."""
    words = ([w for w in _PY2_SPLIT.split(py2_lower(text)) if w] if py2
             else text.lower().split())
    words = [NUMBER_WORDS.get(w, w) for w in words]
    words = [w for w in words if w not in ARTICLES]
    return " ".join(CONTRACTIONS.get(w, w) for w in words)


def leave_one_out_accuracy(prediction: str, answers: list[str]) -> float:
    """Mean over the leave-one-out subsets of the references of min(1, matches / 3)."""
    if not answers:
        raise ValueError("no reference answers")
    total = 0.0
    for left_out in range(len(answers)):
        matches = sum(1 for i, a in enumerate(answers) if i != left_out and a == prediction)
        total += min(1.0, matches / 3.0)
    return total / len(answers)
