"""Each task's default prompt is the one VLMEvalKit's build_prompt built for the recorded rows
(tests/golden/<benchmark>_prompts.json, recorded by running VLMEvalKit unmodified): the rows are
written as the TSV users hold and read through the task's own format, template and prompt hook
(the real loader), and every prompt and image must equal the recorded message list."""
import pytest

from golden_files import digest, load, write_tsv
from inference.image_markers import place
from modeltest.tasks import load_samples
from runners.config import compose, to_container

BLOCKS = [("ai2d", "ai2d_prompts.json", None), ("scienceqa", "scienceqa_prompts.json", None),
          ("realworldqa", "realworldqa_prompts.json", None),
          ("mmbench", "mmbench_prompts.json", "en"), ("mmbench", "mmbench_prompts.json", "cn"),
          ("mmmu", "mmmu_prompts.json", "vlmevalkit")]


def _samples(task: str, tsv, tmp_path, template: str | None = None):
    cfg = to_container(compose([f"task={task}", f"task.local_dataset_path={tsv}"]))["task"]
    samples, _ = load_samples(cfg, template or cfg["prompt_template"], tmp_path / "media")
    return {s.question_id: s for s in samples}


def _expected_image(rows, number, images, position=0) -> bytes:
    """The bytes of a row's image: its own, or those of the row whose index it names."""
    value = rows[number]["image"]
    if value == "<png>" or value.startswith("["):
        return images[(number, position)]
    owner = next(i for i, row in enumerate(rows) if str(row["index"]) == value)
    return images[(owner, 0)]


@pytest.mark.parametrize("task, golden, part", BLOCKS, ids=lambda x: str(x))
def test_default_prompt_is_vlmevalkits_through_the_loader(task, golden, part, tmp_path):
    block = load(golden)[part] if part else load(golden)
    cases = block["cases"]
    rows = [case["row"] for case in cases]
    images = write_tsv(tmp_path / "data.tsv", rows)
    samples = _samples(task, tmp_path / "data.tsv", tmp_path)
    assert len(samples) == len(cases) >= 20
    for number, case in enumerate(cases):
        row, messages = case["row"], case["messages"]
        sample = samples[row["index"]]
        if task != "mmmu":     # the images, then one text
            assert [m["type"] for m in messages] == ["image", "text"]
            assert sample.prompt == messages[1]["value"], row
            assert [digest(p) for p in sample.images] == [
                digest(_expected_image(rows, number, images))]
            continue
        # MMMU: the prompt keeps the <image k> marks; placed, they give the recorded messages
        assert sample.image_markers
        names = eval(row["image_path"]) if row["image_path"].startswith("[") \
            else [row["image_path"]]
        pieces, shown = place(sample.prompt, sample.images)
        if not any(isinstance(p, int) for p in pieces):     # no mark: images in front
            pieces, shown = [*range(len(sample.images)), sample.prompt], sample.images
        ours = [{"type": "text", "value": p} if isinstance(p, str)
                else {"type": "image", "value": digest(shown[p])} for p in pieces]
        recorded = [m if m["type"] == "text" else
                    {"type": "image", "value": digest(images[(number, names.index(m["value"]))])}
                    for m in messages]
        assert ours == recorded, row


def test_a_models_own_prompt_still_replaces_the_tasks(tmp_path):
    from runners.evaluation import prompt_template

    rows = load("ai2d_prompts.json")["cases"][:3]
    write_tsv(tmp_path / "data.tsv", [case["row"] for case in rows])
    own = "{question}\n{option_lines}\nAnswer with the option's letter from the given choices " \
          "directly."
    cfg = to_container(compose(["task=ai2d", "model=demo_qwen2_vl"]))
    cfg["model"]["prompts"] = {"ai2d": own}      # as a model yaml's prompts.ai2d
    assert prompt_template(cfg) == own
    samples = _samples("ai2d", tmp_path / "data.tsv", tmp_path, prompt_template(cfg))
    first = samples[rows[0]["row"]["index"]]
    assert first.prompt.startswith(rows[0]["row"]["question"] + "\nA. ")
    assert first.prompt.endswith("\nAnswer with the option's letter from the given choices "
                                 "directly.")
