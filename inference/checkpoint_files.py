"""Reading checkpoint tensors without executing anything shipped with them: safetensors
(single or sharded), or PyTorch .bin files through torch.load(weights_only=True).

Tensors are handed out one at a time, each an owned copy, so a converter that streams them
into a model never holds more than one: safetensors by plain reads (no memory map, whose
touched pages would stay in the process's resident set), .bin files memory-mapped where
their format allows, each tensor's pages released once it is copied."""
from __future__ import annotations

import ctypes
import json
import logging
import mmap
from pathlib import Path
from typing import Iterator

import torch

log = logging.getLogger(__name__)
MADV_DONTNEED = 4


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


def load_mapped(path: Path, weights_only: bool = True) -> tuple[object, bool]:
    """(torch.load's result, whether its tensors' data are memory-mapped): zip-format files
    are mapped; older ones are read whole, as torch.load reads them."""
    import zipfile

    if zipfile.is_zipfile(path):
        return torch.load(path, map_location="cpu", weights_only=weights_only, mmap=True), True
    log.info("%s: not in the zip format, read whole", path)
    return torch.load(path, map_location="cpu", weights_only=weights_only), False


_LIBC = None


def release_pages(tensor: torch.Tensor) -> None:
    """Drop the resident pages of a memory-mapped tensor's data (they are read again from the
    file if touched). Only whole pages inside the tensor's storage are dropped."""
    global _LIBC
    storage = tensor.untyped_storage()
    start, end = storage.data_ptr(), storage.data_ptr() + storage.nbytes()
    first = -(-start // mmap.PAGESIZE) * mmap.PAGESIZE
    last = end // mmap.PAGESIZE * mmap.PAGESIZE
    if last <= first:
        return
    try:
        if _LIBC is None:
            _LIBC = ctypes.CDLL(None, use_errno=True)
        _LIBC.madvise(ctypes.c_void_p(first), ctypes.c_size_t(last - first), MADV_DONTNEED)
    except (OSError, AttributeError):      # not Linux: the pages stay until the map goes
        pass


def iter_mapped(state: dict, mapped: bool = True) -> Iterator[tuple[str, torch.Tensor]]:
    """(key, owned tensor) of every tensor of a state dict, each taken out of the dict as it
    goes (so that nothing holds it once its consumer is done); a memory-mapped tensor is
    copied and its mapped pages released."""
    for key in list(state):
        tensor = state.pop(key)
        if mapped:
            copy = tensor.clone()
            release_pages(tensor)
            tensor = copy
        yield key, tensor
        del tensor


def iter_tensors(folder: Path) -> Iterator[tuple[str, torch.Tensor]]:
    from inference.safetensors_reader import SafetensorsFolder

    for path in weight_files(folder):
        if path.suffix == ".safetensors":
            files = SafetensorsFolder([path])
            try:
                for key in list(files.keys()):
                    yield key, files.read(key)
            finally:
                files.close()
        else:
            yield from iter_mapped(*load_mapped(path))


def tensor_shapes(folder: Path) -> dict[str, tuple[int, ...]]:
    """Every tensor's shape, without reading tensor data (safetensors headers; .bin files
    memory-mapped)."""
    from inference.safetensors_reader import read_header

    shapes: dict[str, tuple[int, ...]] = {}
    for path in weight_files(folder):
        if path.suffix == ".safetensors":
            shapes.update({k: e.shape for k, e in read_header(path).items()})
        else:
            shapes.update({k: tuple(v.shape) for k, v in load_mapped(path)[0].items()})
    return shapes
