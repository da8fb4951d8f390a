"""The model families, each an adapter implementing inference/models/protocol.py; runners/models.py
maps `model.adapter` names to them.

    protocol.py      the one adapter protocol every backend implements
    base.py          ImageTextAdapter: any checkpoint in transformers' layout
                     (`model.adapter=generic`), and the base of the families' adapters
    timm_siglip.py   timm's SigLIP tensor names -> transformers' (DeepSeek-VL and -VL2 towers)
    <family>/        one folder per family (qwen2_vl, internvl, deepseek_vl, deepseek_vl2,
                     vlmo): its model, checkpoint conversion, processor, loader, adapter and
                     tensor-parallel plan (parallelize.py) as modules of their own; the
                     package's docstring lists them
"""
