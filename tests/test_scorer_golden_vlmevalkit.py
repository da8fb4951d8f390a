"""Every adversarial multiple-choice case scores exactly what VLMEvalKit gave it.

tests/golden/mcq_extraction_<variant>.json: `vlmeval.utils.can_infer` at three commits;
tests/golden/vlmevalkit_<dataset>.json: VLMEvalKit's whole evaluation (`build_dataset(name)
.evaluate(file, model='exact_matching')`) on generated TSV files. Both recorded by running the
official code unmodified (tests/golden/HOW.md, tests/golden/build/record_vlmevalkit_goldens.py).
"""
import json
from pathlib import Path

import pytest

from modeltest.scorers import circular, mcq_extraction, vlmevalkit_mcq

GOLDEN = Path(__file__).parent / "golden"
VANILLA = ("ai2d_test", "scienceqa_test", "realworldqa", "mmmu_dev_val")
CIRCULAR = ("mmbench_dev_en", "mmbench_dev_cn")


def _load(name):
    return json.loads((GOLDEN / name).read_text(encoding="utf-8"))


@pytest.mark.parametrize("variant", mcq_extraction.VARIANTS)
def test_can_infer_matches_the_official_version(variant):
    cases = _load(f"mcq_extraction_{variant}.json")["cases"]
    assert len(cases) >= 2000
    bad = [(p, c, official, ours) for p, c, official in cases
           if (ours := mcq_extraction.can_infer(p, dict(c), variant)) != (official or None)]
    assert not bad, f"{len(bad)} disagreements, first: {bad[:3]}"


def test_the_versions_differ_on_the_golden_cases_and_current_is_default():
    results = {v: [c[2] for c in _load(f"mcq_extraction_{v}.json")["cases"]]
               for v in mcq_extraction.VARIANTS}
    assert results["current"] != results["pre2026_06"] != results["pre2025_08"]
    assert mcq_extraction.DEFAULT_VARIANT == "current"
    with pytest.raises(ValueError, match="pre2024"):
        mcq_extraction.can_infer("A", {"A": "x"}, "pre2024")


def _row_choices(row):
    return vlmevalkit_mcq.present_options(row["row"])


@pytest.mark.parametrize("dataset", VANILLA)
def test_vanilla_evaluation_matches_the_official_hits(dataset):
    data = _load(f"vlmevalkit_{dataset}.json")
    bad, judged = [], 0
    for entry in data["rows"]:
        row = entry["row"]
        prediction = vlmevalkit_mcq.as_read_back(entry["prediction"])
        choices = _row_choices(entry)
        assert prediction == entry["prediction_seen"] and choices == entry["choices_seen"]
        answer = row["answer"]
        if dataset.startswith("mmmu"):
            choices, answer = vlmevalkit_mcq.mmmu_open_as_choice(choices, str(answer))
        verdict = vlmevalkit_mcq.exact_matching_verdict(prediction, choices, answer)
        official_judged = entry["log"].startswith("Match Log: Failed in Prefetch")
        judged += verdict.needs_judge
        if (verdict.hit, verdict.needs_judge) != (bool(entry["hit"]), official_judged):
            bad.append((row["index"], prediction, choices, answer, entry["hit"], verdict))
    assert not bad, f"{len(bad)} disagreements, first: {bad[:3]}"
    assert judged > 50
    for acc in data["acc"]:  # report_acc's Overall: the mean hit of each split
        hits = [e["hit"] for e in data["rows"]
                if e["row"].get("split", "none") == acc["split"]]
        assert sum(hits) / len(hits) == pytest.approx(acc["Overall"], abs=1e-9)


@pytest.mark.parametrize("dataset", CIRCULAR)
def test_circular_evaluation_matches_the_official_groups(dataset):
    data = _load(f"vlmevalkit_{dataset}.json")
    rows = []
    for entry in data["rows"]:
        if "prediction" not in entry:
            continue  # no answer recorded for this row (a missing copy or main row)
        extracted = mcq_extraction.can_infer(vlmevalkit_mcq.as_read_back(entry["prediction"]),
                                             _row_choices(entry))
        assert extracted == (entry["extracted"] or None)
        rows.append(circular.CircularRow(entry["row"]["index"], entry["row"]["answer"], extracted))
    verdicts = {v.index: v for v in circular.circular_verdicts(rows)}
    official = {e["row"]["index"]: e for e in data["rows"] if "hit" in e}
    assert set(verdicts) == set(official)
    bad = [(i, v, official[i]["hit"], official[i]["log"]) for i, v in verdicts.items()
           if (v.hit, v.needs_judge) != (bool(official[i]["hit"]),
                                         official[i]["log"].startswith("Failed in Prefetch,"))]
    assert not bad, f"{len(bad)} disagreements, first: {bad[:3]}"
    assert sum(v.needs_judge for v in verdicts.values()) > 30
    overall = [a for a in data["acc"] if a["split"] == "dev"][0]["Overall"]
    assert sum(v.hit for v in verdicts.values()) / len(verdicts) == pytest.approx(overall, abs=1e-9)


def test_circular_grouping_rules():
    rows = [circular.CircularRow(5, "A", "A"), circular.CircularRow(1_000_005, "B", "B"),
            circular.CircularRow(2_000_007, "C", "C"),  # its main row 7 is absent: ignored
            circular.CircularRow(8, "A", "A", g_index=5),  # a g_index column wins
            circular.CircularRow(9, "B", None), circular.CircularRow(1_000_009, "A", "Z")]
    verdicts = circular.circular_verdicts(rows)
    assert [(v.index, v.hit, v.needs_judge, v.rows) for v in verdicts] == [
        (5, True, False, (5, 8, 1_000_005)), (9, False, False, (9, 1_000_009))]


def test_golden_cases_cover_the_adversarial_kinds():
    cases = _load("mcq_extraction_current.json")["cases"]
    predictions = [c[0] for c in cases]
    for kind in ("(", "**", "The answer is", "answer is", "答案", "选项", "（", "。", "\n", " or ",
                 " and ", "Sorry, I can't help", "Failed to obtain answer", "Z", "E"):
        assert any(kind in p for p in predictions), kind
    assert "" in predictions and any(p.islower() and len(p) == 1 for p in predictions)
    assert any(len(p) > 150 for p in predictions)
    assert any(not v.isascii() for c in cases for v in c[1].values())
    assert any(len(c[1]) == 2 for c in cases) and any(len(c[1]) == 5 for c in cases)
    results = [c[2] for c in cases]
    assert results.count(False) > 300 and results.count("Z") > 20
    en = _load("vlmevalkit_mmbench_dev_en.json")["rows"]
    assert any("hint" in e["row"] for e in en) and any(e["row"]["index"] >= 3_000_000 for e in en)
    assert any(not e["row"]["question"].isascii()
               for e in _load("vlmevalkit_mmbench_dev_cn.json")["rows"])
