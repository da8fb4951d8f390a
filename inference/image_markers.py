"""Questions that say where each image goes: `<image k>` markers in a request's text.

A request with `image_markers` set carries `<image k>` where image k of its images (1-based)
goes, as MMMU writes its questions and VLMEvalKit's MMMU prompt (`MMMUDataset.split_MMMU`)
places them: an image marked twice is shown twice, an image never marked is not shown, and a
text with no marker at all shows every image in front of it.

`place` turns the text into pieces (text, or the position of an image in the placed list) and
the images in the order they are shown; each family then lays the pieces out as its own code
does for a question of several images (`ImageLayout`), and renders them with its own image
placeholder (`render`) or as chat-template content parts (`content_parts`). The layouts
follow VLMEvalKit's wrappers of each family (open-compass/VLMEvalKit e8e78f05, vlmeval/vlm/):
- `interleaved`: each image where its marker stands (Qwen2VLChat._prepare_content,
  DeepSeekVL.prepare_inputs, DeepSeekVL2.prepare_inputs);
- `numbered_in_front`: InternVL (internvl/utils.py reorganize_prompt): one image as
  "<image>\\n" before the texts joined by newlines; several as "Image-1: <image>\\nImage-2:
  <image>\\n..." in front, with "<Image-k>" written where image k stood (the run
  "<Image-1>...<Image-n>" of images that all stood together is dropped);
- `first_in_front`: a family that takes one image (BaseModel.message_to_promptimg, for models
  that cannot interleave): the first image shown, the texts joined by newlines.
"""
from __future__ import annotations

import re
from typing import Callable, Sequence

MARKER = re.compile(r"<image (\d+)>")

Piece = str | int          # text, or the position of an image in the placed list
ImageLayout = Callable[[list[Piece], list[str]], tuple[list[Piece], list[str]]]


def has_markers(text: str) -> bool:
    return MARKER.search(text) is not None


def place(text: str, images: Sequence[str]) -> tuple[list[Piece], list[str]]:
    """(pieces, the images in the order shown): "Is <image 3> like <image 3>?" with three
    images -> (["Is ", 0, " like ", 1, "?"], [image 3, image 3]). ValueError naming a marker
    that names no image."""
    pieces: list[Piece] = []
    shown: list[str] = []
    start = 0
    for match in MARKER.finditer(text):
        number = int(match.group(1))
        if not 1 <= number <= len(images):
            raise ValueError(f"the question marks {match.group(0)} but has "
                             f"{len(images)} image(s)")
        pieces.append(text[start:match.start()])
        pieces.append(len(shown))
        shown.append(images[number - 1])
        start = match.end()
    pieces.append(text[start:])
    return pieces, shown


def texts_of(pieces: Sequence[Piece]) -> list[str]:
    return [piece for piece in pieces if isinstance(piece, str)]


def _merged(pieces: list[Piece]) -> list[Piece]:
    """Adjacent texts joined, so that a layout's output is a plain alternation."""
    merged: list[Piece] = []
    for piece in pieces:
        if isinstance(piece, str) and merged and isinstance(merged[-1], str):
            merged[-1] += piece
        else:
            merged.append(piece)
    return merged


def interleaved(pieces: list[Piece], images: list[str]) -> tuple[list[Piece], list[str]]:
    return pieces, images


def numbered_in_front(pieces: list[Piece], images: list[str]
                      ) -> tuple[list[Piece], list[str]]:
    """VLMEvalKit's InternVL layout (reorganize_prompt), with `<image>` as an image piece."""
    count = len(images)
    if count == 1:
        return [0, "\n" + "\n".join(texts_of(pieces))], images
    text = "".join(piece if isinstance(piece, str) else f"<Image-{piece + 1}>"
                   for piece in pieces)
    text = text.replace("".join(f"<Image-{k + 1}>" for k in range(count)), "")
    front: list[Piece] = []
    for k in range(count):
        front += [f"Image-{k + 1}: ", k, "\n"]
    return _merged(front + [text]), images


def first_in_front(pieces: list[Piece], images: list[str]) -> tuple[list[Piece], list[str]]:
    """One image (the first shown) before the texts joined by newlines."""
    return [0, "\n".join(texts_of(pieces))], images[:1]


def render(pieces: Sequence[Piece], placeholder: str) -> str:
    """The pieces as one text, each image written as the family's placeholder."""
    return "".join(piece if isinstance(piece, str) else placeholder for piece in pieces)


def content_parts(pieces: Sequence[Piece], newline_after_image: bool = False) -> list[dict]:
    """Chat-template content parts in order. `newline_after_image`: the template writes a
    newline after each image itself, so one that follows an image in the text is dropped."""
    parts: list[dict] = []
    after_image = False
    for piece in pieces:
        if isinstance(piece, int):
            parts.append({"type": "image"})
            after_image = True
            continue
        if after_image and newline_after_image and piece.startswith("\n"):
            piece = piece[1:]
        after_image = False
        if piece:
            parts.append({"type": "text", "text": piece})
    return parts


def placed(text: str, images: Sequence[str], marked: bool, layout: ImageLayout
           ) -> tuple[list[Piece] | None, list[str]]:
    """(pieces, images shown) in the family's layout for a marked request (a text without
    marks has every image in front of it); (None, the images) for an unmarked one."""
    if not marked:
        return None, list(images)
    if has_markers(text):
        pieces, shown = place(text, images)
    else:
        pieces, shown = [*range(len(images)), text], list(images)
    return layout(pieces, shown)
