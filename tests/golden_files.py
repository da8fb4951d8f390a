"""The rows recorded in tests/golden/*.json written back as the files users hold, so that tests
read them through the real loaders: VLMEvalKit TSVs as `vlmeval.smp.dump` writes them (pandas,
tab-separated), with a real PNG wherever the recording says "<png>" (each one distinct, so a
test can tell which image went where), and lmms-lab MMMU parquet splits."""
from __future__ import annotations

import base64
import hashlib
import io
import json
from pathlib import Path

from PIL import Image

GOLDEN = Path(__file__).parent / "golden"


def load(name: str) -> dict:
    return json.loads((GOLDEN / name).read_text(encoding="utf-8"))


def png(seed: int) -> bytes:
    """A small PNG whose bytes differ for every seed."""
    image = Image.new("RGB", (8 + seed % 5, 8), ((seed * 37) % 256, (seed * 91) % 256, seed % 256))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=_text_chunk(seed))
    return buffer.getvalue()


def _text_chunk(seed: int):
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("seed", str(seed))
    return info


def digest(path_or_bytes) -> str:
    data = path_or_bytes if isinstance(path_or_bytes, bytes) else Path(path_or_bytes).read_bytes()
    return hashlib.sha256(data).hexdigest()


def write_tsv(path: Path, rows: list[dict]) -> dict[tuple[int, int], bytes]:
    """The rows as a TSV; "<png>" cells (alone or in a list) become distinct PNGs. Returns
    {(row number, image position): PNG bytes}."""
    import pandas as pd

    images: dict[tuple[int, int], bytes] = {}
    columns: list[str] = []
    for row in rows:
        columns += [key for key in row if key not in columns]
    table = []
    for number, row in enumerate(rows):
        cells = dict(row)
        value = cells.get("image")
        if value == "<png>":
            images[(number, 0)] = png(number * 10)
            cells["image"] = base64.b64encode(images[(number, 0)]).decode()
        elif isinstance(value, str) and value.startswith("["):
            count = len(eval(value))   # a list of "<png>" placeholders
            encoded = []
            for k in range(count):
                images[(number, k)] = png(number * 10 + k)
                encoded.append(base64.b64encode(images[(number, k)]).decode())
            cells["image"] = repr(encoded)
        table.append([cells.get(c) for c in columns])
    pd.DataFrame(table, columns=columns).to_csv(path, sep="\t", index=False)
    return images


def write_predictions(path: Path, predictions: list[tuple[object, str | None]]) -> None:
    """`{"question_id", "prediction"}` lines, as another tool's answers would be given."""
    with open(path, "w", encoding="utf-8") as handle:
        for qid, prediction in predictions:
            handle.write(json.dumps({"question_id": qid, "prediction": prediction},
                                    ensure_ascii=False) + "\n")
