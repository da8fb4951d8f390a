"""VQA v2 accuracy against the behaviour of GT-Vision-Lab's vqaEval.py, quirks included."""
import pytest

from modeltest.scorers.answer_normalization import (process_digit_article,
                                                    process_punctuation)
from modeltest.scorers.vqav2 import exact_membership_accuracy, vqa_v2_accuracy


@pytest.mark.parametrize("matches, expected", [(0, 0.0), (1, 0.3), (2, 0.6), (3, 0.9),
                                               (4, 1.0), (10, 1.0)])
def test_leave_one_out_match_counts(matches, expected):
    answers = ["cat"] * matches + ["dog"] * (10 - matches)
    if matches == 10:
        answers = ["cat"] * 10
    assert vqa_v2_accuracy("cat", answers) == pytest.approx(expected)


def test_prediction_is_always_normalised():
    # all ten references identical and already clean: the prediction is still processed
    assert vqa_v2_accuracy("Yes.", ["yes"] * 10) == 1.0
    assert vqa_v2_accuracy("The Dog", ["dog"] * 10) == 1.0


def test_identical_references_are_not_normalised():
    # official quirk: "t-shirt" x10 is compared raw, while the prediction becomes "t shirt"
    assert vqa_v2_accuracy("t-shirt", ["t-shirt"] * 10) == 0.0
    # with varied references they get the punctuation step and match
    assert vqa_v2_accuracy("t-shirt", ["t-shirt"] * 9 + ["shirt"]) == 1.0


def test_references_get_only_the_punctuation_step():
    # the prediction "two" becomes "2"; varied references keep the word "two"
    assert vqa_v2_accuracy("two", ["two"] * 5 + ["2"] * 5) == 1.0  # matches the five "2"s
    assert vqa_v2_accuracy("two", ["two"] * 8 + ["three"] * 2) == 0.0
    assert vqa_v2_accuracy("2", ["2"] * 8 + ["3"] * 2) == 1.0


def test_punctuation_rules():
    # a mark touching a space is deleted, otherwise it becomes a space
    assert process_punctuation("yes !") == "yes "
    assert process_punctuation("black/white") == "black white"
    # a digit-comma-digit group anywhere deletes every mark instead of spacing it
    assert process_punctuation("1,000 red-blue") == "1000 redblue"
    # periods go unless a digit follows
    assert process_punctuation("3.5 ft.") == "3.5 ft"
    assert process_punctuation("mr. smith") == "mr smith"


def test_period_pattern_replaces_at_most_32():
    # re.UNICODE (32) sits in re.sub's count position in the official call
    assert process_punctuation("." * 40) == "." * 8


def test_digit_article_contraction_step():
    assert process_digit_article("A Dog and TWO cats") == "dog and 2 cats"
    assert process_digit_article("dont know") == "don't know"
    assert process_digit_article("none") == "0"
    # the original table's typo is kept
    assert process_digit_article("somebody'd") == "somebodyd"


def test_newlines_and_tabs_become_spaces():
    assert vqa_v2_accuracy("  red\n", ["red"] * 10) == 1.0
    assert vqa_v2_accuracy("red\tcar", ["red car"] * 4 + ["car"] * 6) == 1.0


def test_exact_membership_is_the_seed_number():
    assert exact_membership_accuracy("cat", ["cat"] + ["dog"] * 9) == 1.0
    assert vqa_v2_accuracy("cat", ["cat"] + ["dog"] * 9) == pytest.approx(0.3)
    assert exact_membership_accuracy("bird", ["cat"] * 10) == 0.0
