"""Tiny datasets in the real on-disk formats, generated deterministically for the demo and
the tests: real PNG/JPEG images and real mp4 videos. TextVQA and VQA v2 also come as the
copies users of other harnesses hold: VLMEvalKit's TSV (images as base64 of the same file
bytes) and lmms-lab's `datasets` parquet layout (images as the Image feature's bytes), so the
three copies of one set hold the same questions, answers and image bytes. A task names its
builder (`task.demo_builder`); runners/demo.py rebuilds cached copies when this module's
source changes."""
from __future__ import annotations

import base64
import json
import random
from pathlib import Path

from PIL import Image, ImageDraw

COLORS = {"red": (220, 40, 40), "blue": (40, 60, 220), "green": (40, 170, 60),
          "yellow": (230, 210, 40), "black": (20, 20, 20), "white": (245, 245, 245)}
WORDS = ["stop", "open", "bus", "exit", "cafe", "taxi", "hotel", "bank", "park", "sale",
         "1984", "no. 5"]


def _picture(seed: int, size=(96, 72)) -> tuple[Image.Image, str, str]:
    """A sign of some colour with a word on it; returns (image, colour name, word)."""
    rng = random.Random(seed)
    color = rng.choice(sorted(COLORS))
    word = WORDS[seed % len(WORDS)]
    image = Image.new("RGB", size, (rng.randrange(80, 200),) * 3)
    draw = ImageDraw.Draw(image)
    x0, y0 = rng.randrange(4, 20), rng.randrange(4, 16)
    draw.rectangle([x0, y0, x0 + 60, y0 + 36], fill=COLORS[color])
    draw.text((x0 + 6, y0 + 12), word, fill=(255, 255, 255) if color != "white" else (0, 0, 0))
    return image, color, word


def _ten_answers(main: str, alternatives: list[str], seed: int) -> list[str]:
    rng = random.Random(seed)
    return [main if rng.random() < 0.7 else rng.choice(alternatives) for _ in range(10)]


def _write_json(path: Path, data) -> None:
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False), encoding="utf-8")


def build_textvqa(folder: Path, count: int = 12) -> None:
    (folder / "images").mkdir(parents=True, exist_ok=True)
    lines, annotations = [], []
    for i in range(count):
        image, color, word = _picture(100 + i)
        name = f"images/train_{i:04d}.{'png' if i % 2 else 'jpg'}"
        image.save(folder / name)
        qid = 34602 + i
        question, answer = (("what is written on the sign?", word) if i % 3 else
                            ("what color is the sign?", color))
        lines.append({"image": name, "question": question, "question_id": qid,
                      "answer": answer})
        answers = _ten_answers(answer, [answer.upper(), f"the {answer}", "unanswerable"], i)
        annotations.append({"question_id": qid, "answers": [{"answer": a} for a in answers]})
    with open(folder / "textvqa_val.jsonl", "w", encoding="utf-8") as handle:
        for line in lines:
            handle.write(json.dumps(line) + "\n")
    _write_json(folder / "textvqa_val_annotations.json", {"annotations": annotations})
    answers = {a["question_id"]: [x["answer"] for x in a["answers"]] for a in annotations}
    images = [(folder / line["image"]).read_bytes() for line in lines]
    _write_tsv(folder / "TextVQA_VAL.tsv", ["index", "image", "question", "answer"],
               [[line["question_id"], _base64(data), line["question"],
                 repr(answers[line["question_id"]])] for line, data in zip(lines, images)])
    write_copies_manifest(folder, {"vlmevalkit_tsv": "TextVQA_VAL.tsv", "hf": "lmms-lab"})
    _write_parquet(folder / "lmms-lab" / "data" / "validation-00000-of-00001.parquet", {
        "image_id": [Path(line["image"]).stem for line in lines],
        "question_id": [line["question_id"] for line in lines],
        "question": [line["question"] for line in lines],
        "image": [{"bytes": data, "path": Path(line["image"]).name}
                  for line, data in zip(lines, images)],
        "answers": [answers[line["question_id"]] for line in lines],
        "set_name": ["val"] * len(lines)})


COPIES_MANIFEST = "copies.json"


def write_copies_manifest(folder: Path, copies: dict[str, str]) -> None:
    """copies.json: {format: path relative to the folder} of the other copies of this demo set
    (besides the one the task's yaml points at), for tests that run every copy."""
    _write_json(folder / COPIES_MANIFEST, copies)


def _base64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _write_tsv(path: Path, columns: list[str], rows: list[list]) -> None:
    """As VLMEvalKit writes its files (pandas, tab-separated, no index column)."""
    import pandas as pd

    pd.DataFrame(rows, columns=columns).to_csv(path, sep="\t", index=False)


def _write_parquet(path: Path, columns: dict) -> None:
    """As `datasets` writes a split (push_to_hub's parquet shards): images as the Image
    feature, i.e. {bytes, path} structs."""
    import datasets

    datasets.disable_progress_bars()
    path.parent.mkdir(parents=True, exist_ok=True)
    table = datasets.Dataset.from_dict(columns).cast_column("image", datasets.Image())
    table.to_parquet(str(path))


def build_vqav2(folder: Path, count: int = 12, split: str = "val2014") -> None:
    image_dir = folder / split
    image_dir.mkdir(parents=True, exist_ok=True)
    questions, annotations = [], []
    for i in range(count):
        image_id = 262148 + 7 * i
        image, color, word = _picture(200 + i, size=(80, 80))
        image.save(image_dir / f"COCO_{split}_{image_id:012d}.jpg", quality=90)
        qid = image_id * 1000 + i
        kind = ("yes/no", "number", "other")[i % 3]
        if kind == "yes/no":
            question, answer, alts = f"is the sign {color}?", "yes", ["no"]
        elif kind == "number":
            question, answer, alts = "how many signs are there?", "1", ["one", "2"]
        else:
            question, answer, alts = "what color is the sign?", color, ["dark " + color]
        answers = _ten_answers(answer, alts, i)
        questions.append({"image_id": image_id, "question": question, "question_id": qid})
        annotations.append({
            "question_id": qid, "image_id": image_id, "answer_type": kind,
            "question_type": question.split()[0] + " " + question.split()[1],
            "multiple_choice_answer": answer,
            "answers": [{"answer": a, "answer_confidence": "yes", "answer_id": k + 1}
                        for k, a in enumerate(answers)]})
    common = {"info": {"description": "modeltest demo"}, "license": {"name": "demo"},
              "data_type": "mscoco", "data_subtype": split}
    _write_json(folder / f"v2_OpenEnded_mscoco_{split}_questions.json",
                {**common, "task_type": "Open-Ended", "questions": questions})
    _write_json(folder / f"v2_mscoco_{split}_annotations.json",
                {**common, "annotations": annotations})
    images = [(image_dir / f"COCO_{split}_{q['image_id']:012d}.jpg").read_bytes()
              for q in questions]
    _write_tsv(folder / "VQAv2_VAL.tsv",
               ["index", "image", "question", "answer", "answer_type", "question_type"],
               [[q["question_id"], _base64(data), q["question"],
                 repr([x["answer"] for x in a["answers"]]), a["answer_type"], a["question_type"]]
                for q, a, data in zip(questions, annotations, images)])
    write_copies_manifest(folder, {"vlmevalkit_tsv": "VQAv2_VAL.tsv", "hf": "lmms-lab"})
    _write_parquet(folder / "lmms-lab" / "data" / "validation-00000-of-00001.parquet", {
        "question_type": [a["question_type"] for a in annotations],
        "multiple_choice_answer": [a["multiple_choice_answer"] for a in annotations],
        "answers": [a["answers"] for a in annotations],
        "image_id": [q["image_id"] for q in questions],
        "answer_type": [a["answer_type"] for a in annotations],
        "question_id": [q["question_id"] for q in questions],
        "question": [q["question"] for q in questions],
        "image": [{"bytes": data, "path": f"COCO_{split}_{q['image_id']:012d}.jpg"}
                  for q, data in zip(questions, images)]})


def write_video(path: Path, seed: int, seconds: int = 8, fps: int = 4, size: int = 64) -> None:
    """A moving square on a coloured background, encoded as H.264 (or MPEG-4) mp4."""
    import av
    import numpy as np

    rng = random.Random(seed)
    background = np.array(COLORS[rng.choice(sorted(COLORS))], dtype=np.uint8)
    with av.open(str(path), "w") as container:
        try:
            stream = container.add_stream("libx264", rate=fps)
        except Exception:  # an av build without x264
            stream = container.add_stream("mpeg4", rate=fps)
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        for index in range(seconds * fps):
            frame = np.empty((size, size, 3), dtype=np.uint8)
            frame[:] = background
            x = (index * 3) % (size - 16)
            frame[20:36, x:x + 16] = 255 - background
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


VIDEOBENCH_SUBSETS = ["MSVD", "TGIF", "TVQA", "SQA3D"]


def build_videobench(folder: Path, per_subset: int = 3) -> None:
    eval_qa = folder / "Eval_QA"
    (eval_qa / "answer").mkdir(parents=True, exist_ok=True)
    answers: dict[str, dict] = {}
    for s_index, subset in enumerate(VIDEOBENCH_SUBSETS):
        video_dir = folder / "Eval_video" / subset
        video_dir.mkdir(parents=True, exist_ok=True)
        qa, answers[subset] = {}, {}
        for i in range(per_subset):
            seed = 10 * s_index + i
            name = f"{subset.lower()}_{i:03d}.mp4"
            write_video(video_dir / name, seed)
            rng = random.Random(seed)
            truth = "a square moving right"
            options = [truth] + rng.sample(["a dog running", "a red car", "people talking",
                                            "a man cooking", "rain falling"],
                                           k=3 if i % 2 else 2)
            rng.shuffle(options)
            choices = {chr(65 + k): text for k, text in enumerate(options)}
            qid = f"{subset}_{i}"
            qa[qid] = {"vid_path": f"./Eval_video/{subset}/{name}", "video_id": name[:-4],
                       "question": "What happens in the video?", "choices": choices}
            answers[subset][qid] = {"answer": chr(65 + options.index(truth))}
        _write_json(eval_qa / f"{subset}_QA_new.json", qa)
    _write_json(eval_qa / "answer" / "ANSWER.json", answers)


def build_coco_caption(folder: Path, count: int = 6) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        image, _, _ = _picture(300 + i, size=(96, 96))
        image.save(folder / f"COCO_val2014_{i:012d}.jpg", quality=90)
