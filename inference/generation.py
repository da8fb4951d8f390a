"""Generation settings: every setting that changes tokens comes from `model.generation`, is
the same for every family and for a server, and is written where a run says what it did.

Decoding is always greedy. By default nothing is taken from the checkpoint's
generation_config.json but its token ids (end of sequence, padding): transformers' generate()
would otherwise apply the file's repetition penalty and sampling settings silently (the Hub's
Qwen2-VL files carry `repetition_penalty: 1.05, top_k: 1, top_p: 0.001, temperature: 0.1`).
`model.generation.from_checkpoint: true` applies the file's token-changing settings as the
model card's `generate()` does; its sampling settings are reduced to greedy, which the notes
say (with `top_k: 1`, sampling keeps only the best token: it *is* greedy).
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

# settings of a checkpoint's generation_config.json that change tokens and that greedy
# decoding here applies, under their model.generation names
APPLIED = ("repetition_penalty", "no_repeat_ngram_size")
# sampling settings: under greedy decoding they do nothing, so a file's values are reduced
# to greedy (and said so)
SAMPLING = ("do_sample", "temperature", "top_k", "top_p", "typical_p", "min_p",
            "epsilon_cutoff", "eta_cutoff")
# token-changing settings this harness does not apply: a checkpoint that sets them with
# from_checkpoint=true is refused, naming them, rather than run differently from its card
UNSUPPORTED = ("num_beams", "penalty_alpha", "bad_words_ids", "suppress_tokens",
               "begin_suppress_tokens", "sequence_bias", "forced_bos_token_id",
               "forced_eos_token_id", "encoder_repetition_penalty", "min_length",
               "min_new_tokens", "exponential_decay_length_penalty", "guidance_scale",
               "encoder_no_repeat_ngram_size", "length_penalty", "diversity_penalty",
               "num_beam_groups", "renormalize_logits", "watermarking_config")
# what each setting means when it does nothing
NEUTRAL = {"do_sample": False, "temperature": 1.0, "top_k": 50, "top_p": 1.0, "typical_p": 1.0,
           "min_p": None, "epsilon_cutoff": 0.0, "eta_cutoff": 0.0, "num_beams": 1,
           "penalty_alpha": None, "bad_words_ids": None, "suppress_tokens": None,
           "begin_suppress_tokens": None, "sequence_bias": None, "forced_bos_token_id": None,
           "forced_eos_token_id": None, "encoder_repetition_penalty": 1.0, "min_length": 0,
           "min_new_tokens": None, "exponential_decay_length_penalty": None,
           "guidance_scale": None, "encoder_no_repeat_ngram_size": 0, "length_penalty": 1.0,
           "diversity_penalty": 0.0, "num_beam_groups": 1, "renormalize_logits": False,
           "watermarking_config": None, "repetition_penalty": 1.0, "no_repeat_ngram_size": 0}
# the keys model.generation holds
KEYS = ("max_new_tokens", "repetition_penalty", "no_repeat_ngram_size", "stop_token_ids",
        "stop_strings", "from_checkpoint")


class GenerationConfigError(ValueError):
    """A bad model.generation value or an unusable generation_config.json: one line."""


@dataclass(frozen=True)
class GenerationSettings:
    """The effective settings of a run (greedy always)."""
    max_new_tokens: int | None            # None: the task's
    repetition_penalty: float = 1.0
    no_repeat_ngram_size: int = 0
    stop_token_ids: tuple[int, ...] = ()  # besides the checkpoint's end of sequence
    stop_strings: tuple[str, ...] = ()
    from_checkpoint: bool = False
    decoding: str = "greedy"
    notes: tuple[str, ...] = field(default=(), compare=False)

    def record(self) -> dict:
        """For summary.json and the run identity."""
        out = asdict(self)
        out["stop_token_ids"] = list(self.stop_token_ids)
        out["stop_strings"] = list(self.stop_strings)
        out["notes"] = list(self.notes)
        return out

    def with_max_new_tokens(self, value: int) -> "GenerationSettings":
        return GenerationSettings(int(value), self.repetition_penalty, self.no_repeat_ngram_size,
                                  self.stop_token_ids, self.stop_strings, self.from_checkpoint,
                                  self.decoding, self.notes)


def _section(model_cfg) -> dict:
    section = model_cfg["generation"]
    missing = [key for key in KEYS if key not in section]
    if missing:
        raise GenerationConfigError(f"model.generation.{missing[0]}: missing (every model yaml "
                                    "sets the generation keys; see conf/model/qwen2_vl.yaml)")
    unknown = sorted(set(section) - set(KEYS))
    if unknown:
        raise GenerationConfigError(f"model.generation.{unknown[0]}: unknown key (known: "
                                    f"{', '.join(KEYS)}); decoding is always greedy")
    return section


def check_generation(model_cfg, classifier: bool = False) -> None:
    """Every model.generation value, before anything loads (GenerationConfigError, one line).
    `classifier`: the model does not generate (VLMo): only the neutral values are allowed."""
    section = _section(model_cfg)
    value = section["max_new_tokens"]
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise GenerationConfigError(f"model.generation.max_new_tokens={value}: must be a whole "
                                    "number of at least 1, or null for the task's")
    value = section["repetition_penalty"]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise GenerationConfigError(f"model.generation.repetition_penalty={value}: must be a "
                                    "number above 0 (1.0 = no penalty)")
    value = section["no_repeat_ngram_size"]
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise GenerationConfigError(f"model.generation.no_repeat_ngram_size={value}: must be a "
                                    "whole number of at least 0 (0 = off)")
    ids = section["stop_token_ids"]
    if isinstance(ids, str) or not isinstance(ids, Sequence) or any(
            isinstance(i, bool) or not isinstance(i, int) or i < 0 for i in ids):
        raise GenerationConfigError(f"model.generation.stop_token_ids={ids}: must be a list of "
                                    "token ids (whole numbers of at least 0)")
    strings = section["stop_strings"]
    if isinstance(strings, str) or not isinstance(strings, Sequence) or any(
            not isinstance(s, str) or not s for s in strings):
        raise GenerationConfigError(f"model.generation.stop_strings={strings}: must be a list "
                                    "of non-empty strings")
    if not isinstance(section["from_checkpoint"], bool):
        raise GenerationConfigError(f"model.generation.from_checkpoint="
                                    f"{section['from_checkpoint']}: must be true or false")
    if classifier:
        neutral = {"repetition_penalty": lambda v: v == 1,
                   "no_repeat_ngram_size": lambda v: v == 0,
                   "stop_token_ids": lambda v: not len(v), "stop_strings": lambda v: not len(v),
                   "from_checkpoint": lambda v: v is False}
        changed = [key for key, is_neutral in neutral.items() if not is_neutral(section[key])]
        if changed:
            raise GenerationConfigError(
                f"model.generation.{changed[0]}: this model is a classifier (it answers with "
                "its best label, it does not generate); no generation setting applies")


def checkpoint_generation_config(folder) -> dict:
    """The checkpoint's generation_config.json ({} when there is none)."""
    if not folder:
        return {}
    path = Path(str(folder)).expanduser() / "generation_config.json"
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise GenerationConfigError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise GenerationConfigError(f"{path}: not a JSON object")
    return data


def _set(data: dict, key: str) -> bool:
    """The file sets `key` to something that is not its neutral value."""
    return key in data and data[key] is not None and data[key] != NEUTRAL.get(key)


def resolve_generation(model_cfg, classifier: bool = False) -> GenerationSettings:
    """The effective settings: model.generation, and with from_checkpoint the checkpoint's
    generation_config.json (model.model_path) as its model card's generate() applies it."""
    check_generation(model_cfg, classifier)
    section = _section(model_cfg)
    settings = {"repetition_penalty": float(section["repetition_penalty"]),
                "no_repeat_ngram_size": int(section["no_repeat_ngram_size"])}
    notes: list[str] = []
    if classifier:
        return GenerationSettings(None, decoding="classification (the best answer label)",
                                  notes=("a classifier: no generation setting applies",))
    path = model_cfg.get("model_path")
    data = checkpoint_generation_config(path)
    applicable = {key: data[key] for key in APPLIED if _set(data, key)}
    sampling = {key: data[key] for key in SAMPLING if _set(data, key)}
    if section["from_checkpoint"]:
        if not path:
            raise GenerationConfigError("model.generation.from_checkpoint=true reads the "
                                        "checkpoint's generation_config.json: set "
                                        "model.model_path")
        unsupported = [key for key in UNSUPPORTED if _set(data, key)]
        if unsupported:
            raise GenerationConfigError(
                f"{Path(str(path)) / 'generation_config.json'}: sets {unsupported[0]}="
                f"{data[unsupported[0]]}, which this harness does not apply; "
                "model.generation.from_checkpoint=false decodes without it")
        for key, value in applicable.items():
            if settings[key] != (NEUTRAL[key] if key in NEUTRAL else None) and \
                    settings[key] != value:
                raise GenerationConfigError(
                    f"model.generation.{key}={settings[key]} and from_checkpoint=true, whose "
                    f"generation_config.json says {key}={value}: set one of them")
            settings[key] = type(settings[key])(value)
        if applicable:
            notes.append("from the checkpoint's generation_config.json: " + ", ".join(
                f"{k}={v}" for k, v in applicable.items()))
        if sampling:
            notes.append("the checkpoint's sampling settings (" + ", ".join(
                f"{k}={v}" for k, v in sampling.items()) + ") reduced to greedy decoding")
    elif applicable or sampling:
        notes.append("the checkpoint's generation_config.json sets " + ", ".join(
            f"{k}={v}" for k, v in {**applicable, **sampling}.items()) + "; not applied "
            "(plain greedy; model.generation.from_checkpoint=true applies them)")
    return GenerationSettings(section["max_new_tokens"], settings["repetition_penalty"],
                              settings["no_repeat_ngram_size"],
                              tuple(int(i) for i in section["stop_token_ids"]),
                              tuple(str(s) for s in section["stop_strings"]),
                              bool(section["from_checkpoint"]), notes=tuple(notes))


# -- in-process: transformers' generate() ----------------------------------------------------
def token_ids_only(generation_config):
    """A GenerationConfig with only the token ids of `generation_config` (end of sequence,
    padding, start): whatever else a checkpoint's file set cannot reach generate()."""
    from transformers import GenerationConfig

    keep = {key: getattr(generation_config, key, None)
            for key in ("bos_token_id", "eos_token_id", "pad_token_id", "decoder_start_token_id")}
    return GenerationConfig(**{k: v for k, v in keep.items() if v is not None})


class RepetitionPenalty:
    """transformers' repetition penalty (a seen token's logit divided by the penalty when
    positive, multiplied when negative: RepetitionPenaltyLogitsProcessor), over the tokens of
    each row's own prompt and output only. transformers' processor also penalises the pad
    tokens of a left-padded row (often its end-of-sequence token), so a batch would answer
    differently from one sample at a time; here a pad counts as the row's last token, which
    is seen anyway. At batch 1 (the model card's call) both are the same."""

    def __init__(self, penalty: float, prompt_mask=None):
        self.penalty = float(penalty)
        self.prompt_mask = prompt_mask     # (batch, prompt) 1 = real token; None = no pads

    def __call__(self, input_ids, scores):
        import torch

        ids = input_ids
        if self.prompt_mask is not None and ids.shape[1]:
            prompt = min(self.prompt_mask.shape[1], ids.shape[1])
            real = torch.ones_like(ids, dtype=torch.bool)
            real[:, :prompt] = self.prompt_mask[:, :prompt].to(ids.device).bool()
            ids = torch.where(real, ids, ids[:, -1:])
        if not ids.shape[1]:
            return scores
        seen = torch.gather(scores, 1, ids)
        seen = torch.where(seen < 0, seen * self.penalty, seen / self.penalty)
        return scores.scatter(1, ids, seen)


def hf_generate_kwargs(settings: GenerationSettings, max_new_tokens: int, ignore_eos: bool,
                       logits_processor: list, eos_token_id=None, tokenizer=None,
                       prompt_mask=None) -> dict:
    """The keyword arguments of transformers' generate() for `settings`: greedy, the
    penalties, the stop ids beside `eos_token_id` (the model's end of sequence; None: the
    model's generation_config's) and the stop strings (which need the `tokenizer`).
    `prompt_mask`: the attention mask of left-padded prompt ids (None when generate() gets
    embeddings and its ids hold only the generated tokens)."""
    processors = list(logits_processor)
    if settings.repetition_penalty != 1.0:
        processors.insert(0, RepetitionPenalty(settings.repetition_penalty, prompt_mask))
    kwargs = dict(max_new_tokens=int(max_new_tokens), do_sample=False, num_beams=1,
                  repetition_penalty=1.0,      # applied by RepetitionPenalty above
                  no_repeat_ngram_size=settings.no_repeat_ngram_size,
                  logits_processor=processors,
                  # tensor-parallel ranks see identical logits and stop together, and
                  # data-parallel groups must not wait on each other's decode steps
                  synced_gpus=False)
    if settings.stop_token_ids:
        base = [] if eos_token_id is None else \
            ([eos_token_id] if isinstance(eos_token_id, int) else list(eos_token_id))
        kwargs["eos_token_id"] = base + [i for i in settings.stop_token_ids if i not in base]
    elif eos_token_id is not None:
        kwargs["eos_token_id"] = eos_token_id
    if settings.stop_strings:
        kwargs.update(stop_strings=list(settings.stop_strings), tokenizer=tokenizer)
    if ignore_eos:   # performance runs: always produce max_new_tokens
        kwargs["min_new_tokens"] = int(max_new_tokens)
    return kwargs


def stop_ids(settings: GenerationSettings, eos_token_id) -> list[int]:
    """Where a row's recorded ids are cut: the model's end of sequence and the stop ids."""
    base = [] if eos_token_id is None else \
        ([eos_token_id] if isinstance(eos_token_id, int) else list(eos_token_id))
    return base + [i for i in settings.stop_token_ids if i not in base]
