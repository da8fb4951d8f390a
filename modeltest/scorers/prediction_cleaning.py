"""Turn a model's raw generated text into the answer string the scorers compare."""
from __future__ import annotations

from collections.abc import Iterable

# Chat end markers of the supported families; generation may run past them in a batch.
DEFAULT_STOP_STRINGS = ("<|im_end|>", "<|endoftext|>", "</s>", "<|end|>", "<|eot_id|>",
                        "<｜end▁of▁sentence｜>", "<end_of_utterance>")


def cut_at_stop(text: str | None, stop_strings: Iterable[str] = DEFAULT_STOP_STRINGS) -> str:
    """The text before the first stop string, otherwise as generated."""
    if not text:
        return ""
    cut = len(text)
    for stop in stop_strings:
        if stop:
            index = text.find(stop)
            if index != -1:
                cut = min(cut, index)
    return text[:cut]


def clean_prediction(text: str | None, stop_strings: Iterable[str] = DEFAULT_STOP_STRINGS) -> str:
    """Cut at the first stop string, turn newlines and tabs into spaces, strip."""
    return cut_at_stop(text, stop_strings).replace("\n", " ").replace("\t", " ").strip()
