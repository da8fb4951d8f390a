"""Write a random checkpoint of a real published size, for speed and memory benchmarks where
real weights cannot be downloaded. The architecture sizes are the published config's; the
tokenizer and processor are the demo's (so token ids beyond the demo vocabulary decode to
nothing, which is fine for timing).

    python scripts/random_checkpoint.py --size qwen2_vl_2b --out /tmp/qwen2vl-2b \
        [--dtype bf16] [--device cuda] [--init-std 0.02]
"""
from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

import torch

# Published Qwen2-VL-*-Instruct config.json values (architecture only).
SIZES = {
    "qwen2_vl_2b": dict(hidden_size=1536, intermediate_size=8960, num_hidden_layers=28,
                        num_attention_heads=12, num_key_value_heads=2, tie_word_embeddings=True,
                        vision_hidden_size=1536),
    "qwen2_vl_7b": dict(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28,
                        num_attention_heads=28, num_key_value_heads=4, tie_word_embeddings=False,
                        vision_hidden_size=3584),
}
VOCAB_SIZE = 151936


def build(size: str, out: Path, dtype: torch.dtype, device: str, init_std: float) -> int:
    from transformers import AutoTokenizer, Qwen2VLConfig, Qwen2VLForConditionalGeneration

    from runners.config import compose, to_container
    from runners.demo import ensure_demo_assets

    demo = to_container(compose(["model=demo_qwen2_vl"]))["model"]["model_path"]
    ensure_demo_assets([demo])
    tokenizer = AutoTokenizer.from_pretrained(demo)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in
           ("<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>")}
    shape = dict(SIZES[size])
    vision_hidden = shape.pop("vision_hidden_size")
    text = dict(vocab_size=VOCAB_SIZE, max_position_embeddings=32768, rms_norm_eps=1e-6,
                rope_theta=1e6, rope_scaling={"type": "mrope", "mrope_section": [16, 24, 24]},
                initializer_range=init_std, eos_token_id=tokenizer.eos_token_id,
                pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.pad_token_id,
                **shape)
    config = Qwen2VLConfig(
        text_config=text, tie_word_embeddings=shape["tie_word_embeddings"],
        vision_config=dict(depth=32, embed_dim=1280, hidden_size=vision_hidden, num_heads=16,
                           mlp_ratio=4, patch_size=14, spatial_merge_size=2,
                           temporal_patch_size=2, initializer_range=init_std),
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"])
    torch.manual_seed(0)
    start = time.perf_counter()
    print(f"building {size} ({dtype}, {device}) ...", flush=True)
    with torch.device(device):
        model = Qwen2VLForConditionalGeneration._from_config(config, dtype=dtype)
    params = sum(p.numel() for p in model.parameters())
    print(f"{params / 1e9:.2f}B parameters built in {time.perf_counter() - start:.0f}s; "
          f"saving to {out} ...", flush=True)
    model.save_pretrained(out, max_shard_size="2GB")
    for name in Path(demo).iterdir():       # tokenizer, processor and chat template files
        if name.suffix in (".json", ".jinja", ".txt") and name.name not in (
                "config.json", "generation_config.json", "model.safetensors.index.json",
                "manifest.json"):
            shutil.copy(name, out / name.name)
    print(f"done in {time.perf_counter() - start:.0f}s", flush=True)
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="qwen2_vl_2b")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--dtype", choices=["bf16", "fp32"], default="bf16")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--init-std", type=float, default=0.02)
    args = parser.parse_args(argv)
    dtype = torch.bfloat16 if args.dtype == "bf16" else torch.float32
    return build(args.size, args.out, dtype, args.device, args.init_std)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
