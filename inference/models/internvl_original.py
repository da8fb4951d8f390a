"""InternVL checkpoints in the original OpenGVLab layout (`model_type: internvl_chat`:
InternViT + MLP projector + InternLM2, Qwen2 or Llama/Yi language model), converted at load
time into transformers' InternVL classes. The checkpoint's Python files are never imported:
the config is read as JSON and the tensors are renamed (InternLM2's packed `wqkv` split into
q/k/v, InternViT's `qkv` likewise)."""
from __future__ import annotations

import json
import re
from pathlib import Path

import torch

from inference.checkpoint_files import iter_tensors

ORIGINAL_MODEL_TYPE = "internvl_chat"
IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]

_VISION_RENAMES = [
    (r"^vision_model\.", "model.vision_tower."),
    (r"embeddings\.class_embedding$", "embeddings.cls_token"),
    (r"embeddings\.position_embedding$", "embeddings.position_embeddings"),
    (r"embeddings\.patch_embedding\.", "embeddings.patch_embeddings.projection."),
    (r"encoder\.layers\.", "encoder.layer."),
    (r"\.ls(\d)$", r".lambda_\1"),
    (r"\.attn\.proj\.", ".attention.projection_layer."),
    (r"\.attn\.", ".attention."),
    (r"\.norm1\.", ".layernorm_before."),
    (r"\.norm2\.", ".layernorm_after."),
]
_PROJECTOR_RENAMES = [(r"^mlp1\.0\.", "model.multi_modal_projector.layer_norm."),
                      (r"^mlp1\.1\.", "model.multi_modal_projector.linear_1."),
                      (r"^mlp1\.3\.", "model.multi_modal_projector.linear_2.")]
_INTERNLM2_RENAMES = [
    (r"^language_model\.output\.", "lm_head."),
    (r"\.tok_embeddings\.", ".embed_tokens."),
    (r"\.attention\.wo\.", ".self_attn.o_proj."),
    (r"\.feed_forward\.w1\.", ".mlp.gate_proj."),
    (r"\.feed_forward\.w2\.", ".mlp.down_proj."),
    (r"\.feed_forward\.w3\.", ".mlp.up_proj."),
    (r"\.attention_norm\.", ".input_layernorm."),
    (r"\.ffn_norm\.", ".post_attention_layernorm."),
]
_LANGUAGE_RENAMES = [(r"^language_model\.lm_head\.", "lm_head."),
                     (r"^language_model\.model\.", "model.language_model.")]


def is_original_layout(folder: Path) -> bool:
    config = json.loads((folder / "config.json").read_text())
    return config.get("model_type") == ORIGINAL_MODEL_TYPE


def _rename(key: str, rules) -> str:
    for pattern, replacement in rules:
        key = re.sub(pattern, replacement, key)
    return key


def _language_family(llm: dict) -> str:
    architecture = (llm.get("architectures") or [""])[0]
    if architecture.startswith("InternLM2") or llm.get("model_type") == "internlm2":
        return "internlm2"
    if architecture.startswith("Qwen2") or llm.get("model_type") == "qwen2":
        return "qwen2"
    if architecture.startswith("Llama") or llm.get("model_type") == "llama":
        return "llama"
    raise ValueError(f"InternVL language model {architecture or llm.get('model_type')!r} is not "
                     "supported (InternLM2, Qwen2, Llama/Yi are)")


def _text_config(llm: dict):
    from transformers import LlamaConfig, Qwen2Config

    family = _language_family(llm)
    fields = ["vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
              "num_attention_heads", "num_key_value_heads", "max_position_embeddings",
              "rms_norm_eps", "hidden_act", "bos_token_id", "eos_token_id", "pad_token_id",
              "tie_word_embeddings", "rope_scaling", "rope_theta", "sliding_window",
              "use_sliding_window", "max_window_layers", "attention_dropout"]
    values = {k: llm[k] for k in fields if k in llm and llm[k] is not None}
    if family == "qwen2":
        return Qwen2Config(**values)
    if family == "internlm2":
        values["attention_bias"] = bool(llm.get("bias", False))
        values["mlp_bias"] = False
    return LlamaConfig(**values)


def convert_config(raw: dict, image_token_id: int):
    from transformers import InternVLConfig, InternVLVisionConfig

    vision, llm = raw["vision_config"], raw["llm_config"]
    image_size = int(raw.get("force_image_size") or vision["image_size"])
    vision_config = InternVLVisionConfig(
        hidden_size=vision["hidden_size"], intermediate_size=vision["intermediate_size"],
        num_hidden_layers=vision["num_hidden_layers"],
        num_attention_heads=vision["num_attention_heads"],
        image_size=[image_size, image_size], patch_size=[vision["patch_size"]] * 2,
        attention_bias=bool(vision.get("qkv_bias", True)),
        use_qk_norm=bool(vision.get("qk_normalization", False)),
        norm_type=vision.get("norm_type", "layer_norm"),
        layer_norm_eps=vision.get("layer_norm_eps", 1e-6),
        hidden_act=vision.get("hidden_act", "gelu"),
        use_absolute_position_embeddings=True)
    select_layer = int(raw.get("select_layer", -1))
    text_config = _text_config(llm)
    return InternVLConfig(vision_config=vision_config, text_config=text_config,
                          tie_word_embeddings=bool(llm.get("tie_word_embeddings", False)),
                          image_token_id=image_token_id,
                          downsample_ratio=float(raw.get("downsample_ratio", 0.5)),
                          vision_feature_layer=select_layer, projector_hidden_act="gelu")


def convert_state_dict(tensors, config) -> dict[str, torch.Tensor]:
    """Original tensor names and layouts -> transformers' InternVL ones."""
    text = config.text_config
    head_dim = text.hidden_size // text.num_attention_heads
    groups = text.num_attention_heads // text.num_key_value_heads
    vision_dim = config.vision_config.hidden_size
    converted = {}
    for key, tensor in tensors:
        if key.startswith("vision_model."):
            new = _rename(key, _VISION_RENAMES)
            if ".attention.qkv." in new:
                for name, part in zip(("q_proj", "k_proj", "v_proj"),
                                      tensor.split(vision_dim, dim=0)):
                    converted[new.replace("qkv", name)] = part.clone()
                continue
            converted[new] = tensor
        elif key.startswith("mlp1."):
            converted[_rename(key, _PROJECTOR_RENAMES)] = tensor
        elif key.startswith("language_model."):
            # InternLM2 names are renamed to Llama's; Qwen2 and Llama names pass unchanged
            new = _rename(_rename(key, _INTERNLM2_RENAMES), _LANGUAGE_RENAMES)
            if ".attention.wqkv." in new:
                # rows grouped per key/value head: [q x groups, k, v] of head_dim each
                packed = tensor.reshape(text.num_key_value_heads, groups + 2, head_dim,
                                        *tensor.shape[1:])
                base = new.replace(".attention.wqkv.", ".self_attn.{}.")
                converted[base.format("q_proj")] = packed[:, :groups].reshape(
                    -1, *tensor.shape[1:]).clone()
                converted[base.format("k_proj")] = packed[:, -2].reshape(
                    -1, *tensor.shape[1:]).clone()
                converted[base.format("v_proj")] = packed[:, -1].reshape(
                    -1, *tensor.shape[1:]).clone()
                continue
            converted[new] = tensor
        else:
            raise ValueError(f"unexpected tensor {key!r} in an InternVL checkpoint")
    return converted


def chat_template(system_message: str | None) -> str:
    system = ("{{ '<|im_start|>system\\n" + system_message.replace("'", "\\'")
              + "<|im_end|>\\n' }}") if system_message else ""
    return (system + "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
            "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
            "{% for c in message['content'] %}{% if c['type'] == 'image' %}<IMG_CONTEXT>\n"
            "{% elif c['type'] == 'video' %}<video>\n{% else %}{{ c['text'] }}{% endif %}"
            "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
            "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def load_tokenizer(folder: Path):
    """The checkpoint's tokenizer without its remote code; InternLM2's sentencepiece model is
    read as a Llama tokenizer."""
    from transformers import AutoTokenizer, LlamaTokenizer

    specials = {"start_image_token": "<img>", "end_image_token": "</img>",
                "context_image_token": "<IMG_CONTEXT>", "video_token": "<video>"}
    config = json.loads((folder / "tokenizer_config.json").read_text()) \
        if (folder / "tokenizer_config.json").is_file() else {}
    if config.get("tokenizer_class", "").startswith("InternLM2"):
        # InternLM2's own class is remote code; its sentencepiece model reads as Llama's
        if not (folder / "tokenizer.model").is_file():
            raise FileNotFoundError(f"{folder}: InternLM2 tokenizer without tokenizer.model")
        tokenizer = LlamaTokenizer.from_pretrained(folder, legacy=False, add_prefix_space=False,
                                                   extra_special_tokens=specials)
    else:
        tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=False,
                                                  extra_special_tokens=specials)
    missing = [t for t in specials.values() if t not in tokenizer.get_vocab()]
    tokenizer.add_tokens(missing, special_tokens=True)
    return tokenizer


def load_original(folder: Path, dtype: torch.dtype, vision_cfg: dict):
    """(processor, model) for an original-layout InternVL checkpoint."""
    from transformers import (GotOcr2ImageProcessor, InternVLForConditionalGeneration,
                              InternVLProcessor)
    from transformers.models.internvl.video_processing_internvl import InternVLVideoProcessor

    raw = json.loads((folder / "config.json").read_text())
    tokenizer = load_tokenizer(folder)
    tokenizer.padding_side = "left"
    config = convert_config(raw, tokenizer.convert_tokens_to_ids("<IMG_CONTEXT>"))
    model = InternVLForConditionalGeneration._from_config(config, dtype=dtype)
    state = convert_state_dict(iter_tensors(folder), config)
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if k != "lm_head.weight" or not config.text_config.tie_word_embeddings]
    if missing or unexpected:
        raise ValueError(f"{folder}: weights do not match the InternVL layout "
                         f"(missing {missing[:5]}, unexpected {unexpected[:5]})")
    end_of_turn = tokenizer.convert_tokens_to_ids("<|im_end|>")
    eos = config.text_config.eos_token_id
    eos = [eos] if isinstance(eos, int) else list(eos or [])
    if isinstance(end_of_turn, int) and end_of_turn not in eos and end_of_turn != tokenizer.unk_token_id:
        eos.append(end_of_turn)
    model.generation_config.eos_token_id = eos
    model.generation_config.pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id \
        is not None else eos[0]
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.convert_ids_to_tokens(eos[0])
    size = config.vision_config.image_size[0]
    max_tiles = int(vision_cfg.get("max_num") or raw.get("max_dynamic_patch", 12))
    image_processor = GotOcr2ImageProcessor(
        size={"height": size, "width": size}, crop_to_patches=bool(raw.get("dynamic_image_size", True)),
        min_patches=1, max_patches=max_tiles, image_mean=IMAGENET_MEAN, image_std=IMAGENET_STD)
    tokens_per_tile = int((size // config.vision_config.patch_size[0]) ** 2
                          * config.downsample_ratio ** 2)
    processor = InternVLProcessor(
        image_processor=image_processor, tokenizer=tokenizer,
        video_processor=InternVLVideoProcessor(size={"height": size, "width": size},
                                               image_mean=IMAGENET_MEAN, image_std=IMAGENET_STD),
        image_seq_length=tokens_per_tile, chat_template=chat_template(raw.get("system_message")))
    return processor, model.eval()
