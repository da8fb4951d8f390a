"""The default prompts VLMEvalKit builds for DocVQA, InfoVQA, ChartQA, OCRBench, MME and POPE.

tests/golden/<benchmark>_prompts.json hold generated TSV rows (in the column layout of
VLMEvalKit's file) and the message lists VLMEvalKit's own `dataset.build_prompt` made of them
(tests/golden/build/record_vlmevalkit_prompts.py). `DEFAULT_TEMPLATES` below is what a task
yaml must state as its default prompt template to give the same text: one image, then the
question, then (DocVQA, InfoVQA, ChartQA) the fixed suffix. When the task yamls exist, these
tests should read the template from `conf/task/<name>.yaml` instead of this table.
"""
import json
from pathlib import Path

import pytest

GOLDEN = Path(__file__).parent / "golden"
SUFFIX = "\nAnswer the question using a single word or phrase."
DEFAULT_TEMPLATES = {"docvqa": "{question}" + SUFFIX, "infovqa": "{question}" + SUFFIX,
                     "chartqa": "{question}" + SUFFIX, "ocrbench": "{question}",
                     "mme": "{question}", "pope": "{question}"}
COLUMNS = {"docvqa": ["index", "image", "question", "answer"],
           "infovqa": ["index", "image", "question", "answer"],
           "chartqa": ["index", "image", "question", "answer", "split"],
           "ocrbench": ["index", "image", "question", "answer", "category"],
           "mme": ["index", "image", "question", "answer", "category", "image_path"],
           "pope": ["index", "image", "question", "answer", "category"]}


def _load(name):
    data = json.loads((GOLDEN / f"{name}_prompts.json").read_text(encoding="utf-8"))
    assert data["source"]["repo"] == "open-compass/VLMEvalKit" and data["source"]["commit"]
    return data


@pytest.mark.parametrize("name", sorted(DEFAULT_TEMPLATES))
def test_default_template_gives_vlmevalkits_prompt(name):
    data = _load(name)
    assert data["columns"] == COLUMNS[name]
    assert len(data["cases"]) >= 8
    for case in data["cases"]:
        image, text = case["messages"]
        assert image["type"] == "image" and text["type"] == "text"
        assert text["value"] == DEFAULT_TEMPLATES[name].format(question=case["row"]["question"])


def test_prompt_rows_cover_the_awkward_questions():
    questions = [case["row"]["question"] for name in DEFAULT_TEMPLATES
                 for case in _load(name)["cases"]]
    assert any(q != q.strip() for q in questions)                  # whitespace is kept as is
    for fragment in ("\n", "\t", "图", '"'):
        assert any(fragment in q for q in questions), fragment


def test_yes_no_rows_share_an_image_by_index_as_the_tsvs_do():
    for name in ("mme", "pope"):
        cases = _load(name)["cases"]
        referring = [c for c in cases if len(c["row"]["image"]) <= 64]
        assert referring, name
    mme = _load("mme")["cases"]
    # MME's image file is named by image_path, so both questions of an image show the same file
    assert mme[0]["messages"][0]["value"] == mme[1]["messages"][0]["value"] == mme[0]["row"]["image_path"]
