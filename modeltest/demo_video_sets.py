"""Demo copies of Video-MME and MVBench in their real on-disk layouts (tiny generated videos),
built on first use by the tasks' `demo_builder` (runners/demo.py); a few questions each, with
the official names, so that the tasks run end to end on every demo model from every copy."""
from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

from modeltest.demo_data import COLORS, _write_tsv, write_copies_manifest, write_video

# (videoID, duration, domain, sub_category, [(task_type, question, options, answer)])
VIDEOMME_VIDEOS = [
    ("fFjv93ACGo8", "short", "Knowledge", "Humanity & History", [
        ("Counting Problem", "How many squares move across the video?",
         ["A. One.", "B. Two.", "C. Three.", "D. Four."], "A"),
        ("Attribute Perception", "What colour is the moving square?",
         ["A. The background's colour.", "B. The opposite of the background's colour.",
          "C. Striped.", "D. Transparent."], "B")]),
    ("JOdpJ9ShrGM", "medium", "Sports Competition", "Athletics", [
        ("Spatial Perception", "Where is the square at the start?",
         ["A. At the bottom.", "B. In a corner.", "C. On the left.", "D. Nowhere."], "C"),
        ("Temporal Reasoning", "Which way does the square move?",
         ["A. Up.", "B. Down.", "C. It does not move.", "D. To the right."], "D")]),
    ("Kbq1q3ZFhkc", "long", "Life Record", "Pet & Animal", [
        ("Object Recognition", "What shape moves in the video?",
         ["A. A square.", "B. A circle.", "C. A star.", "D. A dog."], "A"),
        ("Information Synopsis", "What is the video about?",
         ["A. A cooking show.", "B. A square moving across a plain background.",
          "C. A football match.", "D. A city at night."], "B")]),
]


def build_videomme(folder: Path) -> None:
    """`videomme/test-00000-of-00001.parquet` (lmms-lab's copy) with its videos in `data/`
    (where lmms-eval unzips them), and VLMEvalKit's `Video-MME.tsv` with `video/`."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    (folder / "data").mkdir(parents=True, exist_ok=True)
    (folder / "video").mkdir(parents=True, exist_ok=True)
    rows = []
    for number, (video_id, duration, domain, sub_category, questions) in enumerate(
            VIDEOMME_VIDEOS, start=1):
        write_video(folder / "data" / f"{video_id}.mp4", seed=500 + number,
                    seconds=4 * number)
        shutil.copyfile(folder / "data" / f"{video_id}.mp4", folder / "video" / f"{video_id}.mp4")
        for k, (task_type, question, options, answer) in enumerate(questions, start=1):
            rows.append({"video_id": f"{number:03d}", "duration": duration, "domain": domain,
                         "sub_category": sub_category,
                         "url": f"https://www.youtube.com/watch?v={video_id}",
                         "videoID": video_id, "question_id": f"{number:03d}-{k}",
                         "task_type": task_type, "question": question, "options": options,
                         "answer": answer})
    (folder / "videomme").mkdir()
    columns = {name: [row[name] for row in rows] for name in rows[0]}
    schema = pa.schema([(name, pa.list_(pa.string()) if name == "options" else pa.string())
                        for name in columns])
    pq.write_table(pa.table(columns, schema=schema),
                   folder / "videomme" / "test-00000-of-00001.parquet")
    # VLMEvalKit's generate_tsv: the parquet's rows with these columns, in this order
    _write_tsv(folder / "Video-MME.tsv",
               ["index", "video", "video_path", "duration", "domain", "candidates",
                "sub_category", "task_type", "subtitle_path", "question", "answer"],
               [[i, r["videoID"], f"./video/{r['videoID']}.mp4", r["duration"], r["domain"],
                 str(r["options"]), r["sub_category"], r["task_type"],
                 f"./subtitle/{r['videoID']}.srt", r["question"], r["answer"]]
                for i, r in enumerate(rows)])
    write_copies_manifest(folder, {"vlmevalkit_tsv": "Video-MME.tsv"})


# (json stem, video under video/, start, end): one question per task; the GIF and the frame
# folder are read as the notebook's data_list says (Fine-grained Action's videos as videos,
# Episodic Reasoning's as a frame folder at 3 frames per second)
MVBENCH_ITEMS = {
    "action_sequence": ("star/Charades_v1_480/C0A1B.mp4", 1.0, 6.5),
    "action_prediction": ("star/Charades_v1_480/C0A1B.mp4", 4.0, 8.0),
    "action_antonym": ("ssv2_video/74225.mp4", None, None),
    "fine_grained_action": ("Moments_in_Time_Raw/videos/running_demo.gif", None, None),
    "unexpected_action": ("FunQA_test/test/H_A_101.mp4", None, None),
    "object_existence": ("clevrer/video_validation/video_10000.mp4", None, None),
    "object_interaction": ("star/Charades_v1_480/C0A1B.mp4", 0.0, 3.0),
    "object_shuffle": ("perception/videos/video_1234.mp4", None, None),
    "moving_direction": ("clevrer/video_validation/video_10000.mp4", None, None),
    "action_localization": ("sta/sta_video/sta_0001.mp4", 0.5, 5.0),
    "scene_transition": ("scene_qa/video/scene_7.mp4", None, None),
    "action_count": ("perception/videos/video_1234.mp4", None, None),
    "moving_count": ("clevrer/video_validation/video_10000.mp4", None, None),
    "moving_attribute": ("clevrer/video_validation/video_10000.mp4", None, None),
    "state_change": ("perception/videos/video_1234.mp4", None, None),
    "fine_grained_pose": ("nturgbd/S001C001P001R001A001_rgb.mp4", None, None),
    "character_order": ("perception/videos/video_1234.mp4", None, None),
    "egocentric_navigation": ("vlnqa/nav_3.mp4", None, None),
    "episodic_reasoning": ("tvqa/frames_fps3_hq/friends_s01e01_seg01_clip_00", 1.0, 7.0),
    "counterfactual_inference": ("clevrer/video_validation/video_10000.mp4", None, None),
}
# the data_list prefixes (conf/task/mvbench.yaml), which the paths above start with
MVBENCH_TASKS = {
    "action_sequence": "Action Sequence", "action_prediction": "Action Prediction",
    "action_antonym": "Action Antonym", "fine_grained_action": "Fine-grained Action",
    "unexpected_action": "Unexpected Action", "object_existence": "Object Existence",
    "object_interaction": "Object Interaction", "object_shuffle": "Object Shuffle",
    "moving_direction": "Moving Direction", "action_localization": "Action Localization",
    "scene_transition": "Scene Transition", "action_count": "Action Count",
    "moving_count": "Moving Count", "moving_attribute": "Moving Attribute",
    "state_change": "State Change", "fine_grained_pose": "Fine-grained Pose",
    "character_order": "Character Order", "egocentric_navigation": "Egocentric Navigation",
    "episodic_reasoning": "Episodic Reasoning",
    "counterfactual_inference": "Counterfactual Inference",
}
FRAME_FOLDER_FPS = 3


def write_gif(path: Path, seed: int, frames: int = 20, size: int = 48,
              milliseconds: int = 100) -> None:
    """A moving square as an animated GIF (PIL)."""
    from PIL import Image

    rng = random.Random(seed)
    background = COLORS[rng.choice(sorted(COLORS))]
    images = []
    for index in range(frames):
        image = Image.new("RGB", (size, size), background)
        x = (index * 2) % (size - 12)
        image.paste(tuple(255 - c for c in background), (x, 16, x + 12, 28))
        images.append(image)
    images[0].save(path, save_all=True, append_images=images[1:], duration=milliseconds,
                   loop=0)


def write_frame_folder(folder: Path, seed: int, seconds: int = 8,
                       fps: int = FRAME_FOLDER_FPS, size: int = 64) -> None:
    """`00001.jpg`, ... as TVQA's frames_fps3_hq folders hold them."""
    from PIL import Image

    rng = random.Random(seed)
    background = COLORS[rng.choice(sorted(COLORS))]
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(seconds * fps):
        image = Image.new("RGB", (size, size), background)
        x = (index * 3) % (size - 16)
        image.paste(tuple(255 - c for c in background), (x, 20, x + 16, 36))
        image.save(folder / f"{index + 1:05d}.jpg", quality=90)


def _mvbench_question(stem: str, number: int) -> dict:
    rng = random.Random(700 + number)
    truth = "A square moves to the right."
    others = rng.sample(["A dog runs.", "Nothing moves.", "A car turns left.",
                         "The square shrinks."], k=2 + number % 3)
    candidates = [truth] + others
    rng.shuffle(candidates)
    return {"question": f"What happens in the video? ({MVBENCH_TASKS[stem]})",
            "candidates": candidates, "answer": truth}


def build_mvbench(folder: Path) -> None:
    """`MVBench/json/<task>.json` and `MVBench/video/<prefix>/...` as the hub copy holds them
    (one question per task: mp4 files, Fine-grained Action's video a GIF, Episodic Reasoning's
    a folder of frames), and VLMEvalKit's `MVBench/MVBench.tsv` of the same questions."""
    root = folder / "MVBench"
    (root / "json").mkdir(parents=True, exist_ok=True)
    written: set[str] = set()
    rows = []
    for number, (stem, (video, start, end)) in enumerate(MVBENCH_ITEMS.items()):
        path = root / "video" / video
        if video not in written:
            path.parent.mkdir(parents=True, exist_ok=True)
            if video.endswith(".gif"):
                write_gif(path, seed=600 + number)
            elif stem == "episodic_reasoning":
                write_frame_folder(path, seed=600 + number)
            else:
                write_video(path, seed=600 + number)
            written.add(video)
        prefix, name = video.rsplit("/", 1)
        item = {"video": name, **_mvbench_question(stem, number)}
        if start is not None:
            item.update(start=start, end=end)
        (root / "json" / f"{stem}.json").write_text(json.dumps([item], indent=1))
        data_type = "frame" if stem == "episodic_reasoning" else "video"
        rows.append([MVBENCH_TASKS[stem], f"video/{prefix}/", data_type, start is not None,
                     start, end, name, item["question"], item["answer"],
                     str(item["candidates"]), number])
    # VLMEvalKit's generate_tsv: these columns, bound as True/False, start/end empty when
    # absent, candidates as a list literal, index over all tasks
    _write_tsv(root / "MVBench.tsv",
               ["task_type", "prefix", "data_type", "bound", "start", "end", "video",
                "question", "answer", "candidates", "index"], rows)
    write_copies_manifest(folder, {"vlmevalkit_tsv": "MVBench/MVBench.tsv"})
