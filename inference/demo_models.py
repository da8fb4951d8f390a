"""Tiny checkpoints of the real architectures for the embedded demo and the tests.

Each is transformers' own class with random weights (fixed seed), a byte-level BPE tokenizer
trained here on a fixed corpus, and the family's processor set for small images. Nothing is
downloaded. A builder fills the folder it is given; runners/demo.py registers each by the
demo folder's name and rebuilds cached copies when this module's source changes.
"""
from __future__ import annotations

from pathlib import Path

import torch

_WORDS = ("what is the color of this sign written on a an yes no one two three four five six "
          "red blue green yellow black white car dog cat man woman bus street stop text number "
          "answer question choice option video image picture letter word brand name time "
          "left right top bottom open closed small large people person kitchen table").split()


# every word of easy-VQA's questions and answers (the trained demos' task): one token each
EASY_VQA_WORDS = tuple("a black blue brown circle color contain does gray green image in is no "
                       "not of present rectangle red shape teal the there triangle what yellow "
                       "answer question using single word or phrase".split())


def _train_tokenizer(special_tokens: list[str], words: tuple[str, ...] = _WORDS, **named):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    corpus = [" ".join(words[(i * 7 + j * 3) % len(words)] for j in range(16))
              for i in range(500)]
    backend = Tokenizer(models.BPE(unk_token=None))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    backend.train_from_iterator(corpus, trainers.BpeTrainer(
        vocab_size=640, special_tokens=special_tokens, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    return PreTrainedTokenizerFast(tokenizer_object=backend, **named)


def _chatml(image: str, video: str | None) -> str:
    return ("{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
            "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
            "{% for c in message['content'] %}{% if c['type'] == 'image' %}" + image
            + (f"{{% elif c['type'] == 'video' %}}{video}" if video else "")
            + "{% else %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n"
            "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def _small_llm(tokenizer, eos: str, pad: str, bos: str | None = None, **extra) -> dict:
    config = dict(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128,
                  num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                  max_position_embeddings=4096, initializer_range=0.5,
                  tie_word_embeddings=False,
                  eos_token_id=tokenizer.convert_tokens_to_ids(eos),
                  pad_token_id=tokenizer.convert_tokens_to_ids(pad))
    if bos:
        config["bos_token_id"] = tokenizer.convert_tokens_to_ids(bos)
    config.update(extra)
    return config


def _prefer_word_tokens(model, tokenizer) -> None:
    """Zero the output rows of byte pieces and special tokens, so the random model's greedy
    text is made of word pieces (readable in the demo) rather than stray bytes."""
    keep = {tokenizer.eos_token_id}
    head = model.get_output_embeddings().weight
    with torch.no_grad():
        for token, index in tokenizer.get_vocab().items():
            piece = tokenizer.convert_tokens_to_string([token]).strip()
            if index not in keep and (index in tokenizer.all_special_ids or len(piece) < 2
                                      or not piece.isalnum()):
                head[index] = 0


def _save(model, processor, folder: Path, prefer_words: bool = True) -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    if prefer_words:
        _prefer_word_tokens(model, processor.tokenizer)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)


def _build_qwen2_vl(folder: Path, mrope_section: list[int], text_sizes: dict,
                    vision_sizes: dict, words: tuple[str, ...] = _WORDS,
                    initializer_range: float | None = None, size: dict | None = None) -> None:
    from transformers import (Qwen2VLConfig, Qwen2VLForConditionalGeneration,
                              Qwen2VLImageProcessor, Qwen2VLProcessor)
    from transformers.models.qwen2_vl.video_processing_qwen2_vl import Qwen2VLVideoProcessor

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>",
                "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"]
    tokenizer = _train_tokenizer(specials, words, eos_token="<|im_end|>",
                                 pad_token="<|endoftext|>")
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in specials}
    text = _small_llm(tokenizer, "<|im_end|>", "<|endoftext|>", "<|endoftext|>",
                      rope_scaling={"type": "mrope", "mrope_section": mrope_section},
                      rope_theta=10000.0)
    text.update(text_sizes)
    vision = dict(depth=2, mlp_ratio=2, patch_size=14, spatial_merge_size=2,
                  temporal_patch_size=2)
    vision.update(vision_sizes)
    if initializer_range is not None:     # a model to be trained: its init's scale
        text["initializer_range"] = vision["initializer_range"] = initializer_range
    config = Qwen2VLConfig(
        text_config=text, vision_config=vision,
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"])
    torch.manual_seed(0)
    model = Qwen2VLForConditionalGeneration(config).eval()
    size = size or {"shortest_edge": 56 * 56, "longest_edge": 112 * 112}
    processor = Qwen2VLProcessor(
        image_processor=Qwen2VLImageProcessor(size=size, patch_size=vision["patch_size"]),
        video_processor=Qwen2VLVideoProcessor(size=size, patch_size=vision["patch_size"]),
        tokenizer=tokenizer,
        chat_template=_chatml("<|vision_start|><|image_pad|><|vision_end|>",
                              "<|vision_start|><|video_pad|><|vision_end|>"))
    _save(model, processor, folder, prefer_words=initializer_range is None)


def build_qwen2_vl(folder: Path) -> None:
    _build_qwen2_vl(folder, [2, 3, 3], {}, dict(embed_dim=32, hidden_size=64, num_heads=4))


def build_internvl(folder: Path) -> None:
    from transformers import (GotOcr2ImageProcessor, InternVLConfig,
                              InternVLForConditionalGeneration, InternVLProcessor)
    from transformers.models.internvl.video_processing_internvl import InternVLVideoProcessor

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<img>", "</img>",
                "<IMG_CONTEXT>", "<video>"]
    tokenizer = _train_tokenizer(
        specials, eos_token="<|im_end|>", pad_token="<|endoftext|>",
        extra_special_tokens={"start_image_token": "<img>", "end_image_token": "</img>",
                              "context_image_token": "<IMG_CONTEXT>", "video_token": "<video>"})
    config = InternVLConfig(
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                           num_attention_heads=4, image_size=[64, 64], patch_size=[8, 8]),
        text_config=dict(model_type="qwen2", **_small_llm(tokenizer, "<|im_end|>",
                                                          "<|endoftext|>")),
        image_token_id=tokenizer.convert_tokens_to_ids("<IMG_CONTEXT>"), downsample_ratio=0.5,
        vision_feature_layer=-1)
    torch.manual_seed(0)
    model = InternVLForConditionalGeneration(config).eval()
    # (64 / 8)^2 patches per tile, pixel-shuffled by 0.5 in each direction -> 16 tokens a tile
    processor = InternVLProcessor(
        image_processor=GotOcr2ImageProcessor(size={"height": 64, "width": 64},
                                              crop_to_patches=True, max_patches=4),
        video_processor=InternVLVideoProcessor(size={"height": 64, "width": 64}),
        tokenizer=tokenizer, image_seq_length=16,
        chat_template=_chatml("<IMG_CONTEXT>\n", "<video>\n"))
    _save(model, processor, folder)


def build_deepseek_vl(folder: Path) -> None:
    from transformers import (DeepseekVLHybridConfig, DeepseekVLHybridForConditionalGeneration,
                              DeepseekVLHybridImageProcessor, DeepseekVLHybridProcessor)

    bos, eos = "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"
    specials = [bos, eos, "<image_placeholder>", "<pad>"]
    tokenizer = _train_tokenizer(specials, bos_token=bos, eos_token=eos, pad_token="<pad>",
                                 extra_special_tokens={"image_token": "<image_placeholder>"})
    config = DeepseekVLHybridConfig(
        vision_config=dict(model_type="siglip_vision_model", hidden_size=32,
                           intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                           image_size=64, patch_size=16),
        high_res_vision_config=dict(model_type="sam_vision_model", hidden_size=32,
                                    output_channels=16, num_hidden_layers=2,
                                    num_attention_heads=4, image_size=128, patch_size=16,
                                    mlp_dim=64, global_attn_indexes=[1], window_size=4),
        text_config=dict(model_type="llama", **_small_llm(tokenizer, eos, "<pad>", bos)),
        image_token_id=tokenizer.convert_tokens_to_ids("<image_placeholder>"))
    torch.manual_seed(0)
    model = DeepseekVLHybridForConditionalGeneration(config).eval()
    template = ("{{ bos_token }}{% for message in messages %}"
                "{% if message['role'] == 'user' %}User: {% else %}Assistant: {% endif %}"
                "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
                "{% for c in message['content'] %}{% if c['type'] == 'image' %}"
                "<image_placeholder>{% else %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}"
                "\n\n{% endfor %}{% if add_generation_prompt %}Assistant:{% endif %}")
    processor = DeepseekVLHybridProcessor(
        image_processor=DeepseekVLHybridImageProcessor(
            size={"height": 64, "width": 64}, high_res_size={"height": 128, "width": 128}),
        tokenizer=tokenizer, chat_template=template, num_image_tokens=16)
    _save(model, processor, folder)


TINY_CLIP_NAME = "modeltest-tiny-clip"
TINY_CLIP_CONFIG = {"embed_dim": 32,
                    "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "head_width": 32,
                                   "patch_size": 16},
                    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64,
                                 "heads": 2, "layers": 2}}


def build_clip_judge(folder: Path) -> None:
    """A tiny open_clip model (ViT + text transformer, CLIP's own BPE tokenizer shipped with
    open_clip) as the demo judge: its config JSON and open_clip_pytorch_model.bin."""
    import json

    import open_clip

    folder.mkdir(parents=True, exist_ok=True)
    config_path = folder / f"{TINY_CLIP_NAME}.json"
    config_path.write_text(json.dumps(TINY_CLIP_CONFIG, indent=1))
    open_clip.add_model_config(config_path)
    torch.manual_seed(0)
    model = open_clip.create_model(TINY_CLIP_NAME, pretrained=None)
    torch.save(model.state_dict(), folder / "open_clip_pytorch_model.bin")


DEMO_VQA_ANSWERS = ["yes", "no", "0", "1", "2", "3", "red", "blue", "green", "yellow", "black",
                    "white", "dark red", "dark blue", "stop", "bus", "car", "dog", "cat", "sign"]


def build_vlmo(folder: Path) -> None:
    """A tiny VLMo VQA checkpoint in the original unilm layout: a Lightning-style
    {"state_dict": ...} .pt, a BERT-uncased style vocab.txt and answer2label.txt."""
    import json

    from inference.models.vlmo.model import VLMoConfig, VLMoForVQA

    folder.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]"] + [f"[unused{i}]" for i in range(5)] + ["[UNK]", "[CLS]", "[SEP]",
                                                              "[MASK]"]
    vocab += sorted(set(_WORDS)) + sorted({c for w in _WORDS for c in w}) + [
        "?", ".", ",", "##s", "##ed", "##ing"] + [f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz"]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    with open(folder / "answer2label.txt", "w", encoding="utf-8") as handle:
        for label, answer in enumerate(DEMO_VQA_ANSWERS):
            handle.write(json.dumps({"answer": answer, "label": label}) + "\n")
    config = VLMoConfig(embed_dim=64, depth=3, num_heads=2, vlffn_start_layer_index=2,
                        patch_size=16, image_size=64, max_text_len=40,
                        max_text_len_of_initckpt=196, vocab_size=len(vocab),
                        num_labels=len(DEMO_VQA_ANSWERS))
    torch.manual_seed(0)
    model = VLMoForVQA(config)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_(0.0, 0.2)
    torch.save({"state_dict": model.state_dict()}, folder / "vlmo_base_patch16_480_vqa.pt")


VL2_TILE, VL2_PATCH = 56, 14


def tiny_deepseek_vl2(tokenizer, std: float = 0.3, prefer_words: bool = True):
    """The tiny DeepSeek-VL2 (SigLIP, MLA + MoE language model) with fixed random weights
    (normal with `std`, norms excepted)."""
    from transformers import DeepseekV2Config, SiglipVisionConfig

    from inference.models.deepseek_vl2.model import DeepseekVL2ForCausalLM

    vision = SiglipVisionConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                                intermediate_size=128, image_size=VL2_TILE, patch_size=VL2_PATCH,
                                hidden_act="gelu_pytorch_tanh", layer_norm_eps=1e-6,
                                vision_use_head=False)
    language = DeepseekV2Config(**vl2_language_fields(tokenizer),
                                rope_parameters={"rope_type": "default", "rope_theta": 10000.0})
    torch.manual_seed(0)
    model = DeepseekVL2ForCausalLM(vision, language, {"downsample_ratio": 2, "mlp_ratio": 1})
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "norm" not in name:
                parameter.normal_(0.0, std)
    if prefer_words:
        _prefer_word_tokens(model.language, tokenizer)
    return model.eval()


def vl2_language_fields(tokenizer) -> dict:
    return dict(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128,
                num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
                q_lora_rank=32, kv_lora_rank=16, qk_nope_head_dim=16, qk_rope_head_dim=8,
                v_head_dim=16, n_routed_experts=4, n_shared_experts=1, num_experts_per_tok=2,
                moe_intermediate_size=32, first_k_dense_replace=1, topk_method="greedy",
                norm_topk_prob=False, routed_scaling_factor=1.0, max_position_embeddings=4096,
                bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=False)


def vl2_tokenizer(words: tuple[str, ...] = _WORDS):
    bos, eos = "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"
    return _train_tokenizer([bos, eos, "<｜▁pad▁｜>", "<image>", "<|User|>", "<|Assistant|>"],
                            words, bos_token=bos, eos_token=eos, pad_token="<｜▁pad▁｜>")


def build_deepseek_vl2(folder: Path, words: tuple[str, ...] = _WORDS, std: float = 0.3,
                       prefer_words: bool = True) -> None:
    """A tiny checkpoint in the original deepseek-ai/deepseek-vl2 layout (config.json
    `deepseek_vl_v2`, timm SigLIP names, per-expert MoE weights)."""
    import json

    from safetensors.torch import save_file

    from inference.models.deepseek_vl2.convert import original_state_dict

    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = vl2_tokenizer(words)
    tokenizer.save_pretrained(folder)
    model = tiny_deepseek_vl2(tokenizer, std, prefer_words)
    original = original_state_dict(model.state_dict())
    save_file({k: v.contiguous() for k, v in original.items()}, str(folder / "model.safetensors"))
    language = dict(vl2_language_fields(tokenizer), architectures=["DeepseekV2ForCausalLM"],
                    model_type="deepseek_v2", use_mla=True, rope_theta=10000.0,
                    scoring_func="softmax", aux_loss_alpha=0.001)
    tile = VL2_TILE
    (folder / "config.json").write_text(json.dumps({
        "architectures": ["DeepseekVLV2ForCausalLM"], "model_type": "deepseek_vl_v2",
        "candidate_resolutions": [[tile, tile], [tile, 2 * tile], [2 * tile, tile],
                                  [2 * tile, 2 * tile]],
        "global_view_pos": "head", "tile_tag": "2D", "language_config": language,
        "projector_config": {"model_type": "mlp_projector", "projector_type": "downsample_mlp_gelu",
                             "input_dim": 64, "n_embed": 64, "depth": 2, "mlp_ratio": 1,
                             "downsample_ratio": 2},
        "vision_config": {"model_type": "vision", "model_name": "siglip_so400m_patch14_384",
                          "width": 64, "layers": 2, "heads": 2, "mlp_ratio": 2.0,
                          "image_size": tile, "patch_size": VL2_PATCH, "ignore_head": True,
                          "select_layer": -1, "weight_init": "skip"},
        "torch_dtype": "bfloat16"}, indent=1))


def build_qwen2_vl_served(folder: Path) -> None:
    """demo_qwen2_vl_served: the demo Qwen2-VL with head size 32 (vLLM's CPU attention needs
    at least 32), to be served by scripts/serve_vllm.sh and run in-process beside it."""
    # head size 128 / 4 = 32, the least vLLM's CPU attention takes
    _build_qwen2_vl(folder, [4, 6, 6], dict(hidden_size=128, intermediate_size=256,
                                            num_attention_heads=4, num_key_value_heads=2),
                    dict(embed_dim=64, hidden_size=128, num_heads=2))


# -- the starts of the trained demos (inference/trained_demos.py) ------------------------------
def build_qwen2_vl_init(folder: Path) -> None:
    """demo_qwen2_vl_init, a tiny Qwen2-VL to be trained: 8-pixel patches (2 x 2 of them per
    image token: easy-VQA's 64 x 64 images are 16 tokens at their own size) and a tokenizer
    that knows easy-VQA's words. Weights are drawn with std 0.1 (about 1/sqrt(width) at width
    64), not the usual 0.02 of large models: at width 64, std 0.02 leaves every MLP in its
    linear range and every attention uniform, so the vision tower starts as a linear map of
    the mean image (colour, but no shape) and the language model as an average over the
    prompt; trained from there, it learned the answers' priors and ignored the image
    (68.46% on easy-VQA's test split, where std 0.1 learns the colours within 300 steps)."""
    _build_qwen2_vl(folder, [2, 3, 3], {},
                    dict(embed_dim=64, hidden_size=64, num_heads=4, patch_size=8),
                    words=tuple(_WORDS) + EASY_VQA_WORDS, initializer_range=0.1,
                    size={"shortest_edge": 32 * 32, "longest_edge": 64 * 64})


def build_deepseek_vl2_init(folder: Path) -> None:
    """The tiny DeepSeek-VL2 of demo_deepseek_vl2 (original layout) to be trained: small init
    (std 0.02) and a tokenizer that knows easy-VQA's words: demo_deepseek_vl2_init."""
    build_deepseek_vl2(folder, tuple(_WORDS) + EASY_VQA_WORDS, 0.02, prefer_words=False)
