"""The model families, each an adapter implementing inference/models/protocol.py; runners/models.py
maps `model.adapter` names to them."""
