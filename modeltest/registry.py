"""One way to register things chosen by name in the config: loaders (`task.format`), scorers
(`task.scorer`), submission writers, adapters (`model.adapter`) and runners (`runner.name`).

As lm-evaluation-harness does, an entry is either the object itself or a lazy `module:attr`
string imported on first use (so that choosing a runner does not import every model family).
A name that is not registered but has the `module:attr` form is imported too: a task's hook
module can name its own scorer or loader without editing any registry. An unknown name is a
one-line error listing the known ones.
"""
from __future__ import annotations

import importlib
from typing import Any, Iterable


class RegistryError(KeyError):
    """An unknown name (or a `module:attr` that cannot be imported); one line."""

    def __str__(self) -> str:
        return str(self.args[0])


def import_attribute(spec: str, key: str) -> Any:
    """`package.module:attr` imported; a RegistryError naming the config key otherwise."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise RegistryError(f"{key}={spec}: expected a registered name or 'module:attr'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise RegistryError(f"{key}={spec}: cannot import {module_name} ({err})") from None
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise RegistryError(f"{key}={spec}: {module_name} has no '{attribute}'") from None


class Registry:
    """Names to objects for one config key (e.g. `task.scorer`)."""

    def __init__(self, key: str, entries: dict[str, Any] | None = None):
        self.key = key
        self._entries: dict[str, Any] = dict(entries or {})

    def register(self, name: str, entry: Any = None):
        """`registry.register("name", obj)`, or as a decorator `@registry.register("name")`."""
        if entry is not None:
            self._entries[name] = entry
            return entry

        def decorate(obj):
            self._entries[name] = obj
            return obj
        return decorate

    def names(self) -> list[str]:
        return list(self._entries)

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterable[str]:
        return iter(self._entries)

    def __getitem__(self, name: str) -> Any:
        return self.get(name)

    def __setitem__(self, name: str, entry: Any) -> None:
        self._entries[name] = entry

    def get(self, name: str, default: Any = None, /) -> Any:
        """The entry for `name` (lazy entries imported once); RegistryError when unknown,
        unless a default is given (as a mapping's get)."""
        name = str(name)
        if default is not None and name not in self._entries and ":" not in name:
            return default
        if name in self._entries:
            entry = self._entries[name]
            if isinstance(entry, str):
                entry = import_attribute(entry, self.key)
                self._entries[name] = entry
            return entry
        if ":" in name:
            return import_attribute(name, self.key)
        raise RegistryError(f"{self.key}={name}: unknown (known: {', '.join(self._entries)}; "
                            "or a hook as 'module:attr')")
