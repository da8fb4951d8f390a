"""VLMo (microsoft/unilm) for VQA v2 as 3129-way classification.

A multiway transformer: shared self-attention, and per block a vision expert (mlp_imag), a
language expert (mlp_text) and, from `vlffn_start_layer_index` on, a vision-language expert
(mlp_vl); relative position biases for image, text and text-image pairs; BERT-style text
embeddings. Module names follow the original checkpoint (vlmo_base_patch16_480_vqa.pt) so its
state dict loads as is; sizes are read off the tensors, image size and text length come from
the yaml (config task_finetune_vqa_base_image480: 480 and 40).

    model.py       the multiway transformer and its VQA head, under the original's names
    checkpoint.py  the three files of a VQA model: weights, BERT vocabulary, answer labels
    adapter.py     the adapter: the top answer label as the "generated" text
"""
