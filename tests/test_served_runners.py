"""Every runner works with a served model: captions for the CLIP comparison, video tasks,
gates and rescoring of a served run."""
import json

import yaml

from runners.cli import main
from tests.served_stub import StubServer


def echo_backend(prompt, images, max_new):
    word = "blue" if "color" in prompt else "a red bus"
    return word, [(1, word)]


def served(stub, out, *extra):
    return ["model=served", f"model.endpoint={stub.url}", f"output_dir={out}", *extra]


def test_captions_for_the_clip_comparison(tmp_path):
    with StubServer("openai", echo_backend) as stub:
        assert main(served(stub, tmp_path, "task=coco_caption")) == 0
    captions = json.loads((tmp_path / "results" / "predict_result.json").read_text())
    assert captions and set(captions.values()) == {"a red bus"}


def test_video_goes_as_a_video_url_part(tmp_path):
    with StubServer("openai", echo_backend) as stub:
        assert main(served(stub, tmp_path, "task=videobench", "task.subjects=[MSVD]")) == 0
        parts = stub.requests[-1]["messages"][0]["content"]
    assert [p["type"] for p in parts] == ["video_url", "text"]
    assert parts[0]["video_url"]["url"].startswith("data:video/mp4;base64,")


def test_gate_and_rescoring_of_a_served_run(tmp_path):
    baseline = tmp_path / "baseline.yaml"
    baseline.write_text(yaml.safe_dump({"served": {"textvqa": {"accuracy": {"min": 99}}}}))
    run = tmp_path / "run"
    with StubServer("openai", echo_backend) as stub:
        assert main(served(stub, run, "task=textvqa", f"gate.baseline={baseline}")) == 3
    assert (run / "results" / "junit.xml").is_file()
    rescored = tmp_path / "rescored"
    assert main(["runner=score", "task=textvqa",
                 f"runner.predictions={run / 'debug' / 'samples.jsonl'}",
                 f"output_dir={rescored}"]) == 0
    metrics = lambda folder: json.loads(  # noqa: E731
        (folder / "results" / "summary.json").read_text())["metrics"]
    assert metrics(rescored) == metrics(run)
    assert metrics(run)["overall"]["accuracy"] > 0      # "blue" is right on some samples
