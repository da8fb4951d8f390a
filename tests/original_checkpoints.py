"""Tiny checkpoints written in original (pre-transformers) layouts, with key names and
config.json fields as the public checkpoints have them, built from a native model so that
the converted load can be compared logit for logit."""
from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import save_file

from inference.demo_models import _train_tokenizer

MARKER_CODE = "open({marker!r}, 'w').write('remote code ran')\n"


def _internlm2_tokenizer(folder: Path) -> None:
    import sentencepiece as spm

    words = "what is the color of this sign written on a yes no one two red blue car".split()
    corpus = folder / "corpus.txt"
    corpus.write_text("\n".join(" ".join(words[(i * 7 + j * 3) % len(words)] for j in range(12))
                                for i in range(200)))
    spm.SentencePieceTrainer.train(
        input=str(corpus), model_prefix=str(folder / "tokenizer"), vocab_size=100,
        model_type="bpe", bos_id=1, eos_id=2, unk_id=0, pad_id=-1, minloglevel=2,
        user_defined_symbols=["<|im_start|>", "<|im_end|>"])
    corpus.unlink()
    (folder / "tokenizer.vocab").unlink()
    added = {str(100 + i): {"content": t, "special": True}
             for i, t in enumerate(["<img>", "</img>", "<IMG_CONTEXT>"])}
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "InternLM2Tokenizer",
        "auto_map": {"AutoTokenizer": ["tokenization_internlm2.InternLM2Tokenizer", None]},
        "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "</s>",
        "added_tokens_decoder": added}))


def _qwen2_tokenizer(folder: Path) -> None:
    tokenizer = _train_tokenizer(["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<img>",
                                  "</img>", "<IMG_CONTEXT>"],
                                 eos_token="<|im_end|>", pad_token="<|endoftext|>")
    tokenizer.save_pretrained(folder)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config["tokenizer_class"] = "Qwen2Tokenizer"
    (folder / "tokenizer_config.json").write_text(json.dumps(config))


def write_internvl_original(folder: Path, llm: str, marker: Path):
    """An InternVL2-style checkpoint (InternViT + MLP + `llm` language model) and the native
    transformers model holding the same weights."""
    from transformers import AutoTokenizer, InternVLConfig, InternVLForConditionalGeneration

    folder.mkdir(parents=True)
    if llm == "internlm2":
        _internlm2_tokenizer(folder)
        from transformers import LlamaTokenizer
        tokenizer = LlamaTokenizer.from_pretrained(folder, legacy=False)
    else:
        _qwen2_tokenizer(folder)
        tokenizer = AutoTokenizer.from_pretrained(folder)
    vocab = len(tokenizer)
    image_token = tokenizer.convert_tokens_to_ids("<IMG_CONTEXT>")
    eos = tokenizer.convert_tokens_to_ids("</s>" if llm == "internlm2" else "<|im_end|>")
    text = dict(vocab_size=vocab, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                rms_norm_eps=1e-6, rope_theta=10000.0, eos_token_id=eos, pad_token_id=eos,
                bos_token_id=1, tie_word_embeddings=False)
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                  num_attention_heads=4, image_size=[64, 64], patch_size=[8, 8],
                  attention_bias=True, layer_norm_eps=1e-6)
    native_text = dict(text, model_type="llama" if llm == "internlm2" else "qwen2",
                       rope_parameters={"rope_type": "default", "rope_theta": 10000.0})
    native_text.pop("rope_theta")
    config = InternVLConfig(vision_config=vision, text_config=native_text,
                            image_token_id=image_token, downsample_ratio=0.5,
                            vision_feature_layer=-1, tie_word_embeddings=False)
    torch.manual_seed(0)
    native = InternVLForConditionalGeneration(config).eval()
    with torch.no_grad():   # non-trivial layer scales, so a mix-up would show in the logits
        for name, parameter in native.named_parameters():
            if "lambda" in name or "norm" in name:
                parameter.normal_(1.0, 0.2)
    original = _to_original_keys(native.state_dict(), llm, config)
    save_file({k: v.contiguous() for k, v in original.items()}, str(folder / "model.safetensors"))

    llm_config = {**text, "attn_implementation": "eager"}
    if llm == "internlm2":
        llm_config.update(architectures=["InternLM2ForCausalLM"], model_type="internlm2",
                          bias=False, auto_map={"AutoConfig": "configuration_internlm2.InternLM2Config",
                                                "AutoModel": "modeling_internlm2.InternLM2ForCausalLM"})
    else:
        llm_config.update(architectures=["Qwen2ForCausalLM"], model_type="qwen2")
    (folder / "config.json").write_text(json.dumps({
        "architectures": ["InternVLChatModel"],
        "auto_map": {"AutoConfig": "configuration_internvl_chat.InternVLChatConfig",
                     "AutoModel": "modeling_internvl_chat.InternVLChatModel"},
        "model_type": "internvl_chat", "downsample_ratio": 0.5, "select_layer": -1,
        "force_image_size": 64, "dynamic_image_size": True, "max_dynamic_patch": 4,
        "min_dynamic_patch": 1, "use_thumbnail": True, "ps_version": "v2",
        "template": "internlm2-chat", "torch_dtype": "float32",
        "llm_config": llm_config,
        "vision_config": {"architectures": ["InternVisionModel"], "model_type": "intern_vit_6b",
                          "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                          "num_attention_heads": 4, "image_size": 64, "patch_size": 8,
                          "qkv_bias": True, "qk_normalization": False, "norm_type": "layer_norm",
                          "layer_norm_eps": 1e-6, "hidden_act": "gelu", "use_flash_attn": False,
                          "drop_path_rate": 0.0, "initializer_factor": 1.0}}))
    for name in ("modeling_internvl_chat.py", "configuration_internvl_chat.py"):
        (folder / name).write_text(MARKER_CODE.format(marker=str(marker)))
    return native


def _to_original_keys(state: dict, llm: str, config) -> dict:
    text = config.text_config
    head_dim = text.hidden_size // text.num_attention_heads
    groups = text.num_attention_heads // text.num_key_value_heads
    out = {}
    for key, tensor in state.items():
        if key.startswith("model.vision_tower."):
            new = key.replace("model.vision_tower.", "vision_model.")
            new = (new.replace("embeddings.cls_token", "embeddings.class_embedding")
                   .replace("embeddings.position_embeddings", "embeddings.position_embedding")
                   .replace("embeddings.patch_embeddings.projection.", "embeddings.patch_embedding.")
                   .replace("encoder.layer.", "encoder.layers.")
                   .replace(".lambda_1", ".ls1").replace(".lambda_2", ".ls2")
                   .replace(".attention.projection_layer.", ".attn.proj.")
                   .replace(".layernorm_before.", ".norm1.").replace(".layernorm_after.", ".norm2."))
            if ".attention.q_proj." in new:
                suffix = new.rsplit(".", 1)[1]
                stem = new.replace(".attention.q_proj." + suffix, "")
                out[f"{stem}.attn.qkv.{suffix}"] = torch.cat([
                    tensor, state[key.replace("q_proj", "k_proj")],
                    state[key.replace("q_proj", "v_proj")]])
            elif ".attention.k_proj." in new or ".attention.v_proj." in new:
                continue
            else:
                out[new] = tensor
        elif key.startswith("model.multi_modal_projector."):
            out[key.replace("model.multi_modal_projector.layer_norm.", "mlp1.0.")
                .replace("model.multi_modal_projector.linear_1.", "mlp1.1.")
                .replace("model.multi_modal_projector.linear_2.", "mlp1.3.")] = tensor
        elif llm == "qwen2":
            out[key.replace("model.language_model.", "language_model.model.")
                .replace("lm_head.", "language_model.lm_head.")] = tensor
        else:
            new = (key.replace("model.language_model.", "language_model.model.")
                   .replace("lm_head.", "language_model.output.")
                   .replace("embed_tokens", "tok_embeddings")
                   .replace("self_attn.o_proj", "attention.wo")
                   .replace("mlp.gate_proj", "feed_forward.w1").replace("mlp.down_proj", "feed_forward.w2")
                   .replace("mlp.up_proj", "feed_forward.w3")
                   .replace("input_layernorm", "attention_norm")
                   .replace("post_attention_layernorm", "ffn_norm"))
            if "self_attn.q_proj" in new:
                q = tensor.reshape(text.num_key_value_heads, groups, head_dim, -1)
                k = state[key.replace("q_proj", "k_proj")].reshape(text.num_key_value_heads, 1, head_dim, -1)
                v = state[key.replace("q_proj", "v_proj")].reshape(text.num_key_value_heads, 1, head_dim, -1)
                out[new.replace("self_attn.q_proj", "attention.wqkv")] = torch.cat(
                    [q, k, v], dim=1).reshape(-1, tensor.shape[-1])
            elif "self_attn.k_proj" in new or "self_attn.v_proj" in new:
                continue
            else:
                out[new] = tensor
    return out
