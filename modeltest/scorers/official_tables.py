"""Helpers the set-level aggregation hooks share: putting the per-subject tables in the
benchmark's own order."""
from __future__ import annotations

from typing import Iterable


def reorder(metrics: dict, order: Iterable[str]) -> None:
    """`metrics` in place: overall, then the subjects in `order`, then any others as they
    were."""
    entries = dict(metrics)
    metrics.clear()
    metrics["overall"] = entries.pop("overall")
    for name in order:
        if name in entries:
            metrics[name] = entries.pop(name)
    metrics.update(entries)


def record_field(record: dict, name: str):
    """A field the task keeps in its records (`task.record_fields`)."""
    return (record.get("fields") or {}).get(name)
