"""Reading checkpoint tensors without executing anything shipped with them: safetensors
(single or sharded), or PyTorch .bin files through torch.load(weights_only=True)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import torch


def weight_files(folder: Path) -> list[Path]:
    for index_name in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        index = folder / index_name
        if index.is_file():
            shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
            return [folder / shard for shard in shards]
    for single in ("model.safetensors", "pytorch_model.bin"):
        if (folder / single).is_file():
            return [folder / single]
    raise FileNotFoundError(f"{folder}: no model.safetensors or pytorch_model.bin (or index)")


def iter_tensors(folder: Path) -> Iterator[tuple[str, torch.Tensor]]:
    for path in weight_files(folder):
        if path.suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(path), framework="pt") as handle:
                for key in handle.keys():
                    yield key, handle.get_tensor(key)
        else:
            yield from torch.load(path, map_location="cpu", weights_only=True).items()
