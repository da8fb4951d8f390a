"""The unit of evaluation that task loaders produce and scorers consume."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Sample:
    question_id: str | int
    subject: str
    prompt: str                       # user text, before any chat template
    images: list[str] = field(default_factory=list)
    video: str | None = None
    references: list[str] = field(default_factory=list)
    choices: dict[str, str] | None = None   # lettered options for multiple choice
    source: str = ""                  # "file:line", "file#key" or "file: row N"
    fields: dict[str, Any] = field(default_factory=dict)   # the document's other columns

    @property
    def media(self) -> list[str]:
        return [*self.images, *([self.video] if self.video else [])]


class DataError(ValueError):
    """Bad task data, reported with the file (and line or key) at fault."""
