"""A question that marks where its images go (`<image k>`, MMMU) reaches each model family laid
out as VLMEvalKit's wrapper of that family lays it out (tests/golden/mmmu_image_layouts.json,
recorded by running those wrappers unmodified on VLMEvalKit's own MMMU messages), and each demo
model's real inputs put the images there."""
import re

import pytest
import torch

from golden_files import digest, load, write_tsv
from inference import image_markers
from inference.requests import Request
from modeltest.tasks import load_samples
from runners.config import compose, to_container

LAYOUTS = load("mmmu_image_layouts.json")


@pytest.fixture(scope="module")
def golden_samples(tmp_path_factory):
    """The recorded MMMU rows as a TSV, read by the mmmu task's loader: (sample, the row's
    image file names, {(row, position): bytes}) per case."""
    folder = tmp_path_factory.mktemp("layouts")
    cases = LAYOUTS["cases"]
    images = write_tsv(folder / "MMMU_DEV_VAL.tsv", [c["row"] for c in cases])
    cfg = to_container(compose(["task=mmmu", f"task.local_dataset_path={folder}/MMMU_DEV_VAL.tsv"]))
    samples, _ = load_samples(cfg["task"], cfg["task"]["prompt_template"], folder / "media")
    by_id = {s.question_id: s for s in samples}
    found = []
    for number, case in enumerate(cases):
        path = case["row"]["image_path"]
        names = eval(path) if path.startswith("[") else [path]
        found.append((by_id[case["row"]["index"]], names,
                      {names[k]: digest(images[(number, k)]) for k in range(len(names))}))
    return found


def _layout(sample, layout):
    assert sample.image_markers
    pieces, shown = image_markers.placed(sample.prompt, sample.images, True, layout)
    return pieces, [digest(p) for p in shown]


def test_goldens_cover_repeats_skips_and_unmarked_questions():
    cases = LAYOUTS["cases"]
    assert len(cases) >= 40
    assert any(c["image_num"] == 1 for c in cases) and any(c["image_num"] > 3 for c in cases)
    assert any(c["messages"][0]["type"] == "image" for c in cases)   # no mark: in front
    shown = [c["internvl"]["images"] for c in cases]
    assert any(len(images) > len(set(images)) for images in shown)     # an image twice
    assert any("<Image-1>" not in c["internvl"]["prompt"] and c["image_num"] > 1 for c in cases)


@pytest.mark.parametrize("family, layout, placeholder", [
    ("deepseek_vl", image_markers.interleaved, "<image_placeholder>"),
    ("deepseek_vl2", image_markers.interleaved, "<image>\n"),
    ("internvl", image_markers.numbered_in_front, "<image>"),
])
def test_text_layouts_equal_vlmevalkits(golden_samples, family, layout, placeholder):
    for case, (sample, names, digests) in zip(LAYOUTS["cases"], golden_samples):
        recorded = case[family]
        text = recorded.get("content", recorded.get("prompt"))
        pieces, shown = _layout(sample, layout)
        assert image_markers.render(pieces, placeholder) == text, case["row"]
        assert shown == [digests[name] for name in recorded["images"]], case["row"]


def test_qwen2_vl_content_equals_vlmevalkits(golden_samples):
    for case, (sample, names, digests) in zip(LAYOUTS["cases"], golden_samples):
        pieces, shown = _layout(sample, image_markers.interleaved)
        recorded = [(c["type"], digests[c["image"]] if c["type"] == "image" else c["text"])
                    for c in case["qwen2_vl"] if c != {"type": "text", "text": ""}]
        ours = [(p["type"], shown[i] if p["type"] == "image" else p["text"])
                for p, i in zip(image_markers.content_parts(pieces), _image_positions(pieces))]
        assert ours == recorded, case["row"]


def _image_positions(pieces):
    """For content_parts' output (empty texts dropped): the shown image of each part."""
    return [p if isinstance(p, int) else None for p in pieces if p != ""]


def test_one_image_families_get_the_first_image_and_the_texts(golden_samples):
    for case, (sample, names, digests) in zip(LAYOUTS["cases"], golden_samples):
        pieces, shown = _layout(sample, image_markers.first_in_front)
        recorded = case["first_in_front"]
        assert image_markers.render(pieces, "") == recorded["prompt"], case["row"]
        assert shown == [digests[recorded["image"]]]


def test_marks_are_read_as_the_official_split_reads_them():
    assert image_markers.place("a <image 2> b <image 2>", ["x", "y"]) == \
        (["a ", 0, " b ", 1, ""], ["y", "y"])
    assert image_markers.placed("no marks", ["x", "y"], True, image_markers.interleaved) == \
        ([0, 1, "no marks"], ["x", "y"])
    assert image_markers.placed("<image 1>", ["x"], False, image_markers.interleaved) == \
        (None, ["x"])     # an unmarked request keeps "<image 1>" as text
    with pytest.raises(ValueError, match=r"<image 3> but has 2"):
        image_markers.place("<image 3>", ["x", "y"])
    # InternVL: images that all stood together lose their "<Image-k>" run
    pieces, _ = image_markers.numbered_in_front(["", 0, "", 1, " text"], ["x", "y"])
    assert image_markers.render(pieces, "<image>") == \
        "Image-1: <image>\nImage-2: <image>\n text"


# -- the demo models: each family's real inputs ---------------------------------------------------
QUESTION = "Compare <image 2> with <image 1>: which is <image 2>?"
EXPECTED = {   # the decoded prompt, each image's tokens collapsed to [IMG]
    "demo_qwen2_vl": "Compare <|vision_start|>[IMG]<|vision_end|> with "
                     "<|vision_start|>[IMG]<|vision_end|>: which is "
                     "<|vision_start|>[IMG]<|vision_end|>?",
    "demo_internvl": "Image-1: <img>[IMG]</img>\nImage-2: <img>[IMG]</img>\nImage-3: "
                     "<img>[IMG]</img>\nCompare <Image-1> with <Image-2>: which is <Image-3>?",
    "demo_deepseek_vl": "Compare [IMG] with [IMG]: which is [IMG]?",
    "demo_deepseek_vl2": "Compare [IMG]\n with [IMG]\n: which is [IMG]\n?",
}
IMAGE_TOKENS = r"(<\|image_pad\|>|<IMG_CONTEXT>|<image_placeholder>|<image>)"


def _decoded(adapter, prepared) -> str:
    inputs = adapter.build_inputs([prepared])
    ids = inputs.prompt_ids[0] if hasattr(inputs, "prompt_ids") else inputs["input_ids"][0].tolist()
    text = adapter.tokenizer.decode(ids)
    return re.sub(IMAGE_TOKENS + r"+", "[IMG]", text)


@pytest.mark.parametrize("model", list(EXPECTED) + ["demo_vlmo"])
def test_demo_models_put_the_images_where_the_family_does(model, tmp_path):
    from PIL import Image

    from conftest import model_config
    from runners.demo import ensure_demo_model
    from runners.models import create_adapter

    cfg = model_config(model)
    ensure_demo_model(cfg["model_path"])
    adapter = create_adapter(cfg, "cpu", torch.float32)
    paths = []
    for k, size in enumerate([(64, 48), (40, 72)]):
        paths.append(str(tmp_path / f"{k}.png"))
        Image.new("RGB", size, (40 * k, 90, 200)).save(paths[-1])
    marked = adapter.prepare(Request("m", QUESTION, paths, None, 4, image_markers=True))
    plain = adapter.prepare(Request("p", QUESTION, paths, None, 4))
    if model == "demo_vlmo":    # one image: the first shown, the texts joined by newlines
        assert marked.pieces == [0, "Compare \n with \n: which is \n?"]
        assert adapter.build_inputs([marked]).pixels.shape[0] == 1
        assert adapter.generate([marked], 1).texts[0]
        return
    shown = [image.size for image in marked.images]
    assert len(shown) == 3 and shown[0] == shown[2] != shown[1]   # image 2, image 1, image 2
    assert EXPECTED[model] in _decoded(adapter, marked)
    assert "<image 2>" in adapter.tokenizer.decode(
        adapter.build_inputs([plain]).prompt_ids[0] if model == "demo_deepseek_vl2"
        else adapter.build_inputs([plain])["input_ids"][0].tolist())   # unmarked: text
    generation = adapter.generate([marked, plain], 3)
    assert len(generation.texts) == 2


def test_an_original_layout_internvl_checkpoint_gets_the_numbered_layout(tmp_path):
    """InternVL in the OpenGVLab layout (tests/fixtures): chat()'s prompt with each image's
    tiles where "Image-k: <image>" stands. The adapter's prepare and build_inputs run with the
    checkpoint's own processor; its weights are not needed for the inputs (and take 13 s)."""
    import json
    from pathlib import Path

    from PIL import Image

    from inference.models.internvl.adapter import OriginalInternVLAdapter
    from inference.models.internvl.processor import OriginalProcessor, OriginalSettings
    from inference.models.internvl.tokenizer import load_tokenizer

    folder = Path(__file__).parent / "fixtures" / "internvl2_internlm2"
    adapter = OriginalInternVLAdapter.__new__(OriginalInternVLAdapter)
    adapter.processor = OriginalProcessor(load_tokenizer(folder), OriginalSettings.read(
        json.loads((folder / "config.json").read_text()), {}))
    paths = []
    for k in range(2):
        paths.append(str(tmp_path / f"{k}.png"))
        Image.new("RGB", (60 + 20 * k, 40), (90, 40 * k, 10)).save(paths[-1])
    prepared = adapter.prepare(Request("m", QUESTION, paths, None, 4, image_markers=True))
    inputs = adapter.build_inputs([prepared])
    settings = adapter.processor.settings
    tiles = [settings.pixels(image).shape[0] for image in prepared.images]
    prompt = adapter.processor.prompt(adapter._question(prepared), tiles)
    user = prompt.split("<|im_start|>user\n")[1]
    tile = "<IMG_CONTEXT>" * settings.tokens_per_tile
    assert user.startswith("".join(f"Image-{k + 1}: <img>{tile * n}</img>\n"
                                   for k, n in enumerate(tiles))
                           + "Compare <Image-1> with <Image-2>: which is <Image-3>?<|im_end|>")
    context = adapter.processor.tokenizer.convert_tokens_to_ids("<IMG_CONTEXT>")
    assert int((inputs["input_ids"] == context).sum()) == settings.tokens_per_tile * sum(tiles)
    assert adapter.processor.tokenizer.decode(inputs["input_ids"][0].tolist()).count(
        "Image-") == 6


def test_a_served_model_gets_the_images_where_the_question_marks_them(tmp_path):
    """OpenAI content parts and MindIE's inputs in the marked order, images as data URLs."""
    from PIL import Image

    from inference.served.apis.mindie import MindieApi
    from inference.served.prompts import ServedCall, content_parts, media_url

    paths = []
    for k in range(2):
        paths.append(str(tmp_path / f"{k}.png"))
        Image.new("RGB", (8, 8 + k)).save(paths[-1])
    pieces, shown = image_markers.placed(QUESTION, paths, True, image_markers.interleaved)
    call = ServedCall("m", QUESTION, [media_url(p) for p in shown], pieces=pieces)
    parts = content_parts(call)
    assert [p["type"] for p in parts] == ["text", "image_url", "text", "image_url", "text",
                                          "image_url", "text"]
    assert [p["image_url"]["url"] for p in parts if p["type"] == "image_url"] == \
        [media_url(paths[1]), media_url(paths[0]), media_url(paths[1])]
    from inference.served.apis.base import Options

    api = MindieApi(None, {})     # no client: only the request body is built
    _, payload = api.request(call, Options(4, []))
    assert [i["type"] for i in payload["inputs"]] == [p["type"] for p in parts]
