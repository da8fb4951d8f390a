"""Record the default prompt VLMEvalKit builds for DocVQA, InfoVQA, ChartQA, OCRBench, MME, POPE.

    python tests/golden/build/record_vlmevalkit_prompts.py <open-compass/VLMEvalKit checkout> \
        --python <interpreter that can import vlmeval> [--out tests/golden]

For each benchmark, generated rows in the column layout of VLMEvalKit's TSV for it (see
tests/golden/PROMPTS_AND_COLUMNS_B.md) are written to a TSV under a temporary `LMUData`
folder, the benchmark's own dataset class is built on it (`ImageVQADataset` for DocVQA,
InfoVQA and ChartQA, `OCRBench`, `ImageYORNDataset` for MME and POPE), and
`dataset.build_prompt(i)` is called for every row: that is the message list VLMEvalKit's
inference passes to a model that has no custom prompt for the dataset. The TSV is given a
dataset name with no md5 entry (`<NAME>_GOLDEN`), because the class would otherwise replace
a file whose md5 differs from the released one by downloading it; these classes' build_prompt
does not depend on the name (only AMBER is special-cased). Image paths in the messages are
recorded relative to the dataset's image folder. Nothing of VLMEvalKit is copied here.
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

QUESTIONS = [
    "What is the date mentioned in this letter?",
    "What is the total amount?  ",
    "Which year has the highest value?\n",
    "  How many bars are there in the chart?",
    "What is written in the image?",
    "图中的文字是什么？",
    "What is the name of the company\tshown at the top?",
    "Is the value of \"Sales\" greater than 50%?",
]
YORN_QUESTIONS = [
    "Is there a dog in this image? Please answer yes or no.",
    "Is there a cat in the image?",
    "Is the word in the logo \"angie's\"? Please answer yes or no.",
    "这张图片里有一只狗吗？请回答是或否。",
]


def tiny_png(width: int, height: int, shade: int) -> str:
    """Base64 of a grey PNG (written by hand, so the script needs no imaging library)."""
    raw = b"".join(b"\x00" + bytes([shade]) * width for _ in range(height))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    return base64.b64encode(png).decode("ascii")


def rows_for(benchmark: str) -> tuple[list[str], list[dict]]:
    """(columns, rows) in the layout of VLMEvalKit's TSV for the benchmark."""
    rows = []
    if benchmark in ("DocVQA_VAL", "InfoVQA_VAL"):
        columns = ["index", "image", "question", "answer"]
        for i, question in enumerate(QUESTIONS):
            rows.append({"index": i, "image": tiny_png(8 + i, 6, 40 * (i % 6)),
                         "question": question, "answer": repr(["1997", "in 1997"][: 1 + i % 2])})
    elif benchmark == "ChartQA_TEST":
        columns = ["index", "image", "question", "answer", "split"]
        for i, question in enumerate(QUESTIONS):
            rows.append({"index": i, "image": tiny_png(8, 6 + i, 30 * (i % 8)),
                         "question": question, "answer": str(12 + i),
                         "split": ("test_human", "test_augmented")[i % 2]})
    elif benchmark == "OCRBench":
        columns = ["index", "image", "question", "answer", "category"]
        categories = ["Regular Text Recognition", "Scene Text-centric VQA", "Doc-oriented VQA",
                      "Handwritten Mathematical Expression Recognition"]
        for i, question in enumerate(QUESTIONS):
            rows.append({"index": i, "image": tiny_png(9, 9, 20 * i), "question": question,
                         "answer": repr(["CENTRE"]), "category": categories[i % 4]})
    elif benchmark in ("MME", "POPE"):
        columns = ["index", "image", "question", "answer", "category"]
        if benchmark == "MME":
            columns.append("image_path")
        for i in range(8):
            image = i // 2
            row = {"index": i, "question": YORN_QUESTIONS[i % 4], "answer": ("Yes", "No")[i % 2],
                   # the second question of an image refers to the first row's image by index,
                   # as VLMEvalKit's TSVs do to save space
                   "image": tiny_png(7, 7, 50 * image) if i % 2 == 0 else str(i - 1)}
            if benchmark == "MME":
                row["category"] = ["existence", "OCR", "code_reasoning", "artwork"][image]
                row["image_path"] = f"{row['category']}/{image:04d}.jpg"
            else:
                row["category"] = ["adversarial", "popular", "random", "adversarial,popular"][image]
            rows.append(row)
    else:
        raise ValueError(benchmark)
    return columns, rows


DRIVER = r"""
import json, os, sys
import pandas as pd
jobs = json.load(open(sys.argv[1], encoding="utf-8"))
from vlmeval.dataset.image_vqa import ImageVQADataset, OCRBench
from vlmeval.dataset.image_yorn import ImageYORNDataset
classes = {"ImageVQADataset": ImageVQADataset, "OCRBench": OCRBench,
           "ImageYORNDataset": ImageYORNDataset}
root = os.environ["LMUData"]
results = {}
for job in jobs:
    name = job["name"]
    pd.DataFrame(job["rows"], columns=job["columns"]).to_csv(
        os.path.join(root, name + ".tsv"), sep="\t", index=False)
    dataset = classes[job["class"]](name)
    prompts = []
    for i in range(len(dataset)):
        messages = dataset.build_prompt(i)
        prompts.append([{"type": m["type"],
                         "value": os.path.relpath(m["value"], dataset.img_root)
                         if m["type"] == "image" else m["value"]} for m in messages])
    results[job["benchmark"]] = {"class": type(dataset).__name__, "prompts": prompts}
json.dump(results, open(sys.argv[2], "w", encoding="utf-8"), ensure_ascii=False)
"""
BENCHMARKS = {"DocVQA_VAL": ("docvqa", "ImageVQADataset"),
              "InfoVQA_VAL": ("infovqa", "ImageVQADataset"),
              "ChartQA_TEST": ("chartqa", "ImageVQADataset"),
              "OCRBench": ("ocrbench", "OCRBench"),
              "MME": ("mme", "ImageYORNDataset"),
              "POPE": ("pope", "ImageYORNDataset")}


def git_commit(path: Path) -> str | None:
    try:
        return subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], check=True,
                              capture_output=True, text=True).stdout.strip()
    except (subprocess.CalledProcessError, FileNotFoundError):
        return None


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkout", type=Path, help="an open-compass/VLMEvalKit checkout")
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--commit", default=None, help="the checkout's commit, if not a git tree")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent)
    args = parser.parse_args(argv)
    jobs = []
    for benchmark, (_, class_name) in BENCHMARKS.items():
        columns, rows = rows_for(benchmark)
        jobs.append({"benchmark": benchmark, "name": f"{benchmark}_GOLDEN", "class": class_name,
                     "columns": columns, "rows": rows})
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "jobs.json").write_text(json.dumps(jobs, ensure_ascii=False), encoding="utf-8")
        (Path(tmp) / "driver.py").write_text(DRIVER, encoding="utf-8")
        (Path(tmp) / "data").mkdir()
        env = dict(os.environ, LMUData=str(Path(tmp) / "data"),
                   PYTHONPATH=str(args.checkout.resolve()))
        subprocess.run([args.python, str(Path(tmp) / "driver.py"), str(Path(tmp) / "jobs.json"),
                        str(Path(tmp) / "out.json")], check=True, env=env, cwd=tmp,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        results = json.loads((Path(tmp) / "out.json").read_text(encoding="utf-8"))
    interpreter = subprocess.run([args.python, "--version"], capture_output=True,
                                 text=True).stdout.strip()
    commit = args.commit or git_commit(args.checkout)
    for job in jobs:
        benchmark = job["benchmark"]
        stem, _ = BENCHMARKS[benchmark]
        result = results[benchmark]
        data = {"source": {"repo": "open-compass/VLMEvalKit", "commit": commit,
                           "class": result["class"], "entry": "dataset.build_prompt(i)",
                           "interpreter": interpreter, "tsv": benchmark},
                "columns": job["columns"],
                "cases": [{"row": row, "messages": messages}
                          for row, messages in zip(job["rows"], result["prompts"])]}
        (args.out / f"{stem}_prompts.json").write_text(
            json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        print(f"{benchmark}: {len(data['cases'])} prompts ({result['class']})")


if __name__ == "__main__":
    main()
