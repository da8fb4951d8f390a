"""TextVQA accuracy against the EvalAI answer processor (MMF's m4c evaluator)."""
import pytest

from modeltest.scorers.textvqa import evalai_normalize, textvqa_accuracy
from modeltest.scorers.vqav2 import vqa_v2_accuracy


def test_references_are_always_normalised():
    # unlike vqaEval.py, identical references are processed too
    assert textvqa_accuracy("STOP", ["Stop"] * 10) == 1.0
    assert vqa_v2_accuracy("STOP", ["Stop"] * 10) == 0.0


def test_empty_prediction_goes_through_the_processor():
    # MMF scores "" like any string: it matches answers that normalise to "" ("a", "(a)")
    assert textvqa_accuracy("", ["a"] * 3 + ["(a)"] + ["b"] * 6) == 1.0
    assert textvqa_accuracy("", ["b"] * 10) == 0.0


def test_word_tokenize_step():
    assert evalai_normalize("1,000") == "1000"          # commas removed before punctuation
    assert evalai_normalize("what?") == "what"
    assert evalai_normalize("McDonald's") == "mcdonald 's"
    assert evalai_normalize("The Coca-Cola") == "coca cola"
    assert evalai_normalize("Two") == "2"


@pytest.mark.parametrize("matches, expected", [(1, 0.3), (2, 0.6), (3, 0.9), (4, 1.0)])
def test_leave_one_out(matches, expected):
    answers = ["nokia"] * matches + ["unanswerable"] * (10 - matches)
    assert textvqa_accuracy("Nokia", answers) == pytest.approx(expected)


def test_score_of_a_mixed_reference_set():
    answers = ["pepsi"] * 2 + ["pepsi cola"] * 7 + ["coke"]
    assert textvqa_accuracy("pepsi", answers) == pytest.approx(0.6)
    assert textvqa_accuracy("Pepsi-Cola", answers) == 1.0
