"""Video-MME: every generated response reads, and every table counts, as the OFFICIAL script.

tests/golden/videomme_{current,pre20240623}.json were recorded by running Video-MME's
`eval_your_results.py` (both versions) unmodified on four generated prediction sets of the
benchmark's shape (900 videos x 3 questions); tests/golden/HOW.md says how.
"""
import json
import re
from pathlib import Path

import pytest

from modeltest.scorers import videomme

GOLDEN = Path(__file__).parent / "golden"
HEADERS = {"Video Categories": "domain", "Video Domains": "domain",
           "Video Sub Categories": "sub_category", "Task Categories": "task_type"}
LINE = re.compile(r"^(?P<name>.+): (?P<value> ?-?\d+\.\d)%$")


def _golden(variant):
    data = json.loads((GOLDEN / f"videomme_{variant}.json").read_text(encoding="utf-8"))
    assert data["source"]["commit"] and len(data["sets"]) >= 4
    return data


def _rows(questions, extracted):
    columns = ("video_id", "duration", "domain", "sub_category", "task_type", "answer")
    return [dict(zip(columns, q), extracted=e) for q, e in zip(questions, extracted)]


def _parse_printed(text):
    """The official report as {block: {"overall": str, breakdown: {name: str}}}."""
    report, block, section = {}, None, None
    for line in text.splitlines():
        if line.startswith("Evaluation on video Type: "):
            block = report.setdefault(line.split(": ", 1)[1], {})
        elif line == "Evaluation on the entire dataset":
            block = report.setdefault("overall", {})
        elif line in HEADERS:
            section = block.setdefault(HEADERS[line], {})
        elif line == "Overall Performance":
            section = None
        elif match := LINE.match(line):
            if section is None:
                assert match["name"] == "Overall"
                block["overall"] = match["value"].strip()
            else:
                section[match["name"]] = match["value"].strip()
    return report


def _official_percent(cell):
    # eval_your_results.py: f"{100 * correct / answered if answered > 0 else 0 : .1f}%"
    value = 100 * cell["correct"] / cell["counted"] if cell["counted"] > 0 else 0
    return f"{value : .1f}".strip()


@pytest.mark.parametrize("variant", videomme.VARIANTS)
def test_every_response_reads_as_the_official_extractor(variant):
    data = _golden(variant)
    bad = [(s["name"], r, e, videomme.extract_answer(r, variant))
           for s in data["sets"] for r, e in zip(s["responses"], s["extracted"])
           if videomme.extract_answer(r, variant) != e]
    assert sum(len(s["responses"]) for s in data["sets"]) >= 4 * 2700
    assert not bad, f"{len(bad)} disagreements, first: {bad[:3]}"


@pytest.mark.parametrize("variant", videomme.VARIANTS)
def test_tables_count_as_the_official_script(variant):
    data = _golden(variant)
    for recorded in data["sets"]:
        ours = videomme.aggregate(_rows(data["questions"], recorded["extracted"]),
                                  unparsed="skip")
        for duration, tables in recorded["counts"].items():
            for breakdown, cells in tables.items():
                for name, (correct, answered) in cells.items():
                    cell = ours["durations"][duration][breakdown][name]
                    assert (cell["correct"], cell["counted"]) == (correct, answered), \
                        (recorded["name"], duration, breakdown, name)


@pytest.mark.parametrize("variant", videomme.VARIANTS)
def test_printed_report_equals_the_official_one(variant):
    data = _golden(variant)
    for recorded in data["sets"]:
        official = _parse_printed(recorded["printed"])
        ours = videomme.aggregate(_rows(data["questions"], recorded["extracted"]),
                                  unparsed="skip")
        tables = dict(ours["durations"], overall=ours["overall"])
        assert set(official) == set(tables) == {"short", "medium", "long", "overall"}
        for block, printed in official.items():
            assert printed["overall"] == _official_percent(tables[block]), (recorded["name"], block)
            for breakdown in ("domain", "sub_category", "task_type"):
                assert list(printed[breakdown]) == list(videomme.BREAKDOWNS[breakdown])
                for name, value in printed[breakdown].items():
                    assert value == _official_percent(tables[block][breakdown][name]), \
                        (recorded["name"], block, breakdown, name)


def test_strict_default_counts_unreadable_answers_as_wrong():
    data = _golden("current")
    recorded = next(s for s in data["sets"] if s["name"] == "duration_skew")
    rows = _rows(data["questions"], recorded["extracted"])
    strict, official = videomme.aggregate(rows), videomme.aggregate(rows, unparsed="skip")
    long_strict, long_official = strict["durations"]["long"], official["durations"]["long"]
    assert long_strict["unparsed"] == long_official["unparsed"] > 800
    assert long_strict["counted"] == long_strict["questions"] == 900
    assert long_official["counted"] == 900 - long_official["unparsed"]
    assert long_strict["correct"] == long_official["correct"]
    assert strict["overall"]["accuracy"] < official["overall"]["accuracy"]
    assert strict["durations"]["short"]["accuracy"] == 1.0


def test_score_answer_and_options():
    assert videomme.score_answer("The answer is B", "B") == ("B", True)
    assert videomme.score_answer("b", "B") == ("", False)
    assert videomme.extract_answer("Answer: C", "pre20240623") == "A"
    assert videomme.extract_answer("Answer: C") == "C"
    with pytest.raises(KeyError, match="pre20240623"):
        videomme.extract_answer("A", "2024")
    with pytest.raises(KeyError, match="skip"):
        videomme.aggregate([], unparsed="random")
    row = {"duration": "short", "domain": "Knowledge", "sub_category": "Law",
           "task_type": "OCR Problem", "extracted": "A", "answer": "A"}
    with pytest.raises(ValueError, match="row 0: task_type 'OCR Problem'"):
        videomme.aggregate([row])


def test_golden_cases_cover_the_adversarial_kinds():
    current, previous = _golden("current"), _golden("pre20240623")
    responses = [r for s in current["sets"] for r in s["responses"]]
    extracted = [e for s in current["sets"] for e in s["extracted"]]
    stripped = [r.strip() for r in responses]
    for form in ("(A)", "A.", "A", "b", "(c)", "", "A or B", "Answer: C", "Both A and C",
                 "The answer is B", "Black.", "ABCD"):
        assert form in stripped, form
    for glued in ("The best option isThe correct option is", "Best answer:Best option:"):
        assert any(r.startswith(glued) for r in stripped), glued
    for prefix in videomme.ANSWER_PREFIXES["current"]:
        assert any(prefix in r for r in responses), prefix
    assert any(not r.isascii() for r in responses)
    assert any("\n" in r.strip() for r in responses)
    long_ones = [(r, e) for r, e in zip(responses, extracted) if len(r.split()) > 10]
    assert any(e == "" for _, e in long_ones) and any(e != "" for _, e in long_ones)
    assert any(r.strip().lower() == r.strip() and r.strip() and e == ""
               for r, e in zip(responses, extracted))        # lower-case, unread
    assert extracted.count("") > 1000 and set(extracted) == {"", "A", "B", "C", "D"}
    differ = [r for s, t in zip(current["sets"], previous["sets"])
              for r, a, b in zip(s["responses"], s["extracted"], t["extracted"]) if a != b]
    assert len(differ) >= 20
