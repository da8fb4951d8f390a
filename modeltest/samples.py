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
    # how the benchmark reads the video (a span, a frame folder's rate, its reference frames);
    # None: the whole file by the model's own frame rule (inference.requests.VideoSpec)
    video_spec: dict[str, Any] | None = None
    image_markers: bool = False       # `<image k>` in the prompt marks where image k goes

    @property
    def media(self) -> list[str]:
        return [*self.images, *([self.video] if self.video else [])]


class DataError(ValueError):
    """Bad task data, reported with the file (and line or key) at fault."""
