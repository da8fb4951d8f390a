"""Run MVBench's OFFICIAL evaluation (VideoChat2's mvbench.ipynb) on generated data; record it.

    python tests/golden/build/record_mvbench_goldens.py <OpenGVLab/Ask-Anything checkout> \
        [--commit SHA] [--out tests/golden]

Writes tests/golden/mvbench_official.json (scorer golden) and the "official" part of
tests/golden/mvbench_prompts.json (prompts, generation settings, frame sampling).

The notebook's code cells are found by what they define and `exec`-ed as they are, in one
namespace, in a temporary folder laid out as the notebook expects (`your_mvpbench_path/json/
<task>.json` and the videos under the `your_data_path/...` prefixes of its `data_list`, the
Fine-grained Action prefix's "pyour_data_path" typo included):
- the cells defining get_prompt/get_context_emb/ask/answer, get_sinusoid_encoding_table,
  data_list, MVBench_dataset, infer_mvbench and check_ans; then the position-embedding cell
  that builds `dataset` (16 segments, 224 px), the evaluation loop (which writes test.json
  with acc_dict and res_list) and the leaderboard cell (upload_leaderboard.json);
- `check_ans` alone on 1500 generated (prediction, truth) pairs, beside the loop;
- the loop and leaderboard cells again for three more prediction sets (other replies to the
  same questions): the official aggregates of four sets in all.
What the notebook leaves to the user, or cannot import at this commit, is supplied:
- the import cell is not run (`models.videochat2_it` no longer exists at the commit, and
  matplotlib/IPython/peft are not used by the cells run); its names are given as globals,
  `dataset.video_transforms` imported from the checkout as the cell imports it (the package's
  import sets decord's torch bridge, which `read_video`'s `.numpy()` needs);
- `model` is a recording stand-in for VideoChat2: it keeps the text segments the prompt is
  tokenized in (and whether each gets special tokens), the instruction given to the video
  encoder, the keyword arguments of `generate`, and returns, as the decoded reply, a generated
  adversarial reply per question;
- this machine has no GPU: `torch.Tensor.to("cuda:...")` returns the tensor unchanged in
  this process. Nothing recorded passes through a tensor (prompts and replies are strings).
Nothing of the official code is copied: this file writes inputs and reads outputs.
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import types
from pathlib import Path

SEED = 20231218
PIPELINE_PER_TASK = 30
DIRECT_CASES = 1500
PROMPTS_PER_TASK = 2

QUESTIONS = ["What is the action performed by the person in the video?",
             "Which object was moved first?", "How many times did the person jump?",
             "What will the person do next?", "Is the cube moving left?",
             "What happened after the man closed the door?", "Which one is true?",
             "What is the color of the sphere that enters the scene?", "描述视频中的动作。",
             "Where is the person going?  ", "Why did the car stop?\n"]
CANDIDATES = ["Closed the door.", "Took the towel.", "Put down the cup", "yes", "no", "3", "2",
              "left", "right", "up", "down", "the red cube", "The blue sphere.", "jumping",
              "Running. Then walking.", "(A) a trick", "B", "not sure", "café", "1.5 m",
              "A person is dancing", "none of the above", "Sitting on the bed.",
              "the man on the left (red)", "straight", "Turn left then go straight."]
REPLY_TEXT = ["Closed the door.", "the red cube", "3", "left", "yes", "jumping"]


def _mark(letter: str, rng: random.Random) -> str:
    return rng.choice(["{}", "{})", "({})", "{}.", "{}:", "{} )", "({}", "{}))", "{}]",
                       "{}) ", "{}).", "{}、"]).format(letter)


def make_reply(rng: random.Random, letters: str) -> str:
    """A model reply after "Best option:(" (what the tokenizer decodes)."""
    letter = rng.choice(letters + "E" if rng.random() < 0.1 else letters)
    kind = rng.randrange(16)
    if kind == 0:
        return f"{_mark(letter, rng)} {rng.choice(REPLY_TEXT)}"
    if kind == 1:
        return _mark(letter, rng)
    if kind == 2:
        return _mark(letter.lower(), rng) + rng.choice(["", " text"])
    if kind == 3:
        return rng.choice(["", " ", "\n", "\n\n", "###", " ### ", ")", ").", "()", "."])
    if kind == 4:
        return f"{letter}) {rng.choice(REPLY_TEXT)}###Human: next question"
    if kind == 5:
        return f"Assistant: {letter}) {rng.choice(REPLY_TEXT)}"
    if kind == 6:
        return rng.choice(["", " ", "\n"]) + f"\n{letter}) first line\nsecond line ({letter})"
    if kind == 7:
        return rng.choice(["The answer is ({})", "Best option: ({})", "Option {}",
                           "I think it is {}", "{} or {}", "{} and B", "({}) ({})"]).format(
            letter, letter)
    if kind == 8:
        return rng.choice(REPLY_TEXT)
    if kind == 9:
        return rng.choice(["Ｂ）", "（C）", "B\u200b)", "\u00a0A)", "B\t) x", "Α)", "ⓑ"])
    if kind == 10:
        return f"{letter}){letter}) repeated"
    if kind == 11:
        return f"{letter}. {rng.choice(REPLY_TEXT)}"
    if kind == 12:
        return "1) the first option" if rng.random() < 0.5 else "2"
    if kind == 13:
        return (f"{letter}) the person in the video is walking towards the door and then "
                "opens it slowly before leaving the room with a bag in the left hand")
    if kind == 14:
        return f"{letter}) text Assistant: {rng.choice(letters)}) other"
    return f"{letter}\n"


EXTRA_SETS = ("mostly_right", "all_empty", "bare_letters")


def extra_replies(name: str, items_by_task: dict, rng: random.Random) -> dict[int, str]:
    """Replies for another prediction set over the same questions."""
    replies = {}
    for task_number, items in enumerate(items_by_task.values()):
        for item in items:
            number = int(item["question"][1:].split(":")[0])
            letters = "ABCDE"[:len(item["candidates"])]
            right = letters[item["candidates"].index(item["answer"])]
            if name == "mostly_right":      # right more often on later tasks
                hit = rng.random() < 0.3 + 0.03 * task_number
                replies[number] = (f"{right if hit else rng.choice(letters)}) "
                                   f"{rng.choice(REPLY_TEXT)}")
            elif name == "all_empty":       # the model says nothing at all
                replies[number] = ""
            else:                           # one letter, no bracket, sometimes lower-case
                letter = rng.choice(letters)
                replies[number] = letter.lower() if rng.random() < 0.3 else letter
    return replies


def make_direct_case(rng: random.Random) -> tuple[str, str]:
    """A (prediction, truth) pair for check_ans, beyond what the loop can produce."""
    count = rng.randint(2, 6)
    letters = "ABCDEF"[:count]
    index = rng.randrange(count)
    answer = rng.choice(CANDIDATES)
    truth = f"({letters[index]}) {answer}"
    if rng.random() < 0.03:
        truth = f"(@) {answer}"            # qa_template when the answer is not a candidate
    kind = rng.randrange(6)
    if kind == 0:
        prediction = "(" + make_reply(rng, letters).strip().split("\n")[0]
    elif kind == 1:                        # VLMEvalKit-style: the reply without the "("
        prediction = make_reply(rng, letters)
    elif kind == 2:                        # leading or inner whitespace of other kinds
        prediction = rng.choice([" ", "\t", "  ", "\n", ""]) + rng.choice(
            ["(b)", "(B) x", "(c)\ty", "(d)\nz", "b", "(a)", "( a)"])
    elif kind == 3:                        # the truth itself, in other cases / spacing
        prediction = rng.choice([truth, truth.upper(), truth.lower(), truth.replace(" ", "  "),
                                 truth.split(" ")[0], truth + ".", truth.replace(")", ").")])
    elif kind == 4:                        # degenerate option pieces
        prediction = rng.choice(["", "(", ")", "()", ".", "(.", "(@)", "@", "(1)", "((",
                                 "(ab)", "(a)(b)", "a", "(.b.)", "(b.)", "b.", "...."])
    else:                                  # long and unicode predictions
        prediction = rng.choice(["(" + letters[index] + ") " + "word " * rng.randint(10, 40),
                                 "（" + letters[index] + "）", "(" + letters[index].lower()
                                 + ")\u00a0x", "(ｂ)", "(β)"])
    return prediction, truth


def make_items(rng: random.Random, task: str, number: int, bound: bool) -> list[dict]:
    items = []
    for k in range(PIPELINE_PER_TASK):
        count = rng.randint(2, 5)
        candidates = rng.sample(CANDIDATES, count)
        item = {"video": f"{task.replace(' ', '_').lower()}_{k}.mp4",
                "question": f"Q{number + k}: {rng.choice(QUESTIONS)}",
                "candidates": candidates, "answer": rng.choice(candidates)}
        if bound:
            start = rng.choice([0, 0.0, 0.4, 1.2, 2.0])
            item.update(start=start, end=start + rng.choice([0.5, 1.0, 2.5, 3.0, 50.0]))
        items.append(item)
    return items


def write_video(path: Path, frames: int, fps: float) -> None:
    import cv2
    import numpy as np
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (32, 32))
    for i in range(frames):
        writer.write(np.full((32, 32, 3), (i * 7) % 256, np.uint8))
    writer.release()


def write_frames(folder: Path, frames: int) -> None:
    from PIL import Image
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(1, frames + 1):
        Image.new("RGB", (32, 32), ((i * 7) % 256,) * 3).save(folder / f"{i:05d}.jpg")


def code_cells(checkout: Path) -> list[str]:
    notebook = json.loads((checkout / "video_chat2" / "mvbench.ipynb").read_text("utf-8"))
    return ["".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code"]


def the_cell(cells: list[str], marker: str) -> str:
    found = [c for c in cells if marker in c]
    if len(found) != 1:
        raise SystemExit(f"mvbench.ipynb: {len(found)} code cells hold {marker!r} (want 1)")
    return found[0]


class RecordingModel:
    """Stands in for VideoChat2: records what the notebook gives it, replies as planned."""

    def __init__(self, torch, replies: dict[int, str]):
        self.torch, self.replies = torch, replies
        self.vision_encoder = types.SimpleNamespace(encoder=types.SimpleNamespace(pos_embed=None))
        self.segments, self.encoder_text, self.generate_kwargs = [], [], []
        self.video_shapes, self.prompts = [], []
        model = self

        class Tokenizer:
            def __call__(self, text, return_tensors=None, add_special_tokens=True):
                model.segments.append((text, add_special_tokens))
                ids = model.torch.zeros((1, max(1, len(text))), dtype=model.torch.long)
                return types.SimpleNamespace(to=lambda device: types.SimpleNamespace(
                    input_ids=ids))

            def decode(self, tokens, add_special_tokens=False):
                prompt = "<VideoHere>".join(s for s, _ in model.segments)
                model.prompts.append((prompt, [flag for _, flag in model.segments]))
                model.segments = []
                number = int(re.search(r"Question: Q(\d+):", prompt).group(1))
                return model.replies[number]

        self.llama_tokenizer = Tokenizer()
        embed = types.SimpleNamespace(embed_tokens=lambda ids: torch.zeros(
            (1, ids.shape[1], 4)))
        self.llama_model = types.SimpleNamespace(
            base_model=types.SimpleNamespace(model=types.SimpleNamespace(model=embed)),
            generate=self._generate)

    def encode_img(self, video, text):
        self.video_shapes.append(list(video.shape))
        self.encoder_text.append(text)
        return self.torch.zeros((1, 3, 4)), None

    def _generate(self, inputs_embeds=None, stopping_criteria=None, **kwargs):
        self.generate_kwargs.append(kwargs)
        return self.torch.tensor([[7, 8, 9]])


def no_gpu_here(torch) -> None:
    """Tensor.to('cuda...') keeps the tensor where it is (this machine has no GPU)."""
    original = torch.Tensor.to

    def to(self, *args, **kwargs):
        if args and str(args[0]).startswith("cuda"):
            return self
        return original(self, *args, **kwargs)
    torch.Tensor.to = to


def notebook_globals(checkout: Path, model) -> dict:
    """The names the notebook's import cell provides, minus the model and display modules."""
    sys.path.insert(0, str(checkout / "video_chat2"))
    import numpy as np
    import torch
    import torchvision.transforms as T
    from dataset.video_transforms import (GroupCenterCrop, GroupNormalize, GroupScale, Stack,
                                          ToTorchFormatTensor)
    from decord import VideoReader, cpu
    from PIL import Image
    from torch.utils.data import Dataset
    from torchvision import transforms
    from torchvision.transforms.functional import InterpolationMode
    from tqdm import tqdm
    from transformers import StoppingCriteria, StoppingCriteriaList
    from utils.easydict import EasyDict
    return {"__name__": "__main__", "os": os, "io": io, "json": json, "torch": torch, "np": np,
            "Image": Image, "VideoReader": VideoReader, "cpu": cpu, "T": T,
            "GroupNormalize": GroupNormalize, "GroupScale": GroupScale,
            "GroupCenterCrop": GroupCenterCrop, "Stack": Stack,
            "ToTorchFormatTensor": ToTorchFormatTensor, "InterpolationMode": InterpolationMode,
            "Dataset": Dataset, "transforms": transforms, "tqdm": tqdm,
            "StoppingCriteria": StoppingCriteria, "StoppingCriteriaList": StoppingCriteriaList,
            "EasyDict": EasyDict, "copy": copy, "model": model}


def run_cell(source: str, namespace: dict, name: str) -> None:
    exec(compile(source, f"mvbench.ipynb: {name}", "exec"), namespace)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkout", type=Path)
    parser.add_argument("--commit", default=None, help="the checkout's commit, if not a git tree")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent)
    args = parser.parse_args(argv)
    checkout = args.checkout.resolve()
    commit = args.commit or subprocess.run(["git", "-C", str(checkout), "rev-parse", "HEAD"],
                                           capture_output=True, text=True).stdout.strip()
    cells = code_cells(checkout)
    rng = random.Random(SEED)
    import torch
    no_gpu_here(torch)

    # check_ans alone, on pairs the loop cannot produce as well as ones it can.
    direct_ns: dict = {}
    run_cell(the_cell(cells, "def check_ans"), direct_ns, "check_ans")
    direct = [make_direct_case(rng) for _ in range(DIRECT_CASES)]
    direct = [[p, t, bool(direct_ns["check_ans"](pred=p, gt=t))] for p, t in direct]

    replies: dict[int, str] = {}
    model = RecordingModel(torch, replies)
    namespace = notebook_globals(checkout, model)
    here = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        try:
            run_cell(the_cell(cells, "data_list = {"), namespace, "data_list")
            tasks = namespace["data_list"]
            json_dir = Path(namespace["data_dir"])
            json_dir.mkdir(parents=True)
            items_by_task, number = {}, 0
            for task, (json_name, prefix, data_type, bound) in tasks.items():
                items = make_items(rng, task, number, bound)
                number += len(items)
                for item in items:
                    n = int(item["question"][1:].split(":")[0])
                    replies[n] = make_reply(rng, "ABCDE"[:len(item["candidates"])])
                    if data_type == "frame":
                        item["video"] = item["video"][:-4]
                        write_frames(Path(prefix) / item["video"],
                                     rng.randint(int(3 * (item.get("start", 0) + 1)) + 2, 200))
                    else:
                        fps = rng.choice([10, 24, 25, 30])
                        # a bounded question's start lies inside its video
                        shortest = int(fps * (item.get("start", 0) + 1)) + 2
                        write_video(Path(prefix) / item["video"],
                                    rng.randint(max(24, shortest), max(160, shortest)), fps)
                (json_dir / json_name).write_text(json.dumps(items), encoding="utf-8")
                items_by_task[task] = items
            for marker in ("def get_prompt(", "def get_sinusoid_encoding_table",
                           "class MVBench_dataset", "def infer_mvbench", "def check_ans",
                           "dataset = MVBench_dataset(", "for example in tqdm(dataset)",
                           "final_res = dict()"):
                printed = io.StringIO()
                with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(io.StringIO()):
                    run_cell(the_cell(cells, marker), namespace, marker)
            results = json.loads(Path("test.json").read_text(encoding="utf-8"))
            leaderboard = json.loads(Path("upload_leaderboard.json").read_text(encoding="utf-8"))
            first_replies = dict(replies)
            # More prediction sets: the loop and leaderboard cells again, other replies.
            extra_sets = []
            for name in EXTRA_SETS:
                replies.update(extra_replies(name, items_by_task, random.Random(f"{SEED}{name}")))
                with contextlib.redirect_stdout(io.StringIO()), \
                        contextlib.redirect_stderr(io.StringIO()):
                    run_cell(the_cell(cells, "for example in tqdm(dataset)"), namespace, "loop")
                    run_cell(the_cell(cells, "final_res = dict()"), namespace, "leaderboard")
                produced = json.loads(Path("test.json").read_text(encoding="utf-8"))
                extra_sets.append({
                    "name": name,
                    "replies": [replies[int(item["question"][1:].split(":")[0])]
                                for items in items_by_task.values() for item in items],
                    "pred": [r["pred"] for r in produced["res_list"]],
                    "acc_dict": produced["acc_dict"],
                    "final_res": json.loads(Path("upload_leaderboard.json").read_text("utf-8"))})
            dataset = namespace["dataset"]
            frame_cases = []
            for segments in (16, 8):
                dataset.num_segments = segments
                for bound in (None, (0, 1.0), (0.4, 2.9), (1.2, 50.0), (-3.0, 2.0), (0.0, 0.0),
                              (2.5, 2.6), (0.05, 7.95)):
                    for fps in (3, 10, 24, 25, 29.97, 30):
                        for max_frame in (0, 7, 15, 16, 23, 99, 159, 1799):
                            for first in (0, 1):
                                indices = dataset.get_index(bound, fps, max_frame, first_idx=first)
                                frame_cases.append([segments, list(bound) if bound else None,
                                                    fps, max_frame, first,
                                                    [int(i) for i in indices]])
        finally:
            os.chdir(here)

    order = [(task, item) for task, items in items_by_task.items() for item in items]
    # the first loop's prompts come first; each extra set's loop added as many again
    assert len(order) == len(results["res_list"])
    assert len(model.prompts) == len(order) * (1 + len(EXTRA_SETS))
    pipeline = []
    for (task, item), record, (prompt, _) in zip(order, results["res_list"], model.prompts):
        n = int(item["question"][1:].split(":")[0])
        assert f"Question: {item['question']}" in prompt
        pipeline.append([task, item["candidates"], item["answer"], first_replies[n],
                         record["pred"],
                         record["gt"], bool(direct_ns["check_ans"](pred=record["pred"],
                                                                   gt=record["gt"]))])
    source = {"repo": "OpenGVLab/Ask-Anything", "commit": commit,
              "file": "video_chat2/mvbench.ipynb",
              "interpreter": f"Python {sys.version.split()[0]}", "seed": SEED}
    official = {"source": dict(source, entry="check_ans(pred, gt); the evaluation loop cell "
                               "(infer_mvbench with its arguments) and the leaderboard cell"),
                "direct_cases_columns": ["prediction", "truth", "check_ans"],
                "direct_cases": direct,
                "pipeline_columns": ["task_type", "candidates", "answer", "reply", "pred", "gt",
                                     "check_ans"],
                "pipeline": pipeline, "acc_dict": results["acc_dict"],
                "final_res": leaderboard,
                "extra_sets_note": "the same questions as `pipeline`, in its order",
                "extra_sets": extra_sets}
    (args.out / "mvbench_official.json").write_text(
        json.dumps(official, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")

    prompts, seen = [], {}
    for (task, item), (prompt, flags), encoder_text, shape in zip(
            order, model.prompts, model.encoder_text, model.video_shapes):
        if seen.get(task, 0) < PROMPTS_PER_TASK:
            seen[task] = seen.get(task, 0) + 1
            prompts.append({"task_type": task, "question": item["question"],
                            "candidates": item["candidates"], "prompt": prompt,
                            "special_tokens_per_segment": flags,
                            "video_encoder_instruction": encoder_text,
                            "video_tensor_shape": shape})
    kwargs = model.generate_kwargs[0]
    assert all(k == kwargs for k in model.generate_kwargs)
    path = args.out / "mvbench_prompts.json"
    data = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    data["official"] = {
        "source": dict(source, entry="the evaluation loop cell (infer_mvbench) with a recording "
                                     "model; MVBench_dataset.get_index"),
        "data_list": {task: list(spec) for task, spec in tasks.items()},
        "generate_kwargs": kwargs, "prompts": prompts,
        "frame_index_columns": ["num_segments", "bound", "fps", "max_frame", "first_idx",
                                "indices"],
        "frame_indices": frame_cases}
    path.write_text(json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n",
                    encoding="utf-8")
    right = sum(p[-1] for p in pipeline)
    print(f"mvbench: {len(direct)} direct cases, {len(pipeline)} through the loop "
          f"({right} right), {len(frame_cases)} frame-index cases, Avg {leaderboard['Avg']:.2f}; "
          + ", ".join(f"{e['name']} Avg {e['final_res']['Avg']:.2f}" for e in extra_sets))


if __name__ == "__main__":
    main()
