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


def test_current_identical_answers_are_compared_raw():
    # vqaEval.py since a013f00: ten identical answers -> nothing is normalised, on either side
    assert vqa_v2_accuracy("Yes", ["yes"] * 10) == 0.0
    assert vqa_v2_accuracy("t-shirt", ["t-shirt"] * 10) == 1.0
    assert vqa_v2_accuracy("  yes\n", ["yes"] * 10) == 1.0          # only stripped


def test_current_varied_answers_are_fully_normalised_on_both_sides():
    answers = ["a dog"] * 4 + ["dog"] + ["cat"] * 5
    assert vqa_v2_accuracy("dog", answers) == 1.0                      # "a dog" -> "dog"
    assert vqa_v2_accuracy("two", ["two"] * 8 + ["three"] * 2) == 1.0  # both become "2"
    assert vqa_v2_accuracy("t-shirt", ["t-shirt"] * 9 + ["shirt"]) == 1.0


def test_pre2021_variant_keeps_the_old_behaviour():
    old = "pre2021"
    # the prediction is always normalised; identical answers are not
    assert vqa_v2_accuracy("Yes.", ["yes"] * 10, old) == 1.0
    assert vqa_v2_accuracy("t-shirt", ["t-shirt"] * 10, old) == 0.0
    # varied answers get only the punctuation step: "two" (-> "2") matches the five "2"s
    assert vqa_v2_accuracy("two", ["two"] * 5 + ["2"] * 5, old) == 1.0
    assert vqa_v2_accuracy("two", ["two"] * 8 + ["three"] * 2, old) == 0.0
    assert vqa_v2_accuracy("dog", ["a dog"] * 4 + ["dog"] + ["cat"] * 5, old) == pytest.approx(0.3)
    # answers are not stripped: a tab-only answer never equals the empty prediction
    assert vqa_v2_accuracy("", ["\t"] * 5 + ["x"] * 5, old) == 0.0
    assert vqa_v2_accuracy("", ["\t"] * 5 + ["x"] * 5) == 1.0


def test_empty_prediction_is_scored_like_any_other():
    assert vqa_v2_accuracy("", ["the"] * 3 + ["dog"] * 7) == pytest.approx(0.9)
    assert vqa_v2_accuracy("", ["dog"] * 10) == 0.0


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
    assert process_digit_article("'ow'sat") == "'ow's'at"


def test_newlines_and_tabs_become_spaces():
    assert vqa_v2_accuracy("  red\n", ["red"] * 10) == 1.0
    assert vqa_v2_accuracy("red\tcar", ["red car"] * 4 + ["car"] * 6) == 1.0


def test_python2_text_handling_of_vqaeval():
    # vqaEval.py runs under Python 2: \\d is ASCII, İ lower-cases to i, U+180E is whitespace
    assert process_punctuation("٣.٥") == "٣٥"
    assert vqa_v2_accuracy("İSTANBUL", ["istanbul"] * 4 + ["x"] * 6) == 1.0
    assert vqa_v2_accuracy("a\u180eb", ["a b"] * 4 + ["x"] * 6) == 1.0


def test_exact_membership_is_the_seed_number():
    assert exact_membership_accuracy("cat", ["cat"] + ["dog"] * 9) == 1.0
    assert exact_membership_accuracy("a cat", ["cat"] + ["dog"] * 9) == 1.0
    assert vqa_v2_accuracy("cat", ["cat"] + ["dog"] * 9) == pytest.approx(0.3)
    assert exact_membership_accuracy("bird", ["cat"] * 10) == 0.0
