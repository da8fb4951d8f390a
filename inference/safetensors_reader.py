"""Reading tensors, or one rank's slice of them, from .safetensors files with plain reads.

safetensors' own loader memory-maps the file: every page it touches stays in the process's
resident set until the file is closed, so loading a model that way holds the checkpoint twice
(mapped file + the model's copy). Here each read fills a tensor of its own from `os.pread`
(the page cache is not counted against the process), and a rank reads only the bytes of its
own slice: a contiguous range for a split along the first dimension, bounded row blocks for a
split along the second.
"""
from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import torch

DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16,
          "BF16": torch.bfloat16, "I64": torch.int64, "I32": torch.int32, "I16": torch.int16,
          "I8": torch.int8, "U8": torch.uint8, "BOOL": torch.bool,
          "F8_E4M3": getattr(torch, "float8_e4m3fn", None),
          "F8_E5M2": getattr(torch, "float8_e5m2", None)}


@dataclass(frozen=True)
class Slicing:
    """Which part of a tensor one rank of `parts` holds: the `dim` axis split evenly, or, for a
    packed tensor (q, k and v stacked in one weight), each of its `blocks` equal parts split."""
    dim: int
    blocks: int = 1

    def ranges(self, length: int, rank: int, parts: int) -> list[tuple[int, int]]:
        if length % (self.blocks * parts):
            raise ValueError(f"a dimension of {length} cannot be split into {parts} parts"
                             + (f" of each of its {self.blocks} blocks" if self.blocks > 1
                                else ""))
        block = length // self.blocks
        share = block // parts
        return [(b * block + rank * share, b * block + (rank + 1) * share)
                for b in range(self.blocks)]


@dataclass(frozen=True)
class TensorEntry:
    path: Path
    dtype: torch.dtype
    shape: tuple[int, ...]
    start: int                      # byte offset of the data in the file

    @property
    def row_bytes(self) -> int:
        """Bytes of one index along the first dimension."""
        count = 1
        for size in self.shape[1:]:
            count *= size
        return count * self.dtype.itemsize


def read_header(path: Path) -> dict[str, TensorEntry]:
    with open(path, "rb") as handle:
        (length,) = struct.unpack("<Q", handle.read(8))
        header = json.loads(handle.read(length))
    entries = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = DTYPES.get(info["dtype"])
        if dtype is None:
            raise ValueError(f"{path}: tensor {name} has dtype {info['dtype']}, which this "
                             "reader does not know")
        entries[name] = TensorEntry(path, dtype, tuple(info["shape"]),
                                    8 + length + info["data_offsets"][0])
    return entries


class SafetensorsFolder:
    """Every tensor of a checkpoint folder (one file, or shards with or without an index)."""

    def __init__(self, paths: list[Path]):
        self.entries: dict[str, TensorEntry] = {}
        for path in paths:
            self.entries.update(read_header(path))
        self._files: dict[Path, int] = {}

    def keys(self):
        return self.entries.keys()

    def shape(self, name: str) -> tuple[int, ...]:
        return self.entries[name].shape

    def _fd(self, path: Path) -> int:
        if path not in self._files:
            self._files[path] = os.open(path, os.O_RDONLY)
        return self._files[path]

    def _read_into(self, entry: TensorEntry, first: int, out: torch.Tensor) -> None:
        """Fill `out` (contiguous) with rows from `first` on of the first dimension."""
        if not out.numel():
            return
        view = memoryview(out.view(-1).view(torch.uint8).numpy())
        want, done = len(view), 0
        offset = entry.start + first * entry.row_bytes
        fd = self._fd(entry.path)
        while done < want:
            got = os.preadv(fd, [view[done:]], offset + done)
            if got <= 0:
                raise OSError(f"{entry.path}: file ends inside tensor data")
            done += got

    def read(self, name: str, slicing: Slicing | None = None, rank: int = 0,
             parts: int = 1) -> torch.Tensor:
        """The tensor, or the part of it rank `rank` of `parts` holds under `slicing`. The
        result is allocated once at its final size and read into directly, so loading leaves
        no freed buffers behind to fragment the heap and inflate the resident set."""
        entry = self.entries[name]
        if not entry.shape:
            out = torch.empty(1, dtype=entry.dtype)
            self._read_into(TensorEntry(entry.path, entry.dtype, (1,), entry.start), 0, out)
            return out.reshape(())
        if slicing is None or parts == 1:
            out = torch.empty(entry.shape, dtype=entry.dtype)
            self._read_into(entry, 0, out)
            return out
        ranges = slicing.ranges(entry.shape[slicing.dim], rank, parts)
        shape = list(entry.shape)
        shape[slicing.dim] = sum(b - a for a, b in ranges)
        out = torch.empty(shape, dtype=entry.dtype)
        if slicing.dim == 0:
            row = 0
            for a, b in ranges:
                self._read_into(entry, a, out[row:row + b - a])
                row += b - a
            return out
        # a second-dimension split: each row's own part, read straight into place (no
        # intermediate buffer whose freeing would fragment the heap)
        fd = self._fd(entry.path)
        inner = entry.row_bytes // entry.shape[1]          # bytes per index of dim 1
        target = memoryview(out.view(-1).view(torch.uint8).numpy())
        position = 0
        for row in range(entry.shape[0]):
            base = entry.start + row * entry.row_bytes
            for a, b in ranges:
                length = (b - a) * inner
                if os.preadv(fd, [target[position:position + length]], base + a * inner) \
                        != length:
                    raise OSError(f"{entry.path}: short read inside tensor {name}")
                position += length
        return out

    def close(self) -> None:
        for fd in self._files.values():
            os.close(fd)
        self._files.clear()
