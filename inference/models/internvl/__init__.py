"""InternVL: checkpoints in transformers' layout, and original OpenGVLab checkpoints
(`model_type: internvl_chat`: InternVL-Chat-V1-2/V1-5, InternVL2-2B/8B/40B, ...; InternViT +
MLP projector + InternLM2, Qwen2 or Llama/Yi language model) converted at load time into
transformers' InternVL classes. The checkpoint's Python files are never imported: the config
is read as JSON and the tensors are renamed (InternLM2's packed `wqkv` split into q/k/v,
InternViT's `qkv` likewise).

For the original layout, inputs are built as the checkpoint's own `chat()` / `batch_chat()`
build them (checked token for token against recordings of the original code:
tests/test_internvl_fixtures.py): the conversation template named by `template` with its
default system message, `<image>` in place or in front, the slow sentencepiece tokenization,
the repository's dynamic tiling with PIL bicubic resizing, pixel shuffle `ps_version` v1 or
v2, and stopping at the template's end-of-turn token only.

    convert.py       the original layout: its config and tensor names -> transformers' InternVL
    conversation.py  chat()'s conversation templates and image placeholders
    tokenizer.py     the slow sentencepiece tokenization the model cards load, without remote code
    tiles.py         the repository's dynamic tiling and pixel normalisation
    processor.py     the checkpoint's settings, and prompt + ids + pixels as chat() builds them
    loader.py        an original-layout checkpoint -> (processor, model)
    adapter.py       one adapter per layout: InternVLAdapter (transformers'),
                     OriginalInternVLAdapter (OpenGVLab's), chosen by the checkpoint
"""
