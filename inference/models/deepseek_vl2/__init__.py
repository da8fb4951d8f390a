"""DeepSeek-VL2 (deepseek-ai/deepseek-vl2, -small): SigLIP-so400m vision, a 2x2-downsampling
MLP projector, dynamic tiling with a global view, and a DeepSeekMoE language model with
multi-head latent attention. Built from transformers' own SiglipVisionModel and
DeepseekV2/V3ForCausalLM; the original checkpoint (`model_type: deepseek_vl_v2`) is read as
JSON and tensors, its Python files never imported.

Image tokens, as the original processor lays them out: the global view's h rows of w tokens
plus a newline each, a view separator, then the local tiles as one (rows*h) x (cols*w) grid
with a newline per row. A request with more than two images (video frames) is not tiled: each
image is one padded global view plus one local view, as the original processor does
(`cropping=len(images) <= 2`). A question holding `<image>` gets the image there.

The mixture-of-experts layers are this family's own (`model.DeepseekMoE`), with the original
routing (softmax or sigmoid scores; `greedy`, `group_limited_greedy` or `noaux_tc` top-k with
e_score_correction_bias; weights normalised only when top_k > 1 and norm_topk_prob, scaled by
routed_scaling_factor) and the original tensor names, so that a checkpoint's experts load as
they are and tensor parallelism can split them by expert.

    processor.py    tiling and the image tokens' count, as the original processor
    model.py        the model: SigLIP tower, projector, language model with the original MoE
    convert.py      original tensor names <-> the model's; the language config
    parallelize.py  the tensor-parallel plan: heads, dense MLPs, experts, vision MLPs
    loader.py       an original-layout checkpoint -> (model, tokenizer, tiling spec)
    adapter.py      prompt ids and tiles, generation over input embeddings
"""
