"""Tiny datasets in the real on-disk formats, generated deterministically for the demo and
the tests: real PNG/JPEG images and real mp4 videos. Bump DEMO_DATA_VERSION when a builder
changes so cached copies are rebuilt."""
from __future__ import annotations

import json
import random
from pathlib import Path

from PIL import Image, ImageDraw

DEMO_DATA_VERSION = "1"

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


EASY_VQA_SPLITS = ("test", "train")
# VQA v2's official file names: v2_<task type>_<data type>_<split>_questions.json, ...
EASY_VQA_DATA_TYPE = "easyvqa"


def easy_vqa_files(folder: Path, split: str) -> dict[str, Path]:
    """Where build_easy_vqa puts a split's files (the paths conf/task/easy_vqa.yaml names)."""
    return {"question_file": folder / f"v2_OpenEnded_{EASY_VQA_DATA_TYPE}_{split}_questions.json",
            "annotation_file": folder / f"v2_{EASY_VQA_DATA_TYPE}_{split}_annotations.json",
            "image_dir": folder / split}


def build_easy_vqa(folder: Path) -> None:
    """easy-VQA (the `easy-vqa` package, MIT: 64x64 PNG images of one coloured shape each,
    13 answers) in the official VQA v2 layout, whole splits: test (9,673 questions, 1,000
    images) and train (38,575 questions, 4,000 images).

    easy-VQA gives one answer per question; VQA v2 has ten human answers per question, so the
    one answer fills all ten (as if ten annotators agreed). vqaEval.py then scores the right
    answer 1.0 (ten matches, every leave-one-out subset has at least three) and any other 0.
    The PNG files are copied byte for byte (named COCO_<split>_<image id>.png), so the model
    sees easy-VQA's own pixels; question ids are the question's index in easy-VQA's list."""
    import shutil

    try:
        import easy_vqa
    except ImportError:
        from modeltest.samples import DataError
        raise DataError("the easy_vqa demo data needs the easy-vqa package: "
                        "pip install -e '.[vision]' (or pip install easy-vqa)") from None
    readers = {"test": (easy_vqa.get_test_questions, easy_vqa.get_test_image_paths),
               "train": (easy_vqa.get_train_questions, easy_vqa.get_train_image_paths)}
    for split in EASY_VQA_SPLITS:
        read_questions, read_images = readers[split]
        files = easy_vqa_files(folder, split)
        files["image_dir"].mkdir(parents=True, exist_ok=True)
        for image_id, source in sorted(read_images().items()):
            shutil.copyfile(source, files["image_dir"] / f"COCO_{split}_{image_id:012d}.png")
        questions, annotations = [], []
        for qid, (question, answer, image_id) in enumerate(zip(*read_questions())):
            questions.append({"image_id": image_id, "question": question, "question_id": qid})
            annotations.append({
                "question_id": qid, "image_id": image_id,
                "answer_type": "yes/no" if answer in ("yes", "no") else "other",
                "question_type": " ".join(question.split()[:3]),
                "multiple_choice_answer": answer,
                "answers": [{"answer": answer, "answer_confidence": "yes", "answer_id": k + 1}
                            for k in range(10)]})
        common = {"info": {"description": "easy-VQA (pip package easy-vqa, MIT licence) in "
                                          "the VQA v2 format, built by modeltest"},
                  "license": {"name": "MIT"}, "data_type": EASY_VQA_DATA_TYPE,
                  "data_subtype": split}
        _write_json(files["question_file"],
                    {**common, "task_type": "Open-Ended", "questions": questions})
        _write_json(files["annotation_file"], {**common, "annotations": annotations})


# scikit-image's sample photographs (files shipped in its wheel, BSD licence): real photos
PHOTOS = ("astronaut.png", "camera.png", "chelsea.png", "coffee.png", "coins.png",
          "hubble_deep_field.jpg", "motorcycle_left.png", "rocket.jpg", "moon.png", "retina.jpg",
          "brick.png", "grass.png")


def build_photos(folder: Path) -> None:
    """Real photographs to caption: scikit-image's sample images, copied byte for byte from
    the installed package (nothing is downloaded)."""
    import shutil

    try:
        import skimage
    except ImportError:
        from modeltest.samples import DataError
        raise DataError("the photos demo data needs scikit-image: pip install -e '.[vision]' "
                        "(or pip install scikit-image)") from None
    source = Path(skimage.__file__).resolve().parent / "data"
    folder.mkdir(parents=True, exist_ok=True)
    for name in PHOTOS:
        shutil.copyfile(source / name, folder / name)


BUILDERS = {"textvqa": build_textvqa, "vqav2": build_vqav2, "videobench": build_videobench,
            "coco_caption": build_coco_caption, "easy_vqa": build_easy_vqa,
            "photos": build_photos}
