"""Record how VLMEvalKit's model wrappers lay out a question of several images, for the MMMU
messages of tests/golden/mmmu_prompts.json (what VLMEvalKit's MMMU build_prompt gave: text and
images interleaved where the question's <image k> stood).

    python tests/golden/build/record_image_layouts.py <open-compass/VLMEvalKit checkout at
        e8e78f0> --python <a python that imports vlmeval.vlm> [--out tests/golden]

For each message list the driver below calls, unmodified, from the checkout:
- `vlmeval.vlm.internvl.utils.reorganize_prompt(message, image_num, dataset="MMMU_DEV_VAL")`
  (InternVLChat.generate_v2's prompt; its images are the message's images in order);
- `DeepSeekVL.prepare_inputs(message)` (the conversation's content and images);
- `DeepSeekVL2.prepare_inputs(message, dataset=None)` (its layout for any dataset; for
  "MMMU_DEV_VAL" it has a special one, also recorded, with its prompt rewrites);
- `Qwen2VLChat._prepare_content(message, dataset="MMMU_DEV_VAL")` (the content list it hands
  the chat template), with the pixel settings unset;
- `BaseModel.message_to_promptimg(message)` (a wrapper that cannot interleave: the texts
  joined, the first image).
The methods are called with a plain object as `self` where they read nothing from it (the
wrappers' constructors load checkpoints). Image paths are files made for the call and recorded
by their names. Nothing of the official code is copied; this file only writes inputs and reads
outputs.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
from pathlib import Path

VLMEVALKIT_COMMIT = "e8e78f05f3080fe28154f2130321f17951c3be94"

DRIVER = r'''
import json, os, sys, types, warnings
warnings.filterwarnings("ignore")
checkout, folder, cases_file, out_file = sys.argv[1:5]
sys.path.insert(0, checkout)
from vlmeval.vlm.base import BaseModel
from vlmeval.vlm.deepseek_vl import DeepSeekVL
from vlmeval.vlm.deepseek_vl2 import DeepSeekVL2
from vlmeval.vlm.internvl.utils import reorganize_prompt
from vlmeval.vlm.qwen2_vl.model import Qwen2VLChat

def name_of(path):
    return os.path.basename(path[len("file://"):] if path.startswith("file://") else path)

records = []
for messages in json.load(open(cases_file)):
    for m in messages:
        if m["type"] == "image":
            path = os.path.join(folder, m["value"])
            open(path, "wb").close()
            m["value"] = path
    images = [m["value"] for m in messages if m["type"] == "image"]
    record = {"image_num": len(images)}
    record["internvl"] = {"prompt": reorganize_prompt([dict(m) for m in messages], len(images),
                                                      dataset="MMMU_DEV_VAL"),
                          "images": [name_of(p) for p in images]}
    conversation = DeepSeekVL.prepare_inputs(None, [dict(m) for m in messages])
    record["deepseek_vl"] = {"content": conversation[0]["content"],
                             "images": [name_of(p) for p in conversation[0]["images"]]}
    for key, dataset in (("deepseek_vl2", None), ("deepseek_vl2_mmmu", "MMMU_DEV_VAL")):
        conversation = DeepSeekVL2.prepare_inputs(None, [dict(m) for m in messages], dataset)
        record[key] = {"content": conversation[0]["content"],
                       "images": [name_of(p) for p in conversation[0]["images"]]}
    settings = types.SimpleNamespace(min_pixels=None, max_pixels=None, total_pixels=None,
                                     fps=None, nframe=None)
    content = Qwen2VLChat._prepare_content(settings, [dict(m) for m in messages],
                                           dataset="MMMU_DEV_VAL")
    record["qwen2_vl"] = [{"type": "image", "image": name_of(c["image"])}
                          if c["type"] == "image" else c for c in content]
    base = types.SimpleNamespace(INTERLEAVE=False)
    prompt, image = BaseModel.message_to_promptimg(base, [dict(m) for m in messages])
    record["first_in_front"] = {"prompt": prompt, "image": name_of(image) if image else None}
    records.append(record)
json.dump(records, open(out_file, "w"), ensure_ascii=False)
'''


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("vlmevalkit", type=Path)
    parser.add_argument("--python", required=True)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent)
    args = parser.parse_args()
    golden = json.loads((args.out / "mmmu_prompts.json").read_text(encoding="utf-8"))
    cases = golden["vlmevalkit"]["cases"]
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        (folder / "driver.py").write_text(DRIVER)
        (folder / "cases.json").write_text(json.dumps([c["messages"] for c in cases]))
        subprocess.run([args.python, str(folder / "driver.py"), str(args.vlmevalkit.resolve()),
                        str(folder), str(folder / "cases.json"), str(folder / "out.json")],
                       check=True, cwd=scratch)
        layouts = json.loads((folder / "out.json").read_text())
    result = {
        "source": {"repo": "open-compass/VLMEvalKit", "commit": VLMEVALKIT_COMMIT,
                   "entry": "reorganize_prompt (InternVL), DeepSeekVL.prepare_inputs, "
                            "DeepSeekVL2.prepare_inputs, Qwen2VLChat._prepare_content, "
                            "BaseModel.message_to_promptimg on the messages of "
                            "mmmu_prompts.json['vlmevalkit']",
                   "interpreter": "CPython 3.11.7"},
        "cases": [{"row": case["row"], "messages": case["messages"], **layout}
                  for case, layout in zip(cases, layouts)],
    }
    (args.out / "mmmu_image_layouts.json").write_text(
        json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"{len(cases)} cases -> {args.out / 'mmmu_image_layouts.json'}")


if __name__ == "__main__":
    main()
