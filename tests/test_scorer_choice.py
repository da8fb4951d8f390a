"""Reading the chosen option of Video-Bench answers, and the benchmark's group scores."""
import pytest

from modeltest.samples import Sample
from modeltest.scorers import get_scorer
from modeltest.scorers.aggregate import aggregate
from modeltest.scorers.choice_extraction import extract_choice, read_choice
from modeltest.scorers.aggregate import group_scores

CHOICES = {"A": "a dog running", "B": "a cat sleeping", "C": "red car", "D": "dark red car"}


@pytest.mark.parametrize("answer, expected", [
    ("B", "B"), ("(B)", "B"), ("B.", "B"), ("B)", "B"), ("B. a cat sleeping", "B"),
    ("Answer: B", "B"), ("the answer is B", "B"), ("The answer is C because of the car", "C"),
    ("option B", "B"), ("**B**", "B"), ("The correct option is **C**.", "C"), ("b", "B"),
    ("答案是B", "B"), ("答案：C", "C"), ("a cat sleeping", "B"), ("dark red car", "D"),
    ("I think the answer is (D)", "D"), ("A", "A"), ("A.", "A"),
    # one option letter asserted in a sentence
    ("I think it is B", "B"), ("ASSISTANT: B", "B"), ("It is C.", "C"), ("C is correct", "C"),
    ("Among the options, B", "B"), ("Among the four options, the closest is D.", "D"),
    # an option's text, whatever its case, punctuation and articles
    ("A Cat Sleeping!", "B"), ("The dog running.", "A"), ("DARK RED CAR", "D"),
])
def test_readable_choices(answer, expected):
    assert extract_choice(answer, CHOICES) == expected


@pytest.mark.parametrize("answer", [
    "A man is cooking in the kitchen", "I am not sure", "The answer is a man", "E", "",
    "something else entirely",
    # several options named
    "A, B", "A or B", "Answer: A, B", "(A) and (C)", "B/C", "It is B, not C",
])
def test_unreadable_choices(answer):
    assert extract_choice(answer, CHOICES) is None


def test_option_text_with_a_period_and_other_case():
    choices = {"A": "the baby is crawling", "B": "the baby is sleeping"}
    assert extract_choice("The baby is crawling.", choices) == "A"


def test_similarity_fallback_is_optional_and_counted_separately():
    sample = Sample("q1", "MSVD", "p", choices=CHOICES, references=["B"])
    strict, similar = get_scorer("choice"), get_scorer("choice",
                                                           {"choice_fallback": "similarity"})
    assert strict.variant == "strict" and similar.variant.startswith("similarity")
    answers = ["B", "the cat is sleeping", "a cat sleeping", "no idea", "C"]
    records = {}
    for name, scorer in (("strict", strict), ("similarity", similar)):
        records[name] = []
        for answer in answers:
            scored = scorer.score(answer, sample)
            records[name].append({"subject": "MSVD", "score": scored.score, "error": None,
                                  "extra": scored.extra})
    assert [r["score"] for r in records["strict"]] == [1.0, 0.0, 1.0, 0.0, 0.0]
    assert [r["score"] for r in records["similarity"]] == [1.0, 1.0, 1.0, 0.0, 0.0]
    overall = aggregate(records["similarity"], similar)["overall"]
    assert (overall["read_by_letter"], overall["read_by_text"], overall["read_by_similarity"],
            overall["unparsed"]) == (2, 1, 1, 1)
    assert aggregate(records["strict"], strict)["overall"]["unparsed"] == 2
    # below the threshold, or tied between options: no reading
    assert read_choice("something", CHOICES, "similarity") == (None, None)
    assert read_choice("red", {"A": "red car", "B": "red bus"}, "similarity") == (None, None)
    assert read_choice("red", CHOICES, "similarity") == ("C", "similarity")
    with pytest.raises(KeyError, match="choice_fallback"):
        get_scorer("choice", {"choice_fallback": "judge"})


def test_unparsed_answers_are_wrong_and_counted():
    scorer = get_scorer("choice")
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


def videobench_groups():
    """The groups and weights as conf/task/videobench.yaml declares them."""
    from runners.config import compose, to_container
    return to_container(compose(["task=videobench"]))["task"]["aggregation"]["groups"]


def test_group_weights_and_final_score():
    accuracy = {"ActivityNet": 40.0, "MOT": 100.0, "TVQA": 50.0, "Driving-exam": 20.0,
                "SQA3D": 80.0}
    result = group_scores(accuracy, videobench_groups())
    # MOT and Driving-exam weigh 0.5
    assert result["groups"]["Video-exclusive understanding"] == pytest.approx((40 + 50) / 1.5)
    assert result["groups"]["Prior-knowledge question answering"] == pytest.approx(50.0)
    assert result["groups"]["Comprehension and decision-making"] == pytest.approx(
        (10 + 80) / 1.5)
    assert result["final"] == pytest.approx(sum(result["groups"].values()) / 3)
    assert "MSVD" in result["missing"]


def test_final_score_averages_only_the_groups_run():
    result = group_scores({"MSVD": 60.0, "TGIF": 40.0}, videobench_groups())
    assert list(result["groups"]) == ["Video-exclusive understanding"]
    assert result["final"] == pytest.approx(50.0)
