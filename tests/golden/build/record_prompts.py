"""Record the default prompts VLMEvalKit builds for MMMU, MMBench, AI2D, ScienceQA and RealWorldQA,
and the prompt MMMU's own code builds, on generated rows in the real column layouts.

    python tests/golden/build/record_prompts.py \
        --vlmevalkit <open-compass/VLMEvalKit checkout at e8e78f0> --vlmevalkit-python <its python> \
        --mmmu <MMMU-Benchmark/MMMU checkout at bb0b95a> --mmmu-python <its python> \
        [--out tests/golden]

VLMEvalKit (unmodified, imported from the checkout by the driver below): each benchmark's rows
are written as `$LMUData/<name>.tsv` with `vlmeval.smp.dump`, the dataset is built with
`build_dataset(name)` (its DATASET_MD5 entry removed in memory so the generated file is taken
instead of a download) and `dataset.build_prompt(row)` gives the message list; image paths are
recorded relative to the dataset's image folder.
MMMU's own code: `utils.data_utils.process_single_sample` and `construct_prompt` with
`configs/llava1.5.yaml`, each single-item list in the config unwrapped as run_llava.py does
before it builds prompts; recorded are `final_input_prompt` and which image field the sample
keeps (`image_1`, or none when the options hold several `<img='...'>` images).
Nothing of the official code is copied; this file only writes inputs and reads outputs.
"""
from __future__ import annotations

import argparse
import json
import random
import subprocess
import tempfile
from pathlib import Path

SEED = 20240623
PIXEL = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElF"
         "TkSuQmCC")
VLMEVALKIT_COMMIT = "e8e78f05f3080fe28154f2130321f17951c3be94"
MMMU_COMMIT = "bb0b95a945998d91dfef37e969e07d49d1139438"

QUESTIONS = ["What is shown in the image?", "Which one is correct?\nChoose carefully.",
             "图中是什么？", "What is the value of x in <image 1>?", "  Leading spaces?",
             "Which option describes the diagram best", "Is the {curly} text kept?"]
HINTS = [None, None, "The picture shows a farm.", "Line one.\nLine two.", "图中有一只动物。",
         "None", "nan", ""]
OPTIONS = ["cat", "dog", "5 cm", "None of the above", "None", "NA", "red car", "光合作用",
           "x = 3", "A", "1,000", "<b>bold</b>", "two\nlines", "  padded  ", "Yes", "No"]


def _options(rng, low, high):
    texts = rng.sample(OPTIONS, rng.randint(low, high))
    return {chr(ord("A") + i): text for i, text in enumerate(texts)}


def vlmevalkit_rows(rng) -> dict[str, list[dict]]:
    rows = {"AI2D_TEST": [], "ScienceQA_TEST": [], "RealWorldQA": [], "MMBench_DEV_EN": [],
            "MMBench_DEV_CN": [], "MMMU_DEV_VAL": []}
    for number in range(30):
        options = _options(rng, 2, 4)
        rows["AI2D_TEST"].append({"index": number, "image": PIXEL, "question": rng.choice(QUESTIONS),
                                  **options, "answer": rng.choice(list(options))})
        options = _options(rng, 2, 5)
        rows["ScienceQA_TEST"].append({
            "index": number, "image": PIXEL, "question": rng.choice(QUESTIONS),
            "hint": rng.choice(HINTS), **options, "answer": rng.choice(list(options)),
            "category": "natural science", "split": "test"})
        options = _options(rng, 2, 4)
        question = rng.choice(QUESTIONS) + rng.choice(
            ["", "\nPlease answer directly with only the letter of the correct option and "
                 "nothing else."])
        rows["RealWorldQA"].append({"index": number, "image": PIXEL, "question": question,
                                    **options, "answer": rng.choice(list(options))})
    for name in ("MMBench_DEV_EN", "MMBench_DEV_CN"):
        for number in range(12):
            texts = list(_options(rng, 2, 4).values())
            hint = rng.choice(HINTS)
            question = rng.choice(QUESTIONS)
            for k in range(len(texts)):
                rotated = texts[k:] + texts[:k]
                rows[name].append({
                    "index": number + k * 1_000_000, "question": question, "hint": hint,
                    **{chr(ord("A") + i): t for i, t in enumerate(rotated)},
                    "answer": "A", "category": "image_scene", "image": PIXEL if k == 0 else str(number),
                    "source": "generated", "l2-category": "coarse_perception", "comment": None,
                    "split": "dev"})
    for number in range(40):
        images = rng.choice([1, 1, 2, 3, 4])
        refs = [f"<image {k}>" for k in range(1, images + 1)]
        rng.shuffle(refs)
        question = rng.choice([
            "What is shown?", f"{refs[0]} What is shown?", f"Compare {' and '.join(refs)}.",
            f"Is {refs[0]} like {refs[0]}?", f"{refs[-1]}\nWhich one?",
            f"Look at {refs[0]}.Which one?"])
        row = {"index": number, "question": question}
        if rng.random() < 0.75:
            options = _options(rng, 2, 9 if rng.random() < 0.2 else 4)
            if rng.random() < 0.4:
                for letter in list(options)[:images]:
                    options[letter] = f"<image {rng.randint(1, images)}>"
            row.update(options)
            row["answer"] = rng.choice(list(options))
        else:
            row["answer"] = rng.choice(["1.06", "Transformation"])
        split = rng.choice(["dev", "validation"])
        row.update({"category": "Art_Theory", "l2-category": "Art and Design", "split": split,
                    "id": f"{split}_Art_Theory_{number + 1}"})
        paths = [f"{split}_Art_Theory_{number + 1}_{k}.png" for k in range(1, images + 1)]
        if images == 1:
            row.update(image=PIXEL, image_path=paths[0])
        else:
            row.update(image=repr([PIXEL] * images), image_path=repr(paths))
        rows["MMMU_DEV_VAL"].append(row)
    return rows


def mmmu_samples(rng) -> list[dict]:
    samples = []
    for number in range(40):
        images = rng.choice([1, 1, 2, 3])
        refs = [f"<image {k}>" for k in range(1, images + 1)]
        question = rng.choice(["What is shown?", f"{refs[0]} What is shown?",
                               f"Compare {' and '.join(refs)}.", "Line one\nLine two?"])
        multiple_choice = rng.random() < 0.7
        options = list(_options(rng, 2, 7).values()) if multiple_choice else []
        if multiple_choice and rng.random() < 0.2:
            options[0] = f"<img='./images/{number}_1.png'>"
            options[1] = f"<img='./images/{number}_2.png'>"
        sample = {"id": f"validation_Art_Theory_{number + 1}", "question": question,
                  "options": repr(options),
                  "answer": chr(ord("A") + rng.randrange(len(options))) if options else "1.06",
                  "question_type": "multiple-choice" if multiple_choice else "open"}
        for k in range(1, 8):
            sample[f"image_{k}"] = f"image_{k}" if k <= images else None
        samples.append(sample)
    return samples


VLMEVALKIT_DRIVER = r"""
import json, os, sys
checkout, spec_path, work, out_path = sys.argv[1:5]
os.environ['LMUData'] = os.path.join(work, 'LMUData')
os.makedirs(os.environ['LMUData'], exist_ok=True)
sys.path.insert(0, checkout)
import pandas as pd
from vlmeval.smp import dump
from vlmeval.dataset import build_dataset, DATASET_CLASSES
out = {}
for name, rows in json.load(open(spec_path)).items():
    dump(pd.DataFrame(rows), os.path.join(os.environ['LMUData'], name + '.tsv'))
    for cls in DATASET_CLASSES:
        if name in getattr(cls, 'DATASET_MD5', {}):
            del cls.DATASET_MD5[name]
    dataset = build_dataset(name)
    out[name] = {}
    for i in range(len(dataset.data)):
        line = dataset.data.iloc[i]
        out[name][str(line['index'])] = [
            dict(type=m['type'], value=os.path.relpath(m['value'], dataset.img_root)
                 if m['type'] == 'image' else m['value']) for m in dataset.build_prompt(line)]
json.dump(out, open(out_path, 'w'), ensure_ascii=False)
"""

MMMU_DRIVER = r"""
import json, sys
mmmu, spec_path, out_path = sys.argv[1:4]
sys.path.insert(0, mmmu)
from utils.data_utils import load_yaml, process_single_sample, construct_prompt
config = load_yaml(mmmu + '/configs/llava1.5.yaml')
for key, value in config.items():  # as run_llava.py unwraps its config
    if key != 'eval_params' and type(value) == list:
        assert len(value) == 1
        config[key] = value[0]
out = []
for data in json.load(open(spec_path)):
    sample = construct_prompt(process_single_sample(data), config)
    out.append({'prompt': sample['final_input_prompt'], 'image': sample['image']})
json.dump(out, open(out_path, 'w'), ensure_ascii=False)
"""


def _run(python, driver, args, tmp: Path):
    (tmp / "driver.py").write_text(driver)
    subprocess.run([python, str(tmp / "driver.py"), *map(str, args)], check=True, cwd=tmp,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _clean(row: dict) -> dict:
    return {k: (v.replace(PIXEL, "<png>") if isinstance(v, str) else v) for k, v in row.items()}


def _interpreter(python: str) -> str:
    return subprocess.run([python, "-c", "import sys; print('CPython', sys.version.split()[0])"],
                          check=True, capture_output=True, text=True).stdout.strip()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--vlmevalkit", type=Path, required=True)
    parser.add_argument("--vlmevalkit-python", required=True)
    parser.add_argument("--mmmu", type=Path, required=True)
    parser.add_argument("--mmmu-python", required=True)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent)
    args = parser.parse_args(argv)
    rng = random.Random(SEED)
    rows = vlmevalkit_rows(rng)
    samples = mmmu_samples(rng)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "spec.json").write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
        _run(args.vlmevalkit_python, VLMEVALKIT_DRIVER,
             [args.vlmevalkit, tmp / "spec.json", tmp, tmp / "out.json"], tmp)
        prompts = json.loads((tmp / "out.json").read_text(encoding="utf-8"))
        (tmp / "samples.json").write_text(json.dumps(samples, ensure_ascii=False), "utf-8")
        _run(args.mmmu_python, MMMU_DRIVER,
             [args.mmmu / "mmmu", tmp / "samples.json", tmp / "mmmu_out.json"], tmp)
        mmmu_prompts = json.loads((tmp / "mmmu_out.json").read_text(encoding="utf-8"))

    def vlmevalkit_block(name):
        return {"source": {"repo": "open-compass/VLMEvalKit", "commit": VLMEVALKIT_COMMIT,
                           "dataset": name, "entry": "build_dataset(name).build_prompt(row)",
                           "interpreter": _interpreter(args.vlmevalkit_python), "seed": SEED},
                "cases": [{"row": _clean(row), "messages": prompts[name].get(str(row["index"]))}
                          for row in rows[name]]}

    files = {
        "ai2d_prompts.json": vlmevalkit_block("AI2D_TEST"),
        "scienceqa_prompts.json": vlmevalkit_block("ScienceQA_TEST"),
        "realworldqa_prompts.json": vlmevalkit_block("RealWorldQA"),
        "mmbench_prompts.json": {"en": vlmevalkit_block("MMBench_DEV_EN"),
                                 "cn": vlmevalkit_block("MMBench_DEV_CN")},
        "mmmu_prompts.json": {
            "vlmevalkit": vlmevalkit_block("MMMU_DEV_VAL"),
            "mmmu": {"source": {"repo": "MMMU-Benchmark/MMMU", "commit": MMMU_COMMIT,
                                "entry": "construct_prompt(process_single_sample(row), "
                                         "configs/llava1.5.yaml as run_llava.py unwraps it)",
                                "interpreter": _interpreter(args.mmmu_python), "seed": SEED},
                     "cases": [{"sample": s, "prompt": p["prompt"], "image": p["image"]}
                               for s, p in zip(samples, mmmu_prompts)]},
        },
    }
    for name, data in files.items():
        (args.out / name).write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n",
                                     encoding="utf-8")
        print("wrote", args.out / name)


if __name__ == "__main__":
    main()
