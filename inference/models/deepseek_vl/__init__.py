"""DeepSeek-VL 7B (SigLIP/SAM hybrid + Llama): checkpoints in transformers' layout, or in the
original deepseek-ai layout (`model_type: multi_modality`, or `deepseekvl` as the seed harness
tells users to edit it): SigLIP-L low-res and SAM-B high-res towers, the hybrid MLP aligner
and a Llama language model, converted at load time into transformers' DeepseekVLHybrid
classes without importing the checkpoint's code.

The original config names the vision towers (`siglip_large_patch16_384`, `sam_b_downsample`)
instead of giving their sizes, so the sizes are read off the tensors: widths, depths, window
and global-attention layers; heads are width / 64 as in both published towers.

Inputs of an original-layout checkpoint are built as the original VLChatProcessor and hybrid
tower build them (see `processor.DeepseekVLProcessor`), not with transformers'
DeepseekVLHybridProcessor, whose resizing, padding colour and low-resolution path differ from
the original's. Video frames become images: the model has no video input.

    convert.py    the original layout: config from the tensors' shapes, tensor names
    processor.py  pixels and prompt ids as the original VLChatProcessor builds them
    loader.py     an original-layout checkpoint -> (processor, model)
    adapter.py    the adapter (either layout: both processors take the same calls)
"""
