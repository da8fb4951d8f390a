"""Record the prompts and frame indices VLMEvalKit and lmms-eval build for Video-MME and MVBench.

    python tests/golden/build/record_video_prompts.py \
        --vlmevalkit <open-compass/VLMEvalKit checkout> --lmms-eval <EvolvingLMMs-Lab/lmms-eval
        checkout> --videomme <BradyFU/Video-MME checkout> [--out tests/golden] [--commits ...]

Writes the "videomme" README part, the "vlmevalkit" and the "lmms_eval" parts of
tests/golden/videomme_prompts.json and the "vlmevalkit" and "lmms_eval" parts of
tests/golden/mvbench_prompts.json (record_mvbench_goldens.py writes MVBench's "official"
part). The code is run unmodified, through its own functions:
- VLMEvalKit: `VideoMME.build_prompt` / `save_video_frames` and `MVBench.build_prompt` /
  `qa_template` / `get_index`, on generated TSV rows (the columns its `generate_tsv` writes)
  and generated videos. The instances are made without their constructors, whose
  `prepare_dataset` downloads the data set and checks the TSV's MD5: the attributes the
  constructors set are given the values they set (nframe, fps, frame_root, data_root, and for
  MVBench the reader table, 3 fps for frame folders and its Stack + ToTorchFormatTensor
  transform). `LMUData` points at a temporary folder (frames are written there).
- lmms-eval: `lmms_eval/tasks/videomme/utils.py` and `lmms_eval/tasks/mvbench/utils.py`,
  loaded from their files, `videomme_doc_to_text` and `mvbench_doc_to_text` with the
  `lmms_eval_specific_kwargs` of the task yamls (read as those utils read yamls: lines with
  "!function" dropped).
- Video-MME's README: the prompt block under "Prompt" and its two examples, verbatim.
Nothing of the official code is copied: this file writes inputs and reads outputs.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import re
import sys
import tempfile
from pathlib import Path

VIDEOMME_DOCS = [
    {"question": "What is the color of the clothing worn by the persons in the video?",
     "options": ["A. Black.", "B. Gray.", "C. Green.", "D. Brown."], "answer": "C"},
    {"question": "How many red socks are above the fireplace at the end of this video?",
     "options": ["A. 1.", "B. 4.", "C. 2.", "D. 3."], "answer": "D"},
    {"question": "Which of the following features/items is not discussed in the video in "
                 "relation to the tomb?\n", "options": ["A. Inkstone.", "B. Niche.",
                                                         "C. Jade.", "D. Sacrificial table."],
     "answer": "C"},
    {"question": "视频中的人在做什么？",
     "options": ["A. 跑步。", "B. 游泳", "C. 读书", "D. 唱歌"],
     "answer": "A"},
]
MVBENCH_DOCS = [
    {"question": "What is the action performed by the person in the video?",
     "candidates": ["Not sure", "Scattering something down", "Piling something up"],
     "answer": "Piling something up"},
    {"question": "Which object was moved first?", "candidates": ["the cup.", "the box",
                                                                "the book", "the phone"],
     "answer": "the box"},
    {"question": "Is the cube moving left? ", "candidates": ["yes", "no"], "answer": "no"},
    {"question": "What happened after the person took the food?",
     "candidates": ["Ate the medicine.", "Tidied up the blanket.", "Put down the cup/glass/bottle.",
                    "Took the box.", "(E) trick"], "answer": "Took the box."},
]
FRAME_COUNTS = [1, 2, 7, 8, 9, 16, 17, 30, 63, 64, 65, 100, 241, 300]


def git_commit(path: Path) -> str | None:
    import subprocess
    result = subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True,
                            text=True)
    return result.stdout.strip() or None


def write_video(path: Path, frames: int, fps: float) -> None:
    import cv2
    import numpy as np
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (32, 32))
    for i in range(frames):
        writer.write(np.full((32, 32, 3), (i * 7) % 256, np.uint8))
    writer.release()


def load_file_module(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def yaml_kwargs(path: Path) -> dict:
    import yaml
    text = "".join(line for line in path.read_text().splitlines(keepends=True)
                   if "!function" not in line)
    return yaml.safe_load(text)["lmms_eval_specific_kwargs"]


def readme_prompts(checkout: Path) -> dict:
    readme = (checkout / "README.md").read_text(encoding="utf-8")
    section = readme.split("**Prompt**", 1)[1].split("**Evaluation**", 1)[0]
    blocks = re.findall(r"```\n(.*?)```", section, re.S)
    with_subs, without = (re.search(r"\* With subtitles:\s*```\n(.*?)```", section, re.S),
                          re.search(r"\* Without subtitles:\s*```\n(.*?)```", section, re.S))
    return {"template": blocks[0], "example_with_subtitles": with_subs.group(1),
            "example_without_subtitles": without.group(1)}


def message_json(message: list[dict], root: str) -> list[dict]:
    """Paths shown relative to the temporary root."""
    return [dict(m, value=m["value"].replace(root, "<root>")) for m in message]


def record_vlmevalkit(checkout: Path, tmp: Path) -> tuple[dict, dict]:
    os.environ["LMUData"] = str(tmp / "LMUData")
    (tmp / "LMUData").mkdir()
    sys.path.insert(0, str(checkout))
    import pandas as pd
    import torchvision.transforms as T
    from vlmeval.dataset.mvbench import MVBench, MVBench_MP4
    from vlmeval.dataset.utils.mvbench import Stack, ToTorchFormatTensor
    from vlmeval.dataset.videomme import VideoMME

    root = tmp / "videomme"
    for n in FRAME_COUNTS:
        write_video(root / "video" / f"vid{n}.mp4", n, 25)

    def videomme(nframe: int, fps: float) -> VideoMME:
        dataset = VideoMME.__new__(VideoMME)
        dataset.dataset_name, dataset.use_subtitle = "Video-MME", False
        dataset.nframe, dataset.fps, dataset.pack = nframe, fps, False
        dataset.data_root = str(root)
        dataset.frame_root = str(tmp / "LMUData" / "images" / "Video-MME")
        os.makedirs(dataset.frame_root, exist_ok=True)
        dataset.frame_tmpl = "frame-{}-of-{}.jpg"
        dataset.frame_tmpl_fps = "frame-{}-of-{}-{}fps.jpg"
        return dataset

    videomme_cases = []
    for number, doc in enumerate(VIDEOMME_DOCS):
        line = pd.Series({"index": number, "video": f"vid{FRAME_COUNTS[-1 - number]}",
                          "video_path": f"./video/vid{FRAME_COUNTS[-1 - number]}.mp4",
                          "duration": "short", "domain": "Knowledge",
                          "candidates": str(doc["options"]), "sub_category": "Law",
                          "task_type": "OCR Problems", "subtitle_path": "./subtitle/x.srt",
                          "question": doc["question"], "answer": doc["answer"]})
        for video_llm in (False, True):
            message = videomme(8, -1).build_prompt(line, video_llm)
            videomme_cases.append({"question": doc["question"], "options": doc["options"],
                                   "video_llm": video_llm, "nframe": 8,
                                   "message": message_json(message, str(tmp))})
    uniform, by_fps = [], []
    for n in FRAME_COUNTS:
        for nframe in (8, 16, 32, 64):
            _, indices, info = videomme(nframe, -1).save_video_frames(f"vid{n}")
            uniform.append([info["n_frames"], nframe, [int(i) for i in indices]])
        for fps in (0.5, 1.0, 2.0):
            _, indices, info = videomme(0, fps).save_video_frames(f"vid{n}")
            by_fps.append([info["n_frames"], info["fps"], fps, [int(i) for i in indices]])

    mv_root = tmp / "mvbench"
    for n in (40, 75, 160):
        write_video(mv_root / "video" / "clevrer" / "video_validation" / f"m{n}.mp4", n, 25)

    def mvbench(nframe: int) -> MVBench:
        dataset = MVBench.__new__(MVBench)
        dataset.dataset_name, dataset.nframe = "MVBench", nframe
        dataset.fps, dataset.pack = -1, False
        dataset.data_root = str(mv_root)
        dataset.frame_root = str(tmp / "LMUData" / "images" / "MVBench")
        os.makedirs(dataset.frame_root, exist_ok=True)
        dataset.frame_tmpl = "frame-{}-of-{}.jpg"
        dataset.decord_method = {"video": dataset.read_video, "gif": dataset.read_gif,
                                 "frame": dataset.read_frame}
        dataset.frame_fps = 3
        dataset.transform = T.Compose([Stack(), ToTorchFormatTensor()])
        return dataset

    mvbench_cases = []
    for number, doc in enumerate(MVBENCH_DOCS):
        line = pd.Series({"index": number, "task_type": "Moving Direction",
                          "prefix": "video/clevrer/video_validation/", "data_type": "video",
                          "bound": False, "start": None, "end": None,
                          "video": f"m{(40, 75, 160, 40)[number]}.mp4",
                          "question": doc["question"], "answer": doc["answer"],
                          "candidates": str(doc["candidates"])})
        dataset = mvbench(8)
        message = dataset.build_prompt(line, video_llm=False)
        question, truth = dataset.qa_template(line)
        mvbench_cases.append({"question": doc["question"], "candidates": doc["candidates"],
                              "answer": doc["answer"], "video_llm": False, "nframe": 8,
                              "message": message_json(message, str(tmp)),
                              "qa_template": [question, truth]})
    segments = []
    dataset = mvbench(8)
    for nframe in (8, 16):
        dataset.num_segments = nframe
        for bound in (None, (0, 1.0), (0.4, 2.9)):
            for fps in (3, 25, 30):
                for max_frame in (7, 39, 159):
                    segments.append([nframe, list(bound) if bound else None, fps, max_frame,
                                     [int(i) for i in dataset.get_index(bound, fps, max_frame)]])
    mp4 = MVBench_MP4.__new__(MVBench_MP4)
    by_frame = []
    for nframe in (8, 16):
        mp4.num_segments = nframe
        for max_frame in (0, 7, 15, 39, 159, 1799):
            by_frame.append([nframe, max_frame,
                             [int(i) for i in mp4.get_index_by_frame(max_frame)]])
    return ({"cases": videomme_cases, "uniform_indices_columns": ["n_frames", "nframe", "indices"],
             "uniform_indices": uniform,
             "fps_indices_columns": ["n_frames", "video_fps", "fps", "indices"],
             "fps_indices": by_fps},
            {"cases": mvbench_cases,
             "frame_index_columns": ["num_segments", "bound", "fps", "max_frame", "indices"],
             "frame_indices": segments,
             "mp4_frame_index_columns": ["num_segments", "max_frame", "indices"],
             "mp4_frame_indices": by_frame})


def record_lmms_eval(checkout: Path) -> tuple[dict, dict]:
    tasks = checkout / "lmms_eval" / "tasks"
    videomme = load_file_module(tasks / "videomme" / "utils.py", "lmms_videomme_utils")
    kwargs = yaml_kwargs(tasks / "videomme" / "videomme.yaml")
    videomme_cases = [{"question": doc["question"], "options": doc["options"], "kwargs": name,
                       "prompt": videomme.videomme_doc_to_text(dict(doc), dict(kwargs[name]))}
                      for doc in VIDEOMME_DOCS for name in ("default", "llava_vid")]
    mvbench = load_file_module(tasks / "mvbench" / "utils.py", "lmms_mvbench_utils")
    mvbench_cases = []
    for doc in MVBENCH_DOCS:
        task_kwargs = yaml_kwargs(tasks / "mvbench" / "mvbench_action_sequence.yaml")["default"]
        mvbench_cases.append({"question": doc["question"], "candidates": doc["candidates"],
                              "kwargs": task_kwargs,
                              "prompt": mvbench.mvbench_doc_to_text(dict(doc), task_kwargs)})
    post_prompts = {path.stem: yaml_kwargs(path)["default"]["post_prompt"]
                    for path in sorted((tasks / "mvbench").glob("mvbench_*.yaml"))}
    return ({"kwargs": {k: kwargs[k] for k in ("default", "llava_vid")},
             "cases": videomme_cases},
            {"post_prompt_per_task": post_prompts, "data_list": mvbench.DATA_LIST,
             "cases": mvbench_cases})


def update(path: Path, parts: dict) -> None:
    data = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    data.update(parts)
    path.write_text(json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n",
                    encoding="utf-8")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--vlmevalkit", type=Path, required=True)
    parser.add_argument("--lmms-eval", type=Path, required=True)
    parser.add_argument("--videomme", type=Path, required=True)
    parser.add_argument("--vlmevalkit-commit")
    parser.add_argument("--lmms-eval-commit")
    parser.add_argument("--videomme-commit")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent)
    args = parser.parse_args(argv)
    interpreter = f"Python {sys.version.split()[0]}"

    def source(repo, checkout, commit, files):
        return {"repo": repo, "commit": commit or git_commit(checkout), "files": files,
                "interpreter": interpreter}

    with tempfile.TemporaryDirectory() as tmp:
        vlm_videomme, vlm_mvbench = record_vlmevalkit(args.vlmevalkit.resolve(), Path(tmp))
    lmms_videomme, lmms_mvbench = record_lmms_eval(args.lmms_eval.resolve())
    vlm_source = source("open-compass/VLMEvalKit", args.vlmevalkit, args.vlmevalkit_commit,
                        ["vlmeval/dataset/videomme.py", "vlmeval/dataset/mvbench.py"])
    lmms_source = source("EvolvingLMMs-Lab/lmms-eval", args.lmms_eval, args.lmms_eval_commit,
                         ["lmms_eval/tasks/videomme/utils.py",
                          "lmms_eval/tasks/videomme/videomme.yaml",
                          "lmms_eval/tasks/mvbench/utils.py", "lmms_eval/tasks/mvbench/*.yaml"])
    update(args.out / "videomme_prompts.json", {
        "official": dict(readme_prompts(args.videomme),
                         source=source("BradyFU/Video-MME", args.videomme, args.videomme_commit,
                                       ["README.md (Prompt)"])),
        "vlmevalkit": dict(vlm_videomme, source=vlm_source),
        "lmms_eval": dict(lmms_videomme, source=lmms_source)})
    update(args.out / "mvbench_prompts.json", {
        "vlmevalkit": dict(vlm_mvbench, source=vlm_source),
        "lmms_eval": dict(lmms_mvbench, source=lmms_source)})
    print(f"prompts: {len(vlm_videomme['cases'])} + {len(vlm_mvbench['cases'])} VLMEvalKit, "
          f"{len(lmms_videomme['cases'])} + {len(lmms_mvbench['cases'])} lmms-eval, "
          f"{len(vlm_videomme['uniform_indices'])} uniform and {len(vlm_videomme['fps_indices'])} "
          f"fps frame-index cases")


if __name__ == "__main__":
    main()
