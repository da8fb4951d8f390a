"""A run's generation settings (inference/generation.py's `resolve_generation`: the same
`GenerationSettings` the embedded runtime generates with) as vLLM's SamplingParams, and vLLM's
per-step log-probabilities in the embedded runtime's structure. Every token-changing setting
maps here, in one place, or is refused by name before anything loads.

What maps (inference/generation.py `hf_generate_kwargs` is the embedded side):
- decoding: greedy (temperature 0); `max_new_tokens` is vLLM's `max_tokens`;
- stopping: vLLM's own end-of-sequence rule uses the tokenizer's EOS, which can differ from the
  checkpoint generation config's that transformers uses, so it is switched off (`ignore_eos`)
  and the generation config's ids plus `model.generation.stop_token_ids` (`stop_ids`, the same
  list the embedded runtime stops at and cuts `output_ids` at) are vLLM's `stop_token_ids`;
  a row ends exactly where the embedded runtime's does, with the stop id in its output as there;
- `repetition_penalty`: vLLM's has transformers' rule (a seen token's logit divided by the
  penalty when positive, multiplied when negative) over the row's prompt and output tokens,
  which is what the embedded runtime's `RepetitionPenalty` applies (padding aside, which a
  vLLM row does not have);
- `ignore_eos=True` from a caller (performance runs): always `max_new_tokens` tokens, the stop
  ids masked until then (`min_tokens`), as transformers' `min_new_tokens` does.

What is refused (`check_settings`), since vLLM would give other tokens:
- `no_repeat_ngram_size`: vLLM's SamplingParams has no n-gram ban;
- `stop_strings`: vLLM matches them on its incrementally detokenized text, transformers'
  StopStringCriteria on the tokens' strings, and vLLM leaves the matched string out of the
  text by default: where a row stops is not the same rule.
"""
from __future__ import annotations

from inference.generation import GenerationSettings


class SettingNotMapped(ValueError):
    """A token-changing setting vLLM cannot apply as the embedded runtime does: one line."""


# model.generation key -> why vLLM cannot apply a value other than the neutral one
UNMAPPED = {
    "no_repeat_ngram_size": "vLLM's sampling has no n-gram ban (transformers' "
                            "NoRepeatNGramLogitsProcessor)",
    "stop_strings": "vLLM matches stop strings on its detokenized text, transformers on the "
                    "tokens' strings: rows may stop at other tokens",
}


def check_settings(settings: GenerationSettings) -> None:
    """SettingNotMapped (one line naming the setting) when vLLM cannot apply `settings` as
    the embedded runtime does."""
    values = {"no_repeat_ngram_size": settings.no_repeat_ngram_size,
              "stop_strings": list(settings.stop_strings)}
    for key, value in values.items():
        if value:
            source = " (from the checkpoint's generation_config.json)" \
                if settings.from_checkpoint and key == "no_repeat_ngram_size" else ""
            raise SettingNotMapped(
                f"model.generation.{key}={value}{source}: model.backend=vllm cannot apply it "
                f"as the embedded runtime does ({UNMAPPED[key]}); use model.backend=embedded")


def sampling_kwargs(settings: GenerationSettings, stop_token_ids: list[int],
                    max_new_tokens: int, ignore_eos: bool, logprobs: int) -> dict:
    """SamplingParams(**kwargs) for one generate call; `stop_token_ids` are
    inference.generation.stop_ids(settings, the checkpoint's eos_token_id)."""
    check_settings(settings)
    kwargs = dict(temperature=0.0, max_tokens=int(max_new_tokens),
                  repetition_penalty=float(settings.repetition_penalty),
                  ignore_eos=True, stop_token_ids=[int(i) for i in stop_token_ids],
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
    first, as runtime.logprobs records them for the embedded runtime (inference/logprobs.py)."""
    steps = []
    for step in completion.logprobs or []:
        ranked = sorted(step.items(), key=lambda item: item[1].rank)[:k]
        steps.append([[int(token), float(entry.logprob)] for token, entry in ranked])
    return steps
