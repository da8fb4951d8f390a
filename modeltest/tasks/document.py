"""What every data format gives: one Document per question, in the benchmark's own words.

A format (modeltest/tasks/formats/) only reads files: it maps its columns or JSON fields onto
a Document. Turning Documents into Samples (the prompt from the task's template, the subject
from `task.subject_field`) is the same for every format, so the same benchmark read from its
official JSON, a VLMEvalKit TSV or a `datasets` copy gives the same Samples.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Document:
    id: str | int                          # the question's id (TSV: `index`)
    question: str = ""
    images: list[str] = field(default_factory=list)    # file paths
    video: str | None = None
    answers: list[str] = field(default_factory=list)   # the references
    choices: dict[str, str] | None = None  # lettered options, in order
    fields: dict[str, Any] = field(default_factory=dict)   # every other column (hint, ...)
    source: str = ""                       # "file:line", "file#key" or "file:row"

    def field_value(self, name: str) -> Any:
        """A column by name: the named ones first, then the others."""
        if name in ("question", "id"):
            return getattr(self, name)
        return self.fields.get(name)
