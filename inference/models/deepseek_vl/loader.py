"""An original-layout DeepSeek-VL checkpoint -> (processor, model): transformers'
DeepseekVLHybrid built empty, split for tensor parallelism while empty and filled from the
converted tensors; the processor from the checkpoint's tokenizer and processor configs."""
from __future__ import annotations

import json
from pathlib import Path

import torch

from inference.checkpoint_files import tensor_shapes
from inference.models.deepseek_vl.convert import convert_config, convert_state_dict, renamed
from inference.models.deepseek_vl.processor import IMAGE_TAG, DeepseekVLProcessor, \
    HybridImageProcessor


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def load_original(folder: Path, dtype: torch.dtype, device="cpu", tp_mesh=None):
    """(processor, model) for an original-layout DeepSeek-VL 7B checkpoint: the config is made
    from the tensors' shapes (file headers, no tensor read), the model built on the meta device
    in `dtype`, split for tensor parallelism while empty and filled tensor by tensor."""
    from transformers import AutoTokenizer, DeepseekVLHybridForConditionalGeneration

    from inference.sharded_loading import converted_entries, fill_original, parameters_on_meta
    from inference.tensor_parallel import shard_model

    raw = json.loads((folder / "config.json").read_text())
    processor_config = _read_json(folder / "processor_config.json")
    image_tag = processor_config.get("image_tag", IMAGE_TAG)
    tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=False)
    if tokenizer.convert_tokens_to_ids(image_tag) in (None, tokenizer.unk_token_id):
        tokenizer.add_special_tokens({"additional_special_tokens": [image_tag]})
    if tokenizer.pad_token is None:     # the original pads (and stops) with EOS
        tokenizer.pad_token = tokenizer.eos_token
    if processor_config.get("add_special_token"):
        raise ValueError(f"{folder}/processor_config.json: add_special_token=true is not supported")
    if processor_config.get("sft_format", "deepseek") != "deepseek":
        raise ValueError(f"{folder}/processor_config.json: sft_format="
                         f"{processor_config['sft_format']!r} is not supported (only 'deepseek')")
    config = convert_config(raw, tensor_shapes(folder), tokenizer.convert_tokens_to_ids(image_tag))
    with parameters_on_meta():
        model = DeepseekVLHybridForConditionalGeneration._from_config(config, dtype=dtype)
    slicings = shard_model(model, tp_mesh)
    ignored: list[str] = []
    # renamed tensors are read slice by slice as this rank needs them; SigLIP's converted
    entries = converted_entries(folder, lambda tensors: convert_state_dict(tensors, ignored),
                                renamed)
    fill_original(model, entries, device, folder, "weights do not match the DeepSeek-VL layout",
                  slicings=slicings, tp_mesh=tp_mesh, ignored=ignored,
                  ignored_note="the original model creates but never uses are ignored")
    # the original generates with the tokenizer's BOS/EOS (the Llama config's defaults differ)
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    params = raw["vision_config"]["params"]
    images = HybridImageProcessor(_read_json(folder / "preprocessor_config.json"),
                                  params.get("low_res_cfg", {}), params.get("high_res_cfg", {}))
    grid = config.vision_config.image_size // config.vision_config.patch_size
    tokens = int(processor_config.get("num_image_tokens", grid * grid))
    processor = DeepseekVLProcessor(tokenizer, images, tokens, image_tag)
    return processor, model.eval()
