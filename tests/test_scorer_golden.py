"""Every adversarial case scores exactly what the OFFICIAL code gave it.

The cases and scores under tests/golden/ were recorded by running GT-Vision-Lab/VQA's
vqaEval.py (at a013f00 and at its parent, under Python 2.7) and MMF's
TextVQAAccuracyEvaluator; tests/golden/build/ regenerates them, tests/golden/HOW.md says how.
"""
import json
from pathlib import Path

import pytest

from modeltest.samples import Sample
from modeltest.scorers import get_scorer
from modeltest.tasks.document import Document
from modeltest.tasks.prompt import render_prompt
from modeltest.tasks.videobench import prompt_fields


def format_prompt(template, question, choices):
    """The prompt the videobench task builds for one question (its prompt hook included)."""
    return render_prompt(template, Document("q", question, choices=choices), prompt_fields)

GOLDEN = Path(__file__).parent / "golden"


def _cases(name):
    data = json.loads((GOLDEN / name).read_text(encoding="utf-8"))
    assert len(data["cases"]) >= 2000
    return data["cases"]


def _disagreements(scorer, cases):
    bad = []
    for number, (prediction, answers, official) in enumerate(cases):
        ours = scorer.score(prediction, Sample(number, "s", "p", references=answers)).score
        if abs(ours - official) > 1e-9:
            bad.append((number, prediction, answers, official, ours))
    return bad


@pytest.mark.parametrize("variant", ["current", "pre2021"])
def test_vqav2_matches_official_vqaeval(variant):
    scorer = get_scorer("vqav2", {"vqa_eval": variant})
    bad = _disagreements(scorer, _cases(f"vqav2_{variant}.json"))
    assert not bad, f"{len(bad)} disagreements, first: {bad[:3]}"


def test_vqav2_default_is_current():
    assert get_scorer("vqav2").variant == "current"
    assert get_scorer("vqav2", {"vqa_eval": None}).variant == "current"
    with pytest.raises(KeyError, match="task.vqa_eval=2019"):
        get_scorer("vqav2", {"vqa_eval": "2019"})


def test_textvqa_matches_official_mmf_evaluator():
    bad = _disagreements(get_scorer("textvqa"), _cases("textvqa_mmf.json"))
    assert not bad, f"{len(bad)} disagreements, first: {bad[:3]}"


def test_golden_cases_cover_the_adversarial_kinds():
    cases = _cases("vqav2_current.json") + _cases("textvqa_mmf.json")
    predictions = [c[0] for c in cases]
    answers = [a for c in cases for a in c[1]]
    texts = predictions + answers
    assert any(p == "" for p in predictions)
    assert any("\n" in t for t in texts) and any("\t" in t for t in texts)
    assert any(t.count(".") > 32 for t in texts)
    assert any(len(set(c[1])) == 1 for c in cases) and any(len(set(c[1])) > 5 for c in cases)
    assert any(not t.isascii() for t in texts)
    for word in ("two", "the dog", "dont", "3.5", "1,000", "t-shirt"):
        assert any(word in t for t in texts), word


@pytest.mark.parametrize("count", [2, 3, 4, 5, 6])
def test_videobench_prompt_equals_the_official_loop(count):
    data = json.loads((GOLDEN / "videobench_prompts.json").read_text(encoding="utf-8"))
    cases = [c for c in data["cases"] if len(c["choices"]) == count]
    assert cases
    for case in cases:
        assert format_prompt("{question}{choices}", case["question"], case["choices"]) \
            == case["prompt"]


def test_videobench_task_uses_the_official_prompt_by_default():
    from runners.config import compose, to_container
    task = to_container(compose(["task=videobench"]))["task"]
    case = json.loads((GOLDEN / "videobench_prompts.json").read_text(encoding="utf-8"))["cases"][-1]
    assert format_prompt(task["prompt_template"], case["question"], case["choices"]) \
        == case["prompt"]
