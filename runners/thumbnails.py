"""The pictures of a report page (results/report.html, results/compare.html): each image, or a
video's first frame, downscaled to a small thumbnail inlined as a data: URI, so the page is one
file; with report.thumbnails=false, each file linked by its path relative to the page instead
(nothing decoded). Every picture also links to its file. A video that is a folder of frames
(a benchmark that ships TVQA clips as JPEG files) shows its first frame file, in either mode.

Runner-side because it decodes media with the runtime's helpers (inference/media.py: the same
size limit, EXIF orientation and 16-bit handling as the model's input); modeltest/ only
renders what it is given. A file that cannot be shown gets a `problem` on the page, never an
error of the run. Speed: a JPEG is decoded at a reduced scale (libjpeg's DCT scaling, via
PIL's draft mode), each distinct file once, on a few threads; a line at least every 5 s.
"""
from __future__ import annotations

import base64
import io
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

from PIL import Image, ImageOps, features

from modeltest.reports.html_page import Media

SIDE = 80                # pixels, the thumbnail's longest side
# WebP is about a third smaller than JPEG at this size; a Pillow built without it gets JPEG
FORMAT, MIME = ("WEBP", "image/webp") if features.check("webp") else ("JPEG", "image/jpeg")
QUALITY = 50
PROGRESS_SECONDS = 5.0


def relative_link(path: str, page_dir: Path) -> str:
    """The file as a URL relative to the page (the page and the media may move together)."""
    target = os.path.abspath(path)
    try:
        relative = os.path.relpath(target, os.path.abspath(page_dir))
    except ValueError:          # another drive: no relative path exists
        relative = target
    return quote(relative.replace(os.sep, "/"))


def first_frame(folder: str) -> str:
    """The first image file of a frame folder, in the order the runtime reads its frames."""
    from inference.video_reading import frame_files

    return frame_files(folder)[0]


def _linked(path: str, video: bool, page_dir: Path) -> Media:
    """The file by its relative path; a frame folder by its first frame (a browser cannot
    play a folder), or the folder itself with why when it holds none."""
    if video and os.path.isdir(path):
        try:
            return Media(relative_link(first_frame(path), page_dir))
        except Exception as err:
            return Media(relative_link(path, page_dir), video,
                         problem=" ".join(str(err).split())[:200])
    return Media(relative_link(path, page_dir), video)


def _picture(path: str, video: bool) -> Image.Image:
    from inference.media import (check_image_size, load_image, load_video_frames_at,
                                 require_regular_file)

    if video and os.path.isdir(path):
        return _picture(first_frame(path), False)
    if video:
        return Image.fromarray(load_video_frames_at(path, [0])[0])
    require_regular_file(path, "image")
    with Image.open(path) as image:
        check_image_size(image, path)        # over runtime.max_image_pixels: refused unread
        if image.format == "JPEG":
            # decoded at the smallest scale libjpeg offers (1/2, 1/4, 1/8) that still covers
            # the thumbnail: most of the cost of a big JPEG is never paid
            scale = SIDE / max(image.size)
            image.draft("RGB", (max(1, int(image.width * scale)),
                                max(1, int(image.height * scale))))
            return ImageOps.exif_transpose(image).convert("RGB")
    return load_image(path)


def thumbnail_uri(path: str, video: bool = False) -> str:
    picture = _picture(path, video)
    picture.thumbnail((SIDE, SIDE))
    buffer = io.BytesIO()
    picture.save(buffer, FORMAT, quality=QUALITY)
    return f"data:{MIME};base64," + base64.b64encode(buffer.getvalue()).decode()


def _media(path: str, video: bool, page_dir: Path) -> Media:
    link = relative_link(path, page_dir)
    try:
        return Media(link, video, thumbnail_uri(path, video))
    except Exception as err:     # a missing or broken file: said on the page, not fatal
        return Media(link, video, problem=" ".join(str(err).split())[:200])


def page_media(images: list[str], videos: list[str], page_dir: Path, report: dict,
               runtime: dict) -> dict[str, Media]:
    """{path: Media} for every distinct image and video the page shows."""
    wanted = {**{path: False for path in images}, **{path: True for path in videos}}
    if not report["thumbnails"]:
        return {path: _linked(path, video, page_dir) for path, video in wanted.items()}
    from inference.media import configure_limits

    configure_limits(runtime)
    found: dict[str, Media] = {}
    start = last = time.perf_counter()
    workers = max(1, min(8, os.cpu_count() or 1))
    with ThreadPoolExecutor(workers) as pool:
        jobs = pool.map(lambda item: (item[0], _media(item[0], item[1], page_dir)),
                        wanted.items())
        for path, media in jobs:
            found[path] = media
            if time.perf_counter() - last >= PROGRESS_SECONDS:
                last = time.perf_counter()
                print(f"report: {len(found)} of {len(wanted)} thumbnails "
                      f"({last - start:.0f} s)", flush=True)
    return found


def records_media(records: list[dict], page_dir: Path, cfg: dict) -> dict[str, Media]:
    """The pictures of the rows of a run's page (its first images, or its video)."""
    from modeltest.reports.run_page import MAX_PICTURES

    images = [path for r in records for path in (r.get("images") or [])[:MAX_PICTURES]]
    videos = [r["video"] for r in records if r.get("video")]
    return page_media(images, videos, page_dir, cfg["report"], cfg["runtime"])
