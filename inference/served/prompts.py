"""What a served request carries: media as data URLs (or file URLs), the chat messages the
embedded runtime builds, and, for text-in APIs, the prompt rendered with the checkpoint's own
chat template (the same call the embedded runtime makes)."""
from __future__ import annotations

import base64
import mimetypes
from dataclasses import dataclass, field
from pathlib import Path

from inference.media import MediaError, open_image_header

MIME = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp",
        ".gif": "image/gif", ".bmp": "image/bmp", ".mp4": "video/mp4", ".avi": "video/x-msvideo",
        ".webm": "video/webm", ".mkv": "video/x-matroska", ".mov": "video/quicktime"}


def media_url(path: str, mode: str = "base64") -> str:
    """`data:<mime>;base64,...` (the server needs no access to our disk) or `file://<abs>`."""
    file = Path(path)
    if not file.is_file():
        kind = "video" if MIME.get(file.suffix.lower(), "").startswith("video/") else "image"
        raise MediaError(f"{kind} not found: {path}")
    mime = MIME.get(file.suffix.lower()) or mimetypes.guess_type(file.name)[0] \
        or "application/octet-stream"
    if mime.startswith("image/"):
        open_image_header(path)      # runtime.max_image_pixels, before the server decodes it
    if mode == "file":
        return file.resolve().as_uri()
    return f"data:{mime};base64,{base64.b64encode(file.read_bytes()).decode('ascii')}"


def base64_of(url: str) -> str:
    return url.split(",", 1)[1] if url.startswith("data:") else url


@dataclass
class ServedCall:
    """One request, ready to send: its parts, and its rendered prompt for text-in APIs."""
    request_id: str
    text: str                               # user text, before any template
    images: list[str] = field(default_factory=list)    # URLs (data: or file:)
    video: str | None = None                # URL
    prompt: str | None = None               # rendered with the checkpoint's template
    image_placeholder: str | None = None    # what the template writes for one image


def content_parts(call: ServedCall) -> list[dict]:
    """The user turn as OpenAI content parts, in the embedded runtime's order: images, the
    video, then the text."""
    parts: list[dict] = [{"type": "image_url", "image_url": {"url": url}} for url in call.images]
    if call.video:
        parts.append({"type": "video_url", "video_url": {"url": call.video}})
    parts.append({"type": "text", "text": call.text})
    return parts


class TemplateRenderer:
    """Renders a user turn with the checkpoint's chat template, exactly as
    ImageTextAdapter.build_inputs does (add_generation_prompt, no system message added)."""

    def __init__(self, model_path: str, trust_remote_code: bool = False):
        from transformers import AutoProcessor, AutoTokenizer

        try:
            self.processor = AutoProcessor.from_pretrained(model_path,
                                                           trust_remote_code=trust_remote_code)
        except Exception:
            self.processor = AutoTokenizer.from_pretrained(model_path,
                                                           trust_remote_code=trust_remote_code)
        probe = "\x00probe\x00"
        with_image = self.render(probe, images=1)
        without = self.render(probe, images=0)
        self.image_placeholder = _inserted(without, with_image)

    def render(self, text: str, images: int = 0, video: bool = False) -> str:
        content = [{"type": "image"} for _ in range(images)]
        if video:
            content.append({"type": "video"})
        content.append({"type": "text", "text": text})
        return self.processor.apply_chat_template([{"role": "user", "content": content}],
                                                  add_generation_prompt=True, tokenize=False)


def _inserted(shorter: str, longer: str) -> str | None:
    """The text `longer` has that `shorter` lacks, when it is one inserted run."""
    start = 0
    while start < len(shorter) and shorter[start] == longer[start]:
        start += 1
    end = 0
    while end < len(shorter) - start and shorter[-1 - end] == longer[-1 - end]:
        end += 1
    inserted = longer[start:len(longer) - end]
    return inserted if shorter[:start] + inserted + shorter[len(shorter) - end:] == longer \
        and inserted else None
