"""The default prompts equal, message for message, what VLMEvalKit's build_prompt (and MMMU's own
construct_prompt) built for the rows in tests/golden/<benchmark>_prompts.json, recorded by
running that code unmodified (tests/golden/build/record_prompts.py)."""
import json
from pathlib import Path

import pytest

from modeltest.tasks import vlmevalkit_prompt

GOLDEN = Path(__file__).parent / "golden"


def _load(name):
    return json.loads((GOLDEN / name).read_text(encoding="utf-8"))


def _images(row):
    """The image file names VLMEvalKit's dump_image gives a row."""
    if "image_path" in row:
        paths = row["image_path"]
        return json.loads(paths.replace("'", '"')) if paths.startswith("[") else [paths]
    return [f"{row['index']}.png"]


def _blocks():
    for name in ("ai2d_prompts.json", "scienceqa_prompts.json", "realworldqa_prompts.json"):
        yield name, _load(name), False
    mmbench = _load("mmbench_prompts.json")
    yield "mmbench en", mmbench["en"], False
    yield "mmbench cn", mmbench["cn"], False
    yield "mmmu", _load("mmmu_prompts.json")["vlmevalkit"], True


@pytest.mark.parametrize("name, block, interleave", list(_blocks()), ids=lambda x: str(x)[:12])
def test_vlmevalkit_messages_equal_the_recorded_ones(name, block, interleave):
    assert len(block["cases"]) >= 20
    for case in block["cases"]:
        row = case["row"]
        ours = vlmevalkit_prompt.vlmevalkit_messages(row, _images(row), interleave)
        assert ours == case["messages"], (name, row)


def test_mmmu_own_prompt_equals_the_recorded_one():
    cases = _load("mmmu_prompts.json")["mmmu"]["cases"]
    for case in cases:
        sample = case["sample"]
        options = eval(sample["options"])  # the official code evals this field too
        prompt = vlmevalkit_prompt.mmmu_own_prompt(sample["question"], options,
                                                   sample["question_type"])
        assert prompt == case["prompt"], sample
        assert case["image"] == "image_1"  # only the first image, whatever the text refers to


def test_prompt_goldens_cover_the_layout_kinds():
    scienceqa = _load("scienceqa_prompts.json")["cases"]
    assert any("Hint: " in c["messages"][-1]["value"] for c in scienceqa)
    assert any(c["row"].get("hint") in ("None", "nan", "") for c in scienceqa)
    dropped = [c for c in scienceqa if "None" in c["row"].values()
               and "None\n" not in c["messages"][-1]["value"]]
    assert dropped  # an option "None" is no option for VLMEvalKit
    mmmu = _load("mmmu_prompts.json")["vlmevalkit"]["cases"]
    assert any(sum(m["type"] == "image" for m in c["messages"]) > 2 for c in mmmu)
    assert any(m["type"] == "image" and i > 1 for c in mmmu for i, m in enumerate(c["messages"]))
    assert any("A" not in c["row"] for c in mmmu)  # open questions: no options, no instruction
    mmbench = _load("mmbench_prompts.json")["en"]["cases"]
    assert any(c["row"]["index"] >= 1_000_000 for c in mmbench)
    with pytest.raises(ValueError, match="one digit"):
        vlmevalkit_prompt.interleave_images("see <image 12>", ["a.png"])
