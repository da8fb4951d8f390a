"""Every demo family records what its model was given (inference.fingerprints): a sample's
fingerprint is its own (the same at batch 1 and batch 4, whatever else shares its batch) and
agrees with the files and the prompt ids it describes."""
import json
from pathlib import Path

import pytest

from inference.fingerprints import expand_runs, sha256_json
from inference.media import load_image
from runners.cli import main

FIELDS = {"image_sizes", "pixel_sha256", "prompt_ids_sha256", "vision_tokens", "prompt_tokens",
          "input_ids"}


def run(out: Path, model: str, task: str, batch: int) -> dict:
    assert main([f"model={model}", f"task={task}", "task.limit=5",
                 f"runtime.batch_size={batch}", f"output_dir={out}"]) == 0
    lines = (out / "debug" / "samples.jsonl").read_text().splitlines()
    return {str(r["question_id"]): r for r in map(json.loads, lines)}


@pytest.mark.parametrize("model,task", [("demo_internvl", "textvqa"),
                                        ("demo_deepseek_vl", "textvqa"),
                                        ("demo_deepseek_vl2", "textvqa"),
                                        ("demo_vlmo", "vqav2"),
                                        ("demo_qwen2_vl", "videobench")])
def test_a_sample_fingerprint_is_its_own(model, task, tmp_path):
    alone, batched = run(tmp_path / "b1", model, task, 1), run(tmp_path / "b4", model, task, 4)
    assert set(alone) == set(batched)
    for qid, record in alone.items():
        fingerprint = record["input"]
        assert fingerprint == batched[qid]["input"]
        assert FIELDS <= set(fingerprint)
        ids = expand_runs(fingerprint["input_ids"])
        assert len(ids) == fingerprint["prompt_tokens"]
        assert sha256_json(ids) == fingerprint["prompt_ids_sha256"]
        assert fingerprint["vision_tokens"] > 0
        assert fingerprint["image_sizes"] == [list(load_image(p).size) for p in record["images"]]
        if record["video"]:
            count, width, height = fingerprint["video_frames"]
            assert count > 0 and width > 0 and height > 0
    # different samples were given different pixels or prompts
    assert len({r["input"]["prompt_ids_sha256"] for r in alone.values()}) > 1
