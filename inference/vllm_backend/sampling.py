"""The generation settings of a run as vLLM's SamplingParams, and vLLM's per-step
log-probabilities in the embedded runtime's structure. Every token-changing setting maps
here, in one place.

What the embedded runtime applies (inference/models/base.py): greedy decoding, at most
`max_new_tokens`, stopping at the checkpoint's end-of-sequence ids (its generation config's
`eos_token_id`), and whatever token-changing settings transformers' generate() takes from the
checkpoint's generation_config.json (`repetition_penalty`, `no_repeat_ngram_size`, ...; the
sampling ones do nothing under greedy decoding). `token_settings` reads those, and
`sampling_kwargs` maps them: the repetition penalty is vLLM's (the same rule: a seen token's
logit divided by the penalty when positive, multiplied when negative, over the prompt and the
output); a setting vLLM has no equal for is refused by name. When model.generation carries more
keys (stop ids, stop strings, penalties), `token_settings` reads them and `sampling_kwargs`
maps them; nothing else changes.

Stopping: vLLM's own end-of-sequence rule uses the tokenizer's EOS, which can differ from the
generation config's that transformers uses, so it is switched off (`ignore_eos`) and the
generation config's ids are vLLM's `stop_token_ids` instead: a row ends exactly where the
embedded runtime's does, with the stop id in its output as there. `ignore_eos=True` from a
caller (performance runs) means: always `max_new_tokens` tokens, the stop ids masked until then
(`min_tokens`), as transformers' `min_new_tokens` does.
"""
from __future__ import annotations

from dataclasses import dataclass

# token-changing settings of a generation config with the value that changes nothing; greedy
# decoding in transformers applies each of them when a checkpoint's file sets another value
NEUTRAL = {"repetition_penalty": 1.0, "no_repeat_ngram_size": 0, "bad_words_ids": None,
           "min_length": 0, "min_new_tokens": None, "suppress_tokens": None,
           "begin_suppress_tokens": None, "forced_bos_token_id": None,
           "forced_eos_token_id": None, "sequence_bias": None,
           "exponential_decay_length_penalty": None, "encoder_repetition_penalty": 1.0,
           "encoder_no_repeat_ngram_size": 0}
# of those, what vLLM's SamplingParams applies the same way
MAPPED = ("repetition_penalty",)


class SettingNotMapped(ValueError):
    """A token-changing setting vLLM cannot apply as the embedded runtime does: one line."""


@dataclass(frozen=True)
class TokenSettings:
    """What decides the tokens besides the prompt (decoding is greedy)."""
    eos_token_ids: tuple[int, ...]        # where a row ends (the generation config's)
    repetition_penalty: float = 1.0

    def record(self) -> dict:
        return {"decoding": "greedy", "eos_token_ids": list(self.eos_token_ids),
                "repetition_penalty": self.repetition_penalty}


def _eos_ids(value) -> tuple[int, ...]:
    if value is None:
        return ()
    return (int(value),) if isinstance(value, int) else tuple(int(v) for v in value)


def token_settings(model_cfg, generation_config) -> TokenSettings:
    """The settings the embedded runtime generates with for this model: `generation_config`
    is the checkpoint's (transformers' GenerationConfig, as the embedded model holds it)."""
    changed = {key: getattr(generation_config, key, neutral) for key, neutral in NEUTRAL.items()
               if getattr(generation_config, key, neutral) not in (neutral, None)}
    unmapped = sorted(set(changed) - set(MAPPED))
    if unmapped:
        raise SettingNotMapped(
            f"{model_cfg['model_path']}/generation_config.json sets {unmapped[0]}="
            f"{changed[unmapped[0]]}, which the embedded runtime applies and vLLM's sampling "
            "cannot apply the same way; use model.backend=embedded")
    return TokenSettings(_eos_ids(generation_config.eos_token_id),
                         float(changed.get("repetition_penalty", 1.0)))


def sampling_kwargs(settings: TokenSettings, max_new_tokens: int, ignore_eos: bool,
                    logprobs: int) -> dict:
    """SamplingParams(**kwargs) for one generate call."""
    kwargs = dict(temperature=0.0, max_tokens=int(max_new_tokens),
                  repetition_penalty=settings.repetition_penalty,
                  ignore_eos=True, stop_token_ids=list(settings.eos_token_ids),
                  # the text is decoded here, from the ids, as the embedded runtime decodes it
                  detokenize=False, skip_special_tokens=False)
    if ignore_eos:
        kwargs["min_tokens"] = int(max_new_tokens)
    if logprobs:
        kwargs["logprobs"] = int(logprobs)
    return kwargs


def step_logprobs(completion, k: int) -> list[list[list]]:
    """A completion's top-k log-probabilities: one entry per generated step (the step that
    produced the end of sequence included), each [[token id, log-prob], ...] most likely
    first, as runtime.logprobs records them for the embedded runtime."""
    steps = []
    for step in completion.logprobs or []:
        ranked = sorted(step.items(), key=lambda item: item[1].rank)[:k]
        steps.append([[int(token), float(entry.logprob)] for token, entry in ranked])
    return steps
