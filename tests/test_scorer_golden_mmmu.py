"""Every adversarial MMMU case scores exactly what MMMU's OWN evaluation code gave it.

tests/golden/mmmu_eval_utils.json was recorded by running MMMU-Benchmark/MMMU's
main_parse_and_eval.py and main_eval_only.py unmodified (tests/golden/HOW.md); the script that
made it is tests/golden/build/record_mmmu_goldens.py.
"""
import json
from pathlib import Path

import pytest

from modeltest.scorers import mmmu

GOLDEN = json.loads((Path(__file__).parent / "golden" / "mmmu_eval_utils.json")
                    .read_text(encoding="utf-8"))
SPLITS = ("validation", "dev")


def _cases(split):
    return [c for c in GOLDEN["cases"] if c["id"].startswith(split + "_")]


def _mmmu_case(case):
    return mmmu.MMMUCase(case["id"], case["question_type"], case["answer"], case["response"],
                         tuple(case.get("all_choices", ())), case.get("index2ans"))


def _canonical(parsed):
    return sorted(repr(value) for value in parsed) if isinstance(parsed, list) else parsed


@pytest.mark.parametrize("split", SPLITS)
def test_random_mode_reproduces_the_official_run_case_for_case(split):
    cases = _cases(split)
    results = mmmu.evaluate_split([_mmmu_case(c) for c in cases], unparsed="random")
    bad = [(c["id"], c["response"], c["official"], r) for c, r in zip(cases, results)
           if _canonical(r.parsed) != c["official"]["parsed_pred"]
           or r.correct != (c["official"]["judge"] == "Correct")]
    assert not bad, f"{len(bad)} of {len(cases)} disagree, first: {bad[:3]}"


@pytest.mark.parametrize("split", SPLITS)
def test_strict_mode_agrees_wherever_the_official_code_did_not_guess(split):
    cases = _cases(split)
    results = mmmu.evaluate_split([_mmmu_case(c) for c in cases], unparsed="strict")
    bad = []
    for case, result in zip(cases, results):
        official = case["official"]
        if official.get("guessed"):
            expected = (None, False, True)
        else:
            expected = (official["parsed_pred"], official["judge"] == "Correct", False)
        if (_canonical(result.parsed), result.correct, result.unparsed) != expected:
            bad.append((case["id"], case["response"], expected, result))
    assert not bad, f"{len(bad)} disagree, first: {bad[:3]}"


@pytest.mark.parametrize("split", SPLITS)
def test_per_subject_results_and_report_equal_the_official_ones(split):
    cases = _cases(split)
    results = mmmu.evaluate_split([_mmmu_case(c) for c in cases], unparsed="random")
    per_subject = {}
    for result in results:
        correct, total = per_subject.get(mmmu.subject_of(result.id), (0, 0))
        per_subject[mmmu.subject_of(result.id)] = (correct + result.correct, total + 1)
    for subject, official in GOLDEN["results"][split].items():
        correct, total = per_subject[subject]
        assert (total, correct / total) == (official["num_example"], official["acc"]), subject
    assert mmmu.official_report(per_subject) == GOLDEN["reports"][split]


def test_unparsed_count_is_the_number_of_official_guesses():
    cases = GOLDEN["cases"]
    strict = [r for split in SPLITS
              for r in mmmu.evaluate_split([_mmmu_case(c) for c in _cases(split)])]
    guessed = sum(1 for c in cases if c["official"].get("guessed"))
    assert sum(r.unparsed for r in strict) == guessed > 100


def test_random_mode_needs_the_official_order_and_seed():
    cases = [_mmmu_case(c) for c in _cases("validation")]
    official = mmmu.evaluate_split(cases, unparsed="random")
    reseeded = mmmu.evaluate_split(cases, unparsed="random", seed=7)
    assert [r.parsed for r in official] != [r.parsed for r in reseeded]
    with pytest.raises(ValueError, match="unparsed='often'"):
        mmmu.read_choice("A", ["A", "B"], {"A": "x", "B": "y"}, unparsed="often")
    with pytest.raises(ValueError, match="unknown subject"):
        mmmu.official_order([mmmu.MMMUCase("validation_Cooking_1", "open", "x", "x")])
    by_category = [mmmu.MMMUCase(str(n), "open", "x", "x", subject=s)
                   for n, s in enumerate(["Sociology", "Art", "Accounting", "Art"])]
    assert mmmu.official_order(by_category) == [2, 1, 3, 0]


def test_golden_cases_cover_the_adversarial_kinds():
    cases = GOLDEN["cases"]
    mc = [c for c in cases if c["question_type"] == "multiple-choice"]
    open_ = [c for c in cases if c["question_type"] != "multiple-choice"]
    assert len(mc) >= 600 and len(open_) >= 600
    responses = [c["response"] for c in cases]
    assert "" in responses and any(r.strip() == "" and r for r in responses)
    for kind in ("(A)", "(B) or", "The answer is", "answer:", "答案", "\n", "%", "e-", "1,000",
                 "x = ", "nan", "Final answer"):
        assert any(kind.lower() in r.lower() for r in responses), kind
    assert any(isinstance(c["answer"], list) for c in mc)
    assert any(isinstance(c["answer"], list) for c in open_)
    assert any(len(c["all_choices"]) >= 9 for c in mc)
    assert any(len(r.split()) > 5 for r in (c["response"] for c in mc))  # option-text reading
    guessed = [c for c in mc if c["official"]["guessed"]]
    assert 100 < len(guessed) < len(mc) - 300
    assert any(not t.isascii() for c in mc for t in c["index2ans"].values())
