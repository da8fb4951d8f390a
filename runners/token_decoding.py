"""Token texts for the comparison's report (the first divergent token of each changed sample),
from each run's own tokenizer as its config names it; no model is loaded. A run whose tokenizer
cannot be loaded here is reported with ids only, and the report says why."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from modeltest.compare.runs import RunFolder


def _tokenizer_decoder(model: dict) -> Callable[[list[int]], str]:
    folder = Path(str(model.get("model_path"))).expanduser()
    if model.get("adapter") == "vlmo":   # a classifier: its one "token" is an answer's index
        from inference.models.vlmo.checkpoint import checkpoint_files, read_answer_labels

        answers = read_answer_labels(checkpoint_files(model)["answer2label_file"])
        return lambda ids: " ".join(answers[i] for i in ids)
    from inference.models.internvl.convert import is_original_layout
    from inference.models.internvl.tokenizer import load_tokenizer

    if model.get("adapter") == "internvl" and is_original_layout(folder):
        tokenizer = load_tokenizer(folder)
    else:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=False)
    return lambda ids: tokenizer.decode(ids, skip_special_tokens=False)


def token_decoder(run: RunFolder, side: str, notes: list[str]
                  ) -> Callable[[list[int]], str] | None:
    """A decoder of token ids for `run`, or None with a note naming the reason."""
    model = run.config.get("model") or {}
    if not model.get("model_path"):
        notes.append(f"tokens of run {side} not decoded: its model.model_path is not set")
        return None
    try:
        return _tokenizer_decoder(model)
    except Exception as err:   # any loader's failure: ids only, and the note says why
        notes.append(f"tokens of run {side} not decoded: cannot load the tokenizer of "
                     f"{model.get('model_path')} ({type(err).__name__}: "
                     f"{' '.join(str(err).split())[:160]})")
        return None
