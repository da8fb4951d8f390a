"""MVBench: every case scores, and every table counts, as the OFFICIAL notebook.

tests/golden/mvbench_official.json was recorded by running VideoChat2's mvbench.ipynb cells
unmodified: `check_ans` on 1500 generated pairs, and the evaluation loop and leaderboard
cells over 600 generated questions (20 tasks x 30, real generated videos and frame folders)
with a recording stand-in for the model; tests/golden/HOW.md says how.
"""
import json
from pathlib import Path

import pytest

from inference import benchmark_frames
from modeltest.scorers import mvbench

GOLDEN = Path(__file__).parent / "golden"


def _official():
    data = json.loads((GOLDEN / "mvbench_official.json").read_text(encoding="utf-8"))
    assert data["source"]["commit"]
    return data


def test_check_answer_equals_official_check_ans():
    cases = _official()["direct_cases"]
    assert len(cases) >= 1500
    bad = [c for c in cases if mvbench.check_answer(c[0], c[1]) != c[2]]
    assert not bad, f"{len(bad)} disagreements, first: {bad[:3]}"


def test_replies_become_the_official_prediction_and_score():
    pipeline = _official()["pipeline"]
    assert len(pipeline) >= 600
    for task, candidates, answer, reply, pred, truth, official in pipeline:
        assert mvbench.official_prediction(reply) == pred, (reply, pred)
        assert mvbench.truth_string(candidates, answer) == truth
        assert mvbench.check_answer(pred, truth) == official, (pred, truth)
        right, parsed = mvbench.score_prediction(pred, truth, unparsed="substring")
        assert right == official


def _rows(pipeline, unparsed):
    rows = []
    for task, _, _, _, pred, truth, _ in pipeline:
        right, parsed = mvbench.score_prediction(pred, truth, unparsed)
        rows.append({"task_type": task, "correct": right, "parsed": parsed})
    return rows


def test_tables_equal_the_official_leaderboard_cell():
    data = _official()
    ours = mvbench.aggregate(_rows(data["pipeline"], "substring"))
    assert list(ours["tasks"]) == list(mvbench.TASKS) == list(data["acc_dict"])
    for task, (correct, total) in data["acc_dict"].items():
        cell = ours["tasks"][task]
        assert (cell["correct"], cell["questions"]) == (correct, total)
        # the notebook: final_res[k] = v[0] / v[1] * 100
        assert cell["correct"] / cell["questions"] * 100 == data["final_res"][task]
    assert ours["correct"] / ours["questions"] * 100 == data["final_res"]["Avg"]
    assert ours["avg"] * 100 == pytest.approx(data["final_res"]["Avg"])


def test_every_prediction_set_tables_as_the_official_notebook():
    data = _official()
    assert [e["name"] for e in data["extra_sets"]] == ["mostly_right", "all_empty", "bare_letters"]
    questions = data["pipeline"]
    for extra in data["extra_sets"]:
        rows = []
        for (task, candidates, answer, *_), reply, pred in zip(questions, extra["replies"],
                                                               extra["pred"]):
            assert mvbench.official_prediction(reply) == pred
            right, parsed = mvbench.score_prediction(
                pred, mvbench.truth_string(candidates, answer), unparsed="substring")
            rows.append({"task_type": task, "correct": right, "parsed": parsed})
        ours = mvbench.aggregate(rows)
        for task, (correct, total) in extra["acc_dict"].items():
            cell = ours["tasks"][task]
            assert (cell["correct"], cell["questions"]) == (correct, total), (extra["name"], task)
            assert cell["correct"] / cell["questions"] * 100 == extra["final_res"][task]
        assert ours["correct"] / ours["questions"] * 100 == extra["final_res"]["Avg"]


def test_a_model_that_says_nothing_scores_100_officially_and_0_here():
    data = _official()
    empty = next(e for e in data["extra_sets"] if e["name"] == "all_empty")
    assert set(empty["pred"]) == {"("} and empty["final_res"]["Avg"] == 100.0
    truths = [mvbench.truth_string(c, a) for _, c, a, *_ in data["pipeline"]]
    strict = [mvbench.score_prediction(p, t) for p, t in zip(empty["pred"], truths)]
    assert strict == [(False, False)] * len(truths)


def test_strict_default_scores_replies_that_name_no_option_as_wrong():
    data = _official()
    strict = _rows(data["pipeline"], "wrong")
    official = _rows(data["pipeline"], "substring")
    changed = [(s, o) for s, o in zip(strict, official) if s != o]
    assert changed and all(o["correct"] and not s["correct"] and not s["parsed"]
                           for s, o in changed)
    # an empty reply becomes "(" and counts right under the official check_ans
    empties = [p for p in data["pipeline"] if p[4] == "("]
    assert empties and all(p[-1] for p in empties)
    assert all(mvbench.score_prediction("(", p[5]) == (False, False) for p in empties)
    assert mvbench.aggregate(strict)["unparsed"] == mvbench.aggregate(official)["unparsed"]
    assert mvbench.aggregate(strict)["avg"] < mvbench.aggregate(official)["avg"]


def test_truth_string_and_options():
    # the last match, as qa_template
    assert mvbench.truth_string(["x", "y", "x"], "x") == "(C) x"
    with pytest.raises(ValueError, match="not one of the candidates"):
        mvbench.truth_string(["x"], "z")
    with pytest.raises(KeyError, match="substring"):
        mvbench.score_prediction("(a)", "(A) x", unparsed="random")
    with pytest.raises(ValueError, match="row 0: task_type 'Action'"):
        mvbench.aggregate([{"task_type": "Action", "correct": True, "parsed": True}])
    assert mvbench.check_answer("(b)\tfoo", "(B) foo")                 # split on " " only
    # "( b)": the option piece is "(", a substring of "(b)": right officially, unparsed here
    assert mvbench.check_answer("( b)", "(B) foo")
    assert mvbench.score_prediction("( b)", "(B) foo") == (False, False)
    assert mvbench.score_prediction("(b", "(B) foo") == (True, True)


def test_golden_cases_cover_the_adversarial_kinds():
    data = _official()
    predictions = [c[0] for c in data["direct_cases"]] + [p[4] for p in data["pipeline"]]
    replies = [p[3] for p in data["pipeline"]]
    for form in ("", "(", ")", "()", "(@)", "(1)", "a", "b."):
        assert form in predictions, form
    assert any(p.startswith((" ", "\t", "\n")) for p in predictions)
    assert any(t.startswith("(@)") for _, t, _ in data["direct_cases"])
    assert any("###" in r for r in replies) and any("Assistant:" in r for r in replies)
    assert any("\n" in r.strip() for r in replies) and any(not r.isascii() for r in replies)
    assert any(r[:1].islower() for r in replies) and any(len(r.split()) > 20 for r in replies)
    assert any(" or " in r for r in replies)
    outcomes = {(c[2], mvbench.names_an_option(c[0])) for c in data["direct_cases"]}
    assert outcomes == {(True, True), (False, True), (True, False), (False, False)}
    assert len({p[0] for p in data["pipeline"]}) == 20


def test_frame_indices_equal_the_official_get_index():
    prompts = json.loads((GOLDEN / "mvbench_prompts.json").read_text(encoding="utf-8"))
    cases = prompts["official"]["frame_indices"]
    assert len(cases) > 1000
    for segments, bound, fps, max_frame, first_idx, indices in cases:
        assert benchmark_frames.mvbench_segments(segments, max_frame, fps,
                                                 tuple(bound) if bound else None,
                                                 first_idx) == indices
