"""Turn a model's raw generated text into the answer string the scorers compare."""
from __future__ import annotations

from collections.abc import Iterable

# Chat end markers of the supported families; generation may run past them in a batch.
DEFAULT_STOP_STRINGS = ("<|im_end|>", "<|endoftext|>", "</s>", "<|end|>", "<|eot_id|>",
                        "<｜end▁of▁sentence｜>", "<end_of_utterance>")


def clean_prediction(text: str | None, stop_strings: Iterable[str] = DEFAULT_STOP_STRINGS,
                     keep_whitespace: bool = False) -> str:
    """Cut at the first stop string, turn newlines and tabs into spaces, strip.
    `keep_whitespace`: only cut (for scorers whose official code reads the reply's lines and
    spaces itself, as Video-MME's and MVBench's do)."""
    if not text:
        return ""
    cut = len(text)
    for stop in stop_strings:
        if stop:
            index = text.find(stop)
            if index != -1:
                cut = min(cut, index)
    if keep_whitespace:
        return text[:cut]
    return text[:cut].replace("\n", " ").replace("\t", " ").strip()
