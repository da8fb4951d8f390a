"""Where lmms-eval's Qwen2-VL images part from this harness's, pixel for pixel: the image
lmms-eval's `qwen2_vl` backend hands the processor (the `datasets` Image decoded, re-encoded
as a JPEG data URL at quality 85 by its `_encode_image_data_url`, then qwen-vl-utils'
`fetch_image`) against this harness's (the file decoded, resized by qwen-vl-utils' rule), on
the demo TextVQA images; and the same lmms-eval path without the JPEG step. Run in the
Python that has lmms-eval (it imports lmms-eval's encoder and qwen-vl-utils), with this
repository on PYTHONPATH:

    PYTHONPATH=$PWD <lmms-eval venv>/bin/python scripts/peer_lmms_eval_pixels.py \
        [--samples 128] [--min-pixels 3136] [--max-pixels 12544]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import datasets
import numpy as np
from PIL import Image
from lmms_eval.models.model_utils.media_encoder import encode_image_to_data_url
from qwen_vl_utils import fetch_image

from inference.media import load_image
from inference.models.qwen2_vl.processor import smart_size
from modeltest.demo_data import build_textvqa

FACTOR = 28   # Qwen2-VL's patch 14 x merge 2


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=128)
    parser.add_argument("--min-pixels", type=int, default=3136)
    parser.add_argument("--max-pixels", type=int, default=12544)
    args = parser.parse_args(argv)
    budget = {"min_pixels": args.min_pixels, "max_pixels": args.max_pixels}
    with tempfile.TemporaryDirectory() as scratch:
        build_textvqa(Path(scratch), count=args.samples)
        with_jpeg = without_jpeg = 0
        for path in sorted((Path(scratch) / "images").iterdir()):
            decoded = load_image(str(path))
            height, width = smart_size(decoded.height, decoded.width, FACTOR,
                                       args.min_pixels, args.max_pixels)
            ours = np.asarray(decoded.resize((width, height), Image.Resampling.BICUBIC))
            doc_image = datasets.Image().decode_example(
                {"bytes": path.read_bytes(), "path": None}).convert("RGB")
            url = encode_image_to_data_url(doc_image, image_format="JPEG",
                                           mime_type="image/jpeg", convert_rgb=True,
                                           quality=85)   # as lmms-eval's qwen2_vl calls it
            peer = np.asarray(fetch_image({"image": url, **budget}))
            plain = np.asarray(fetch_image({"image": doc_image, **budget}))
            with_jpeg += peer.shape == ours.shape and bool((peer == ours).all())
            without_jpeg += plain.shape == ours.shape and bool((plain == ours).all())
    print(f"{args.samples} images, {args.min_pixels}..{args.max_pixels} pixels: lmms-eval's "
          f"pixels equal this harness's on {with_jpeg}; without its JPEG step on "
          f"{without_jpeg}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
