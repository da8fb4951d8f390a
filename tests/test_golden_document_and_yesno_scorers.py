"""DocVQA/InfoVQA ANLS, ChartQA relaxed accuracy, OCRBench, MME and POPE score exactly what
their OFFICIAL code gave, case for case and set for set.

The cases under tests/golden/ were recorded by running the official code unmodified (see
tests/golden/HOW.md; tests/golden/build/ regenerates them). Nothing here computes an expected
value with the project's own code.
"""
import json
from pathlib import Path

import pytest

from modeltest.scorers.anls import anls, mean_anls, normalize, normalized_distance
from modeltest.scorers.mme import SUBTASKS, mme_report, parse_yes_no as mme_read, subtask_metrics
from modeltest.scorers.ocrbench import CATEGORIES, ocrbench_hit, ocrbench_scores
from modeltest.scorers.pope import parse_yes_no as pope_read, pope_metrics
from modeltest.scorers.relaxed_accuracy import (relaxed_accuracy, relaxed_accuracy_percent,
                                                relaxed_correctness)

GOLDEN = Path(__file__).parent / "golden"


def _golden(name):
    data = json.loads((GOLDEN / name).read_text(encoding="utf-8"))
    assert data["source"]["commit"] and len(data["cases"]) >= 600
    return data


def _first_disagreements(pairs):
    bad = [(number, case, ours) for number, (case, ours, official) in enumerate(pairs)
           if ours != official]
    return f"{len(bad)} disagreements, first: {bad[:3]}"


# ---- DocVQA / InfoVQA: ANLS -------------------------------------------------------------

def test_anls_matches_the_docvqa_evaluation_script():
    cases = _golden("anls_docvqa.json")["cases"]
    pairs = [(case, anls(case[0], case[1]), case[2]) for case in cases]
    assert all(ours == official for _, ours, official in pairs), _first_disagreements(pairs)


def test_anls_set_scores_match_the_script():
    data = _golden("anls_docvqa.json")
    assert len(data["sets"]) >= 5
    for entry in data["sets"]:
        start, end = entry["cases"]
        assert mean_anls([anls(p, a) for p, a, _ in data["cases"][start:end]]) == entry["anls"]


def test_anls_cases_cover_the_adversarial_kinds():
    cases = _golden("anls_docvqa.json")["cases"]
    scores = [score for _, _, score in cases]
    assert 0.5 in scores and any(0.5 < s < 0.6 for s in scores) and 1 in scores and 0 in scores
    unthresholded = [1 - min(normalized_distance(p, a) for a in answers) for p, answers, _ in cases]
    assert sum(0.4 <= u < 0.5 for u in unthresholded) >= 20      # just below the threshold
    assert any(len(answers) >= 3 for _, answers, _ in cases)
    assert any(p == "" for p, _, _ in cases) and any(p and not p.strip() for p, _, _ in cases)
    # the denominator counts raw (unstripped, upper-cased) characters
    assert any(len(p) != len(normalize(p)) and 0 < s < 1 for p, _, s in cases)
    assert any(len(t.upper()) != len(t) for p, a, _ in cases for t in [p, *a])
    texts = [t for p, a, _ in cases for t in [p, *a]]
    for fragment in ("北京", "ß", "\t", "\n", "\u3000", "%", "$"):
        assert any(fragment in t for t in texts), fragment


def test_anls_needs_an_answer():
    with pytest.raises(ValueError, match="reference answer"):
        anls("x", [])


# ---- ChartQA: relaxed accuracy ------------------------------------------------------------

@pytest.mark.parametrize("variant", ["pix2struct", "unichart"])
def test_relaxed_accuracy_matches_the_official_implementation(variant):
    cases = _golden(f"chartqa_{variant}.json")["cases"]
    pairs = [(case, relaxed_accuracy(case[0], case[1], variant), case[2]) for case in cases]
    assert all(ours == official for _, ours, official in pairs), _first_disagreements(pairs)


def test_relaxed_accuracy_set_scores_match_pix2struct():
    data = _golden("chartqa_pix2struct.json")
    assert len(data["sets"]) >= 5
    for entry in data["sets"]:
        start, end = entry["cases"]
        scores = [relaxed_accuracy(p, a) for p, a, _ in data["cases"][start:end]]
        assert relaxed_accuracy_percent(scores) == entry["relaxed_accuracy"]


def test_relaxed_accuracy_cases_cover_the_adversarial_kinds():
    cases = _golden("chartqa_pix2struct.json")["cases"]
    targets = {t for _, answers, _ in cases for t in answers}
    for target in ("0", "12%", "1,000", "1e3", "nan", "inf", "١٢", "Blue", ""):
        assert target in targets, target
    right = [(p, a) for p, a, s in cases if s == 1.0]
    wrong = [(p, a) for p, a, s in cases if s == 0.0]
    # numbers accepted inside 5% but not equal, and refused just outside it
    assert any(p.strip() != a[0] and _number(p) and _number(a[0]) for p, a in right)
    assert any(_ratio(p, a[0]) is not None and 0.05 < _ratio(p, a[0]) < 0.06 for p, a in wrong)
    assert any(_ratio(p, a[0]) == 0.05 for p, a in right)        # the boundary itself
    assert any(p.lower() == a[0].lower() and p != a[0] for p, a in right)
    assert any(len(a) == 2 for _, a, _ in cases) and any(p == "" for p, _, _ in cases)
    unichart = _golden("chartqa_unichart.json")["cases"]
    assert any(relaxed_correctness(a[0], p) != bool(s) for p, a, s in unichart)   # they differ


def _number(text):
    try:
        return float(text) != 0
    except ValueError:
        return False


def _ratio(prediction, target):
    try:
        p, t = float(prediction), float(target)
    except ValueError:
        return None
    return abs(p - t) / abs(t) if t else None


def test_relaxed_accuracy_refuses_an_unknown_variant():
    with pytest.raises(ValueError, match="unknown"):
        relaxed_accuracy("1", ["1"], "vlmevalkit")


# ---- OCRBench --------------------------------------------------------------------------------

def test_ocrbench_hits_match_the_official_rules():
    cases = _golden("ocrbench.json")["cases"]
    pairs = [(case, ocrbench_hit(case[0], case[1], case[2]), case[4]) for case in cases]
    assert all(ours == official for _, ours, official in pairs), _first_disagreements(pairs)


def test_ocrbench_final_scores_match_the_official_printout():
    data = _golden("ocrbench.json")
    assert len(data["sets"]) >= 3
    for entry in data["sets"]:
        start, end = entry["cases"]
        assert end - start == 1000
        ours = ocrbench_scores((c[3], ocrbench_hit(c[0], c[1], c[2]))
                               for c in data["cases"][start:end])
        assert set(entry["official"]) == set(CATEGORIES) | {"Text Recognition", "Final Score"}
        assert {name: ours[name] for name in entry["official"]} == entry["official"]


def test_ocrbench_cases_cover_the_adversarial_kinds():
    cases = _golden("ocrbench.json")["cases"]
    hme = [c for c in cases if c[2] == "HME100k"]
    assert any(c[4] == 1 and " " in str(c[1]) and c[0].count(" ") != str(c[1]).count(" ")
               for c in hme)
    assert any(isinstance(c[1], str) for c in cases) and any(c[1] == [] for c in cases)
    assert any(c[1] in ("", " ") and c[4] == 1 for c in cases)   # an empty answer always matches
    assert any(c[0] == "" for c in cases)
    texts = [c[0] for c in cases] + [a for c in cases for a in ([c[1]] if isinstance(c[1], str) else c[1])]
    for fragment in ("\n", "\t", "北京", "İ", "ß", "\\frac"):
        assert any(fragment in t for t in texts), fragment
    assert {c[3] for c in cases} == set(CATEGORIES)


def test_ocrbench_rejects_an_unknown_category():
    with pytest.raises(ValueError, match="unknown"):
        ocrbench_scores([("Scene Text VQA", 1)])


# ---- MME -------------------------------------------------------------------------------------

def test_mme_reads_answers_as_the_calculation_tool():
    cases = _golden("mme.json")["cases"]
    pairs = [(case, mme_read(case[0]), case[1]) for case in cases]
    assert all(ours == official for _, ours, official in pairs), _first_disagreements(pairs)


def test_mme_subtask_scores_and_totals_match_the_calculation_tool():
    data = _golden("mme.json")
    assert len(data["sets"]) >= 5
    for entry in data["sets"]:
        report = mme_report(entry["records"])
        official = entry["official"]
        assert {name: report["subtasks"][name]["score"] for name in SUBTASKS} == official["subtasks"]
        assert report["totals"] == official["totals"] and report["missing"] == []


def test_mme_cases_cover_the_adversarial_kinds():
    cases = dict(_golden("mme.json")["cases"])
    assert {"yes", "no", "other"} == set(cases.values())
    expected = {"Yes, but no": "yes", "not sure": "no", "know": "no", "yesterday": "yes",
                " yes": "yes", "  yes": "other", "": "other", "是": "other", "none": "no"}
    for answer, label in expected.items():
        assert cases.get(answer) == label, answer


def test_mme_acc_plus_needs_both_questions_of_an_image():
    pair = [{"image": "a.jpg", "prediction": "Yes", "answer": "Yes"},
            {"image": "a.jpg", "prediction": "Yes", "answer": "No"},
            {"image": "b.jpg", "prediction": "No", "answer": "No"},
            {"image": "b.jpg", "prediction": "yes", "answer": "Yes"}]
    metrics = subtask_metrics(pair)
    assert (metrics["acc"], metrics["acc_plus"], metrics["score"]) == (0.75, 0.5, 125.0)
    with pytest.raises(ValueError, match="needs 2"):
        subtask_metrics(pair[:3])


# ---- POPE ------------------------------------------------------------------------------------

def test_pope_reads_answers_as_evaluate_py():
    cases = _golden("pope.json")["cases"]
    pairs = [(case, pope_read(case[0]), case[1]) for case in cases]
    assert all(ours == official for _, ours, official in pairs), _first_disagreements(pairs)


def test_pope_set_metrics_match_evaluate_py():
    data = _golden("pope.json")
    assert {entry["split"] for entry in data["sets"]} == {"adversarial", "popular", "random"}
    for entry in data["sets"]:
        ours = pope_metrics(entry["answers"], entry["labels"])
        official = dict(entry["official"])
        if official.pop("error", None) == "ZeroDivisionError":
            assert ours["precision"] is None and ours["f1"] is None
        for name, value in official.items():
            assert ours[name] == value, name


def test_pope_cases_cover_the_adversarial_kinds():
    cases = dict(_golden("pope.json")["cases"])
    expected = {"Yes, but no": "no", "NO": "yes", "No\nthere is": "yes", "": "yes",
                "No. Yes": "no", "Yes. No": "yes", "3.5 no": "yes", "no!": "yes", "no,": "no",
                "I don't know.": "yes", "没有": "yes"}
    for answer, label in expected.items():
        assert cases.get(answer) == label, answer
    assert any(entry["official"].get("error") for entry in _golden("pope.json")["sets"])
