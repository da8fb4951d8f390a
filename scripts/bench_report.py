"""What results/report.html costs on a big run: a synthetic TextVQA-format set of photo-like
JPEGs, rescored (runner=score, no model) with the page's pictures inlined as thumbnails and
with them linked (report.thumbnails=false); the time of each run and the size of each page.

    python scripts/bench_report.py --out bench_report.json [--samples 5000]
        [--questions-per-image 1] [--width 640] [--height 480] [--image-format jpg|png]
        [--folder <scratch dir>]

The images are smooth random colour fields with fine noise (they compress like photographs,
about 50 KB each at 640x480); the answers are right for 60% of the questions. Writes
{"samples", "images", "seconds_thumbnails", "seconds_linked", "thumbnail_seconds",
"page_bytes_thumbnails", "page_bytes_linked", ...} and prints a table.
"""
from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
from tabulate import tabulate

from runners.cli import main


def photo(rng: np.random.Generator, width: int, height: int) -> Image.Image:
    coarse = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    image = np.asarray(Image.fromarray(coarse).resize((width, height), Image.BICUBIC),
                       dtype=np.int16)
    image = image + rng.normal(0, 12, image.shape).astype(np.int16)
    return Image.fromarray(image.clip(0, 255).astype(np.uint8))


def build(folder: Path, samples: int, per_image: int, width: int, height: int,
          extension: str) -> int:
    """The set in the official TextVQA layout, and predictions for runner=score."""
    rng = np.random.default_rng(0)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    lines, annotations, predictions = [], [], []
    images = (samples + per_image - 1) // per_image
    for index in range(images):
        photo(rng, width, height).save(folder / "images" / f"{index:05d}.{extension}",
                                       quality=85)
    for qid in range(samples):
        answer = f"word{qid % 97}"
        lines.append({"image": f"images/{qid // per_image:05d}.{extension}", "question_id": qid,
                      "question": f"what is written on sign {qid}?", "answer": answer})
        annotations.append({"question_id": qid, "answers": [{"answer": answer}] * 10})
        predictions.append({"question_id": qid,
                            "prediction": answer if qid % 5 < 3 else f"other {qid}"})
    for name, rows in (("textvqa_val.jsonl", lines), ("predictions.jsonl", predictions)):
        (folder / name).write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "textvqa_val_annotations.json").write_text(json.dumps(
        {"annotations": annotations}))
    return images


def score(folder: Path, out: Path, thumbnails: bool) -> float:
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    code = main(["runner=score", "task=textvqa",
                 f"task.local_dataset_path={folder / 'textvqa_val.jsonl'}",
                 f"runner.predictions={folder / 'predictions.jsonl'}", f"output_dir={out}",
                 f"report.thumbnails={str(thumbnails).lower()}"])
    if code != 0:
        raise SystemExit(f"runner=score exited with {code}")
    return time.perf_counter() - start


def run(args) -> dict:
    folder = Path(args.folder or tempfile.mkdtemp(prefix="bench_report_"))
    start = time.perf_counter()
    shape = [args.samples, args.questions_per_image, args.width, args.height, args.image_format]
    made = folder / "data" / "shape.json"
    if made.exists() and json.loads(made.read_text()) == shape:   # a kept folder: reused
        images = len(list((folder / "data" / "images").iterdir()))
    else:
        images = build(folder / "data", *shape)
        made.write_text(json.dumps(shape))
    built = time.perf_counter() - start
    linked = score(folder / "data", folder / "linked", False)
    inlined = score(folder / "data", folder / "thumbnails", True)
    pages = {name: (folder / name / "results" / "report.html").stat().st_size
                      for name in ("thumbnails", "linked")}
    jpeg_bytes = sum(p.stat().st_size for p in (folder / "data" / "images").iterdir())
    result = {"samples": args.samples, "images": images,
              "image_size": [args.width, args.height], "image_format": args.image_format,
              "average_image_bytes": round(jpeg_bytes / images),
              "seconds_to_build_data": round(built, 2),
              "seconds_thumbnails": round(inlined, 2), "seconds_linked": round(linked, 2),
              "thumbnail_seconds": round(inlined - linked, 2),
              "page_bytes_thumbnails": pages["thumbnails"], "page_bytes_linked": pages["linked"],
              "folder": str(folder)}
    if not args.folder:
        shutil.rmtree(folder)
    return result


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--samples", type=int, default=5000)
    parser.add_argument("--questions-per-image", type=int, default=1)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--image-format", choices=("jpg", "png"), default="jpg")
    parser.add_argument("--folder", help="keep the data and runs here (default: a temporary "
                                         "folder, removed afterwards)")
    return parser.parse_args()


if __name__ == "__main__":
    arguments = parse()
    measured = run(arguments)
    Path(arguments.out).write_text(json.dumps(measured, indent=2) + "\n")
    print(tabulate([["runner=score, pictures linked", f"{measured['seconds_linked']:.1f}",
                     f"{measured['page_bytes_linked'] / 1e6:.2f}"],
                    ["runner=score, thumbnails inlined", f"{measured['seconds_thumbnails']:.1f}",
                     f"{measured['page_bytes_thumbnails'] / 1e6:.2f}"]],
                   headers=[f"{measured['samples']} samples, {measured['images']} images",
                            "seconds", "report.html MB"]))
