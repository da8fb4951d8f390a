"""Loading a model without ever holding more than it: the model is built with its parameters
on the meta device (no memory, no random initialisation), split for tensor parallelism while
still empty, and then each parameter is filled, one at a time, with only this rank's slice of
the checkpoint tensor, read straight into the target dtype and device.

Sources of tensors are (name, read) pairs, where `read(slicing, rank, parts)` returns the
rank's slice: from safetensors files by plain reads of just those bytes
(`checkpoint_entries`), or from tensors an original-layout converter yields one by one
(`memory_entries`).
"""
from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path
from typing import Callable, Iterable, Iterator

import torch
from torch import nn

from inference.safetensors_reader import SafetensorsFolder, Slicing
from inference.tensor_parallel import TPGroup, local_slice

log = logging.getLogger(__name__)

Read = Callable[[Slicing | None, int, int], torch.Tensor]
PROGRESS_SECONDS = 5.0


@contextlib.contextmanager
def default_dtype(dtype: torch.dtype):
    """Modules built inside (plain nn.Module trees, transformers models built from their
    config) get floating-point parameters of `dtype`."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


@contextlib.contextmanager
def parameters_on_meta():
    """Modules built inside get their parameters on the meta device; buffers stay real (the
    rotary tables and position ids modules compute when built are kept as they are)."""
    register = nn.Module.register_parameter

    def register_on_meta(module, name, param):
        if param is not None and not param.is_meta:
            param = nn.Parameter(param.to("meta"), requires_grad=param.requires_grad)
        register(module, name, param)

    nn.Module.register_parameter = register_on_meta
    try:
        yield
    finally:
        nn.Module.register_parameter = register


def checkpoint_entries(files: SafetensorsFolder,
                       rename: Callable[[str], str | None] = lambda key: key
                       ) -> Iterator[tuple[str, Read]]:
    """Every tensor of a safetensors checkpoint, under the model's name for it (`rename`
    returns None for a tensor the model does not use)."""
    for key in files.keys():
        name = rename(key)
        if name is not None:
            yield name, (lambda slicing, rank, parts, key=key:
                         files.read(key, slicing, rank, parts))


def memory_entries(tensors: Iterable[tuple[str, torch.Tensor]]) -> Iterator[tuple[str, Read]]:
    """Tensors already in memory (an original-layout converter's output, one at a time)."""
    for name, tensor in tensors:
        yield name, (lambda slicing, rank, parts, tensor=tensor:
                     local_slice(tensor, slicing, rank, parts))


def converted_entries(folder: Path, convert, direct: Callable[[str], str | None] = lambda k: None,
                      skip: tuple[str, ...] = ()) -> Iterator[tuple[str, Read]]:
    """Entries of an original-layout checkpoint. From safetensors, a tensor that `direct`
    names (a plain rename, e.g. a language model's linear layers) is read slice by slice as
    each rank needs it; any other is read whole and handed to `convert`, a generator of
    (model name, tensor) over (checkpoint key, tensor) pairs (splitting packed tensors,
    skipping or refusing names). Tensors under `skip` are never read. Other formats: every
    tensor through `convert`, one at a time."""
    from inference.checkpoint_files import iter_tensors

    files = safetensors_folder(folder)
    if files is None:
        yield from memory_entries(convert(
            (key, tensor) for key, tensor in iter_tensors(folder) if not key.startswith(skip)))
        return
    try:
        for key in list(files.keys()):
            if skip and key.startswith(skip):
                continue
            name = direct(key)
            if name is not None:
                yield name, (lambda slicing, rank, parts, key=key:
                             files.read(key, slicing, rank, parts))
            else:
                yield from memory_entries(convert([(key, files.read(key))]))
    finally:
        files.close()


def _owners(model: nn.Module) -> dict[str, list[tuple[nn.Module, str]]]:
    """Every place a parameter or buffer is held, by its full name; a tied parameter's
    places are listed under each of its names."""
    by_identity: dict[int, list[tuple[nn.Module, str]]] = {}
    names: dict[str, int] = {}
    for module_name, module in model.named_modules(remove_duplicate=False):
        for attr, tensor in list(module._parameters.items()) + list(module._buffers.items()):
            if tensor is None:
                continue
            full = f"{module_name}.{attr}" if module_name else attr
            by_identity.setdefault(id(tensor), []).append((module, attr))
            names[full] = id(tensor)
    return {name: by_identity[identity] for name, identity in names.items()}


def fill(model: nn.Module, entries: Iterable[tuple[str, Read]], device: str | torch.device,
         slicings: dict[str, Slicing] | None = None, tp: TPGroup | None = None,
         source: str = "checkpoint", progress: bool = True,
         check_empty: bool = True) -> list[str]:
    """Fill the model's meta parameters (and any buffer the checkpoint holds) from `entries`;
    returns the names of entries the model has no place for. Parameters keep the dtype they
    were built with. Raises when a parameter is left empty (unless `check_empty` is false:
    the caller then asks `empty_parameters` and words its own refusal)."""
    slicings = slicings or {}
    rank, parts = (tp.rank, tp.size) if tp else (0, 1)
    owners = _owners(model)
    unexpected: list[str] = []
    filled, loaded_bytes, last = 0, 0, time.perf_counter()
    for name, read in entries:
        places = owners.get(name)
        if places is None:
            unexpected.append(name)
            continue
        module, attr = places[0]
        current = getattr(module, attr)
        tensor = read(slicings.get(name), rank, parts)
        if tuple(tensor.shape) != tuple(current.shape):
            raise ValueError(f"{source}: {name} has shape {tuple(tensor.shape)} for this rank, "
                             f"the model expects {tuple(current.shape)}")
        tensor = tensor.to(device=device, dtype=current.dtype if current.is_floating_point()
                           else tensor.dtype)
        value = nn.Parameter(tensor, requires_grad=False) \
            if isinstance(current, nn.Parameter) else tensor
        for holder, holder_attr in places:
            if isinstance(value, nn.Parameter):
                holder._parameters[holder_attr] = value
            else:
                holder._buffers[holder_attr] = value
        filled += 1
        loaded_bytes += tensor.numel() * tensor.element_size()
        if progress and time.perf_counter() - last > PROGRESS_SECONDS:
            last = time.perf_counter()
            print(f"  loading weights: {filled} tensors, {loaded_bytes / 2**30:.1f} GiB on this "
                  "rank so far", flush=True)
    if not check_empty:
        return unexpected
    empty = empty_parameters(model)
    if empty:
        raise ValueError(f"{source}: no weights for {len(empty)} parameters of the model, e.g. "
                         f"{', '.join(empty[:5])}")
    return unexpected


def fill_original(model: nn.Module, entries: Iterable[tuple[str, Read]],
                  device: str | torch.device, source, refusal: str, *,
                  slicings: dict[str, Slicing] | None = None, tp_mesh=None,
                  error: type[Exception] = ValueError, may_stay_empty: tuple[str, ...] = (),
                  ignored: list[str] | None = None, ignored_note: str = "") -> nn.Module:
    """The end of every original-layout loader: fill the model, built empty (and split while
    empty: `slicings`), from `entries` with this rank's slices; refuse a checkpoint whose
    tensors and the model's parameters do not match, as one line "{source}: {refusal}
    (missing ..., unexpected ...)" raised as `error` (`may_stay_empty`: parameters that may
    stay unfilled, e.g. an output head tied to the token embedding); warn of the tensors
    the original builds but never uses (`ignored`, filled while the entries are read, named
    by `ignored_note`); move the buffers built on the host to the device."""
    tp = TPGroup.from_mesh(tp_mesh)
    unexpected = fill(model, entries, device, slicings, tp, source=str(source),
                      progress=tp is None or tp.rank == 0, check_empty=False)
    missing = [name for name in empty_parameters(model) if name not in may_stay_empty]
    if missing or unexpected:
        raise error(f"{source}: {refusal} (missing {missing[:5]}, unexpected {unexpected[:5]})")
    if ignored:
        log.warning("%s: %d tensors %s: %s", source, len(ignored), ignored_note,
                    ", ".join(sorted(ignored)))
    move_buffers(model, device)
    model.loaded_sharded = True
    return model


def empty_parameters(model: nn.Module) -> list[str]:
    """Names of the parameters (and buffers) still on the meta device."""
    return [name for name, places in _owners(model).items() if getattr(*places[0]).is_meta]


def move_buffers(model: nn.Module, device: str | torch.device) -> None:
    """Buffers built on the host (rotary tables, position ids) to the device."""
    for module in model.modules():
        for attr, buffer in module._buffers.items():
            if buffer is not None and buffer.device != torch.device(device):
                module._buffers[attr] = buffer.to(device)


def transformers_renamer(model: nn.Module) -> Callable[[str], str | None]:
    """Checkpoint key -> the model's parameter name, by transformers' own conversion rules for
    the model (legacy hub layouts such as Qwen2-VL's `model.layers.*`/`visual.*`). A key that
    needs a tensor conversion (merging or splitting tensors) is refused by name."""
    from transformers.conversion_mapping import get_model_conversion_mapping
    from transformers.core_model_loading import WeightConverter, rename_source_key

    transforms = get_model_conversion_mapping(model)
    renamings = [t for t in transforms if not isinstance(t, WeightConverter)]
    converters = [t for t in transforms if isinstance(t, WeightConverter)]
    expected = dict(model.state_dict(keep_vars=True))
    prefix = getattr(model, "base_model_prefix", None)

    def rename(key: str) -> str | None:
        name, converted = rename_source_key(key, renamings, converters, prefix, expected)
        if converted is not None:
            raise ValueError(f"checkpoint tensor {key} needs transformers' weight conversion "
                             f"({converted}), which sharded loading does not do")
        return name

    return rename


def safetensors_folder(folder: Path) -> SafetensorsFolder | None:
    """The folder's safetensors files, or None when the checkpoint is in .bin files."""
    from inference.checkpoint_files import weight_files

    files = weight_files(folder)
    if all(path.suffix == ".safetensors" for path in files):
        return SafetensorsFolder(files)
    return None


def load_transformers_model(folder: Path, auto_class, dtype: torch.dtype,
                            device: str | torch.device, tp_mesh=None, trust: bool = False):
    """A checkpoint in transformers' layout, built empty and filled with this rank's slices
    (split by `inference.tensor_parallel.default_plan` when tp > 1)."""
    from transformers import AutoConfig, GenerationConfig

    from inference.tensor_parallel import shard_model

    files = safetensors_folder(folder)
    if files is None:       # .bin checkpoints: transformers' loader, then split in memory
        model = auto_class.from_pretrained(folder, dtype=dtype, trust_remote_code=trust)
        shard_model(model, tp_mesh)
        return model.to(device)
    config = AutoConfig.from_pretrained(folder, trust_remote_code=trust)
    with parameters_on_meta():
        model = auto_class.from_config(config, dtype=dtype, trust_remote_code=trust)
    generation = folder / "generation_config.json"
    if generation.is_file():
        model.generation_config = GenerationConfig.from_pretrained(folder)
    rename = transformers_renamer(model)
    slicings = shard_model(model, tp_mesh)
    tp = TPGroup.from_mesh(tp_mesh)
    try:
        unexpected = fill(model, checkpoint_entries(files, rename), device, slicings, tp,
                          source=str(folder), progress=tp is None or tp.rank == 0)
    finally:
        files.close()
    if unexpected:
        raise ValueError(f"{folder}: {len(unexpected)} checkpoint tensors have no place in "
                         f"{type(model).__name__}, e.g. {', '.join(unexpected[:5])}")
    move_buffers(model, device)
    return model.eval()
