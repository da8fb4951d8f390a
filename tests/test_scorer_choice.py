"""Reading the chosen option of Video-Bench answers, and the benchmark's group scores."""
import pytest

from modeltest.samples import Sample
from modeltest.scorers import get_scorer
from modeltest.scorers.aggregate import aggregate
from modeltest.scorers.choice_extraction import extract_choice
from modeltest.scorers.videobench import group_scores

CHOICES = {"A": "a dog running", "B": "a cat sleeping", "C": "red car", "D": "dark red car"}


@pytest.mark.parametrize("answer, expected", [
    ("B", "B"), ("(B)", "B"), ("B.", "B"), ("B)", "B"), ("B. a cat sleeping", "B"),
    ("Answer: B", "B"), ("the answer is B", "B"), ("The answer is C because of the car", "C"),
    ("option B", "B"), ("**B**", "B"), ("The correct option is **C**.", "C"), ("b", "B"),
    ("答案是B", "B"), ("答案：C", "C"), ("a cat sleeping", "B"), ("dark red car", "D"),
    ("I think the answer is (D)", "D"), ("A", "A"), ("A.", "A"),
])
def test_readable_choices(answer, expected):
    assert extract_choice(answer, CHOICES) == expected


@pytest.mark.parametrize("answer", [
    "A man is cooking in the kitchen", "I am not sure", "The answer is a man", "E", "",
    "something else entirely",
])
def test_unreadable_choices(answer):
    assert extract_choice(answer, CHOICES) is None


def test_unparsed_answers_are_wrong_and_counted():
    scorer = get_scorer("videobench")
    sample = Sample("q1", "MSVD", "p", choices=CHOICES, references=["B"])
    records = []
    for answer in ["B", "A man is walking", "", "C"]:
        scored = scorer.score(answer, sample)
        records.append({"subject": "MSVD", "score": scored.score, "error": None,
                        "extra": scored.extra})
    assert [r["score"] for r in records] == [1.0, 0.0, 0.0, 0.0]
    metrics = aggregate(records, scorer)
    assert metrics["MSVD"]["unparsed"] == 2
    assert metrics["overall"]["accuracy"] == pytest.approx(25.0)


def test_group_weights_and_final_score():
    accuracy = {"ActivityNet": 40.0, "MOT": 100.0, "TVQA": 50.0, "Driving-exam": 20.0,
                "SQA3D": 80.0}
    result = group_scores(accuracy)
    # MOT and Driving-exam weigh 0.5
    assert result["groups"]["Video-exclusive understanding"] == pytest.approx((40 + 50) / 1.5)
    assert result["groups"]["Prior-knowledge question answering"] == pytest.approx(50.0)
    assert result["groups"]["Comprehension and decision-making"] == pytest.approx(
        (10 + 80) / 1.5)
    assert result["final"] == pytest.approx(sum(result["groups"].values()) / 3)
    assert "MSVD" in result["missing"]


def test_final_score_averages_only_the_groups_run():
    result = group_scores({"MSVD": 60.0, "TGIF": 40.0})
    assert list(result["groups"]) == ["Video-exclusive understanding"]
    assert result["final"] == pytest.approx(50.0)
