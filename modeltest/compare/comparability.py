"""Whether two runs measured the same thing (task, prompt template, data files, sample set),
and what else differs between them (model settings, runtime, environment), listed first in
every report so that a difference in numbers can be traced to a difference in setup."""
from __future__ import annotations

from modeltest.compare.runs import RunFolder

# runtime settings worth naming when they differ (they may change numerics, not the data)
RUNTIME_KEYS = ("device", "tp", "dp", "batch_size", "logprobs")


def _short(value, width: int = 60) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= width else text[:width - 3] + "..."


def _file_content(entry: dict) -> dict:
    """A data file's or folder's identity without its path: the same content on two machines
    (or in two caches) is the same data."""
    return {k: v for k, v in entry.items() if k != "path"}


def mismatches(a: RunFolder, b: RunFolder) -> list[str]:
    """What makes the two runs measure different things; empty when comparable."""
    found = []
    if a.task != b.task:
        found.append(f"task {a.task} against {b.task}")
        return found
    if a.prompt_template() != b.prompt_template():
        found.append(f"prompt template {_short(a.prompt_template())} against "
                     f"{_short(b.prompt_template())}")
    data_a, data_b = a.identity.get("data") or {}, b.identity.get("data") or {}
    files_a, files_b = data_a.get("files") or {}, data_b.get("files") or {}
    for name in sorted(set(files_a) | set(files_b)):
        if name not in files_a or name not in files_b:
            found.append(f"data file {name} only in {'a' if name in files_a else 'b'}")
        elif _file_content(files_a[name]) != _file_content(files_b[name]):
            digest = lambda e: (e.get("sha256") or e.get("files_sha256") or "")[:12]  # noqa: E731
            found.append(f"data file {name} has other content ({digest(files_a[name])} against "
                         f"{digest(files_b[name])})")
    set_a, set_b = data_a.get("samples") or {}, data_b.get("samples") or {}
    if set_a != set_b:
        found.append(f"sample set of {set_a.get('count')} samples "
                     f"({str(set_a.get('sha256'))[:12]}, task.limit={data_a.get('limit')}) "
                     f"against {set_b.get('count')} ({str(set_b.get('sha256'))[:12]}, "
                     f"task.limit={data_b.get('limit')})")
    return found


def _flatten(value, prefix: str = "") -> dict:
    if isinstance(value, dict):
        flat = {}
        for key, inner in value.items():
            flat.update(_flatten(inner, f"{prefix}{key}."))
        return flat
    return {prefix[:-1]: value}


def _changed(prefix: str, a: dict, b: dict) -> list[str]:
    flat_a, flat_b = _flatten(a), _flatten(b)
    return [f"{prefix}{key}: {_short(flat_a.get(key))} -> {_short(flat_b.get(key))}"
            for key in sorted(set(flat_a) | set(flat_b)) if flat_a.get(key) != flat_b.get(key)]


def setup_differences(a: RunFolder, b: RunFolder) -> list[str]:
    """Model settings, runtime settings and environment manifest entries that differ
    ("key: a -> b"), in that order; the environment only when both runs recorded one."""
    found = _changed("model.", a.identity.get("model") or {}, b.identity.get("model") or {})
    if a.identity.get("max_new_tokens") != b.identity.get("max_new_tokens"):
        found.append(f"task.max_new_tokens: {a.identity.get('max_new_tokens')} -> "
                     f"{b.identity.get('max_new_tokens')}")
    runtime_a = {k: (a.config.get("runtime") or {}).get(k) for k in RUNTIME_KEYS}
    runtime_b = {k: (b.config.get("runtime") or {}).get(k) for k in RUNTIME_KEYS}
    found += _changed("runtime.", runtime_a, runtime_b)
    if a.environment is not None and b.environment is not None:
        found += _changed("environment.", a.environment, b.environment)
    return found
