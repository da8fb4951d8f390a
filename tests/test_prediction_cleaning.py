from modeltest.samples import Sample
from modeltest.scorers import get_scorer
from modeltest.scorers.prediction_cleaning import clean_prediction


def test_cut_at_stop_strings_and_whitespace():
    assert clean_prediction("yes<|im_end|>\n<|endoftext|>") == "yes"
    assert clean_prediction(" red\tcar\nthere</s>junk") == "red car there"
    assert clean_prediction("<|endoftext|>") == ""
    assert clean_prediction(None) == ""


def test_empty_prediction_is_scored_by_the_official_processor():
    # as the official scripts do: "" matches references that normalise to ""
    sample = Sample("q", "s", "p", references=["a"] * 4 + ["b"] * 6)
    assert get_scorer("textvqa").score(clean_prediction("<|im_end|>"), sample).score == 1.0
    assert get_scorer("vqav2").score(clean_prediction("   "), sample).score == 1.0
    other = Sample("q", "s", "p", references=["b"] * 10)
    assert get_scorer("textvqa").score(clean_prediction("<|im_end|>"), other).score == 0.0
