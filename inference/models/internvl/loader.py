"""An original-layout InternVL checkpoint -> (processor, model): transformers' InternVL built
empty, split for tensor parallelism while empty and filled from the converted tensors."""
from __future__ import annotations

import json
from pathlib import Path

import torch

from inference.models.internvl.conversation import IMG_CONTEXT
from inference.models.internvl.convert import convert_config, convert_state_dict, renamed
from inference.models.internvl.processor import OriginalProcessor, OriginalSettings
from inference.models.internvl.tokenizer import load_tokenizer


def _use_pixel_shuffle_v1(model) -> None:
    """ps_version v1: the shuffled feature map keeps its height and width swapped (InternVL's
    first pixel shuffle), i.e. v2's output transposed."""
    inner = model.model
    v2 = type(inner).pixel_shuffle

    def pixel_shuffle_v1(features, scale_factor=0.5):
        return v2(inner, features, scale_factor).permute(0, 2, 1, 3).contiguous()

    inner.pixel_shuffle = pixel_shuffle_v1


def load_original(folder: Path, dtype: torch.dtype, model_cfg, device="cpu", tp_mesh=None):
    """(processor, model) for an original-layout InternVL checkpoint: the model is built on the
    meta device in `dtype`, split for tensor parallelism while empty, and filled tensor by
    tensor as the converter yields them, each rank keeping only its slices."""
    from transformers import InternVLForConditionalGeneration

    from inference.sharded_loading import converted_entries, fill_original, parameters_on_meta
    from inference.tensor_parallel import shard_model

    raw = json.loads((folder / "config.json").read_text())
    settings = OriginalSettings.read(raw, model_cfg)
    tokenizer = load_tokenizer(folder)
    config = convert_config(raw, tokenizer.convert_tokens_to_ids(IMG_CONTEXT))
    with parameters_on_meta():
        model = InternVLForConditionalGeneration._from_config(config, dtype=dtype)
    slicings = shard_model(model, tp_mesh)
    # renamed tensors are read slice by slice as this rank needs them; packed ones whole
    entries = converted_entries(folder, lambda tensors: convert_state_dict(tensors, config),
                                renamed)
    tied = ("lm_head.weight",) if config.text_config.tie_word_embeddings else ()
    fill_original(model, entries, device, folder, "weights do not match the InternVL layout",
                  slicings=slicings, tp_mesh=tp_mesh, may_stay_empty=tied)
    if settings.ps_version == "v1":
        _use_pixel_shuffle_v1(model)
    # chat() stops at the template's end-of-turn token only
    end = tokenizer.convert_tokens_to_ids(settings.template.end_token)
    if end is None or end == tokenizer.unk_token_id:
        raise ValueError(f"{folder}: the tokenizer has no {settings.template.end_token!r} "
                         f"token, which template={settings.template.name!r} ends turns with")
    model.generation_config.eos_token_id = [end]
    pad = tokenizer.pad_token_id
    model.generation_config.pad_token_id = pad if pad is not None else end
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    return OriginalProcessor(tokenizer, settings), model.eval()
