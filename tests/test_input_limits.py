"""Input limits (issue 20, item 5): a sample whose input exceeds the model's context, or whose
image decodes to more than runtime.max_image_pixels, is that sample's error, named, found
before anything is decoded or allocated; the other samples are answered."""
from __future__ import annotations

import json
import struct
import time
import zlib
from pathlib import Path

from runners.cli import main

FIXTURE = Path(__file__).parent / "fixtures" / "qwen2_vl"
IMAGE = str(FIXTURE / "img_350x238.png")


def _png_header_only(path: Path, width: int, height: int) -> None:
    """A PNG whose header says width x height (a media bomb's header); its pixel data is a
    few bytes, so anything that decodes it first would allocate width x height x 3."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + \
            struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                     + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


def _dataset(folder: Path, rows: list[tuple[str, str]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / "textvqa_val.jsonl"
    data.write_text("".join(json.dumps({"image": image, "question": question,
                                        "question_id": f"q{i}", "answer": "x"}) + "\n"
                            for i, (image, question) in enumerate(rows)))
    (folder / "textvqa_val_annotations.json").write_text(json.dumps({"annotations": [
        {"question_id": f"q{i}", "answers": [{"answer": "x"}] * 10}
        for i in range(len(rows))]}))
    return data


def _records(out: Path) -> dict[str, dict]:
    lines = (out / "debug" / "samples.jsonl").read_text().splitlines()
    return {r["question_id"]: r for r in map(json.loads, lines)}


def _run(data: Path, out: Path, *extra: str) -> int:
    return main(["model=demo_qwen2_vl", "task=textvqa", f"task.local_dataset_path={data}",
                 "task.prompt_template='{question}'", "runtime.max_error_rate=0.5",
                 "runtime.batch_size=4", f"output_dir={out}", *extra])


def test_an_input_beyond_the_context_is_that_samples_error(tmp_path):
    long_question = "what is written on the sign " * 20000     # ~140,000 tokens; context 4096
    data = _dataset(tmp_path / "data", [(IMAGE, "What is this?"), (IMAGE, long_question),
                                        (IMAGE, "What color?"), (IMAGE, "How many?")])
    started = time.monotonic()
    assert _run(data, tmp_path / "out") == 0
    assert time.monotonic() - started < 120       # no 40 GB attempt, no frozen bar
    records = _records(tmp_path / "out")
    error = records["q1"]["error"]
    assert "over the model's context of 4096 positions" in error and records["q1"]["prediction"] is None
    assert all(records[q]["error"] is None for q in ("q0", "q2", "q3"))


def test_an_image_bomb_is_refused_from_its_header(tmp_path):
    bomb = tmp_path / "bomb.png"
    _png_header_only(bomb, 13000, 13000)           # 169 megapixels, a few hundred bytes
    data = _dataset(tmp_path / "data", [(IMAGE, "What is this?"), (str(bomb), "And this?"),
                                        (IMAGE, "What color?"), (IMAGE, "How many?")])
    assert _run(data, tmp_path / "out") == 0
    records = _records(tmp_path / "out")
    assert "13000x13000 = 169000000 pixels" in records["q1"]["error"]
    assert "runtime.max_image_pixels=100000000" in records["q1"]["error"]
    assert all(records[q]["error"] is None for q in ("q0", "q2", "q3"))


def test_the_image_limit_is_a_setting(tmp_path):
    data = _dataset(tmp_path / "data", [(IMAGE, "What is this?"), (IMAGE, "And this?")])
    assert _run(data, tmp_path / "out", "runtime.max_image_pixels=10000",
                "runtime.max_error_rate=1.0") == 0
    records = _records(tmp_path / "out")
    assert all("350x238 = 83300 pixels" in r["error"] for r in records.values())
