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


CLIP_MEAN, CLIP_STD = [0.48145466, 0.4578275, 0.40821073], [0.26862954, 0.26130258, 0.27577711]


def write_deepseek_vl_original(folder: Path, marker: Path, model_type: str = "multi_modality"):
    """A deepseek-vl-7b-chat style checkpoint (tiny) and the native model with its weights."""
    from transformers import DeepseekVLHybridConfig, DeepseekVLHybridForConditionalGeneration

    folder.mkdir(parents=True)
    bos, eos = "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"
    tokenizer = _train_tokenizer([bos, eos, "<image_placeholder>"], bos_token=bos, eos_token=eos)
    tokenizer.save_pretrained(folder)
    tokenizer_config = json.loads((folder / "tokenizer_config.json").read_text())
    tokenizer_config["tokenizer_class"] = "LlamaTokenizerFast"
    (folder / "tokenizer_config.json").write_text(json.dumps(tokenizer_config))
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in (bos, eos, "<image_placeholder>")}
    language = dict(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=96,
                    num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
                    max_position_embeddings=512, bos_token_id=ids[bos], eos_token_id=ids[eos])
    config = DeepseekVLHybridConfig(
        vision_config=dict(model_type="siglip_vision_model", hidden_size=64,
                           intermediate_size=96, num_hidden_layers=2, num_attention_heads=1,
                           image_size=64, patch_size=16, hidden_act="gelu_pytorch_tanh",
                           layer_norm_eps=1e-6, vision_use_head=False),
        high_res_vision_config=dict(model_type="sam_vision_model", hidden_size=64, mlp_dim=96,
                                    num_hidden_layers=2, num_attention_heads=1, image_size=128,
                                    patch_size=16, output_channels=16, global_attn_indexes=[1],
                                    window_size=4),
        text_config=dict(model_type="llama", **language),
        image_token_id=ids["<image_placeholder>"], tie_word_embeddings=False)
    torch.manual_seed(0)
    native = DeepseekVLHybridForConditionalGeneration(config).eval()
    with torch.no_grad():
        native.model.high_res_vision_alpha.fill_(0.7)
        for name, parameter in native.named_parameters():
            if "rel_pos" in name:
                parameter.normal_(0, 0.5)
    original = {}
    low = "vision_model.vision_tower_low.vision_tower."
    high = "vision_model.vision_tower_high.vision_tower."
    for key, tensor in native.state_dict().items():
        new = (key.replace("model.high_res_vision_model.vision_encoder.", high)
               .replace("model.high_res_vision_neck.", high + "neck_hd.")
               .replace("model.high_res_vision_proj.conv", high + "downsamples.conv")
               .replace("model.high_res_vision_alpha", high + "hd_alpha_downsamples")
               .replace("model.vision_model.", low)
               .replace("model.aligner.proj.", "aligner.layers.1.")
               .replace("model.aligner.vision_proj.", "aligner.low_up_proj.")
               .replace("model.aligner.high_res_vision_proj.", "aligner.high_up_proj.")
               .replace("model.language_model.", "language_model.model.")
               .replace("lm_head.", "language_model.lm_head."))
        new = (new.replace(high + "patch_embed.projection.", high + "patch_embed.proj.")
               .replace(".layer_norm1.", ".norm1.").replace(".layer_norm2.", ".norm2.")
               .replace(high + "layers.", high + "blocks.")
               .replace(high + "neck.conv1.", high + "neck.0.").replace(high + "neck.norm1.", high + "neck.1.")
               .replace(high + "neck.conv2.", high + "neck.2.").replace(high + "neck.norm2.", high + "neck.3.")
               .replace(high + "neck_hd.conv1.", high + "neck_hd.0.").replace(high + "neck_hd.norm1.", high + "neck_hd.1.")
               .replace(high + "neck_hd.conv2.", high + "neck_hd.2.").replace(high + "neck_hd.norm2.", high + "neck_hd.3.")
               .replace(high + "downsamples.conv1.", high + "downsamples.0.")
               .replace(high + "downsamples.conv2.", high + "downsamples.1.")
               .replace(low + "embeddings.patch_embedding.", low + "patch_embed.proj.")
               .replace(low + "encoder.layers.", low + "blocks.")
               .replace(".self_attn.out_proj.", ".attn.proj.")
               .replace(low + "post_layernorm.", low + "norm."))
        if new == low + "embeddings.position_embedding.weight":
            original[low + "pos_embed"] = tensor.unsqueeze(0)
        elif new.startswith(low) and ".self_attn.q_proj." in new:
            suffix = new.rsplit(".", 1)[1]
            original[new.replace(f".self_attn.q_proj.{suffix}", f".attn.qkv.{suffix}")] = torch.cat(
                [tensor, native.state_dict()[key.replace("q_proj", "k_proj")],
                 native.state_dict()[key.replace("q_proj", "v_proj")]])
        elif new.startswith(low) and (".self_attn.k_proj." in new or ".self_attn.v_proj." in new):
            continue
        else:
            original[new] = tensor
    save_file({k: v.contiguous() for k, v in original.items()}, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps({
        "architectures": ["MultiModalityCausalLM"], "model_type": model_type,
        "aligner_config": {"cls": "MlpProjector", "model_type": "aligner",
                           "params": {"depth": 2, "input_dim": 64, "n_embed": 64,
                                      "projector_type": "low_high_hybrid_split_mlp_gelu"}},
        "language_config": {**language, "model_type": "llama", "torch_dtype": "float16"},
        "vision_config": {"cls": "HybridVisionTower", "model_type": "vision", "params": {
            "concat_type": "tuple", "freeze_high": True, "freeze_low": True,
            "high_res_cfg": {"ckpt_path": "", "image_size": 128, "model_name": "sam_b_downsample",
                             "output_dim": 64, "pixel_mean": CLIP_MEAN, "pixel_std": CLIP_STD,
                             "select_feature": "same", "select_layer": -1},
            "low_res_cfg": {"ckpt_path": "", "image_size": 64,
                            "model_name": "siglip_large_patch16_384", "output_dim": 64,
                            "pixel_mean": [0.5, 0.5, 0.5], "pixel_std": [0.5, 0.5, 0.5],
                            "select_feature": "same", "select_layer": -1}}},
        "torch_dtype": "float16"}))
    (folder / "modeling_vlm.py").write_text(MARKER_CODE.format(marker=str(marker)))
    return native
