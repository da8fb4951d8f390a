"""runner=compare on real runs of the demo models, made through the CLI: fp32 against bf16 and
batch 1 against batch 4 (token level, per-step log-probabilities, input or model), pairs that
are refused, partial runs, the gate, the bad-case export, and runtime.logprobs itself (it
changes no generated id)."""
import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageOps

from runners.cli import main
from runners.config import demo_root

ROOT = Path(__file__).resolve().parent.parent
REQUIRED = ("samples", "identical_ids", "identical_answers", "score_a", "score_b", "delta",
            "delta_ci95", "mcnemar_p", "right_to_wrong", "wrong_to_right", "verdict", "margin",
            "per_subject")


def records(run: Path) -> dict:
    lines = (run / "debug" / "samples.jsonl").read_text().splitlines()
    return {str(r["question_id"]): r for r in map(json.loads, lines)}


def logprobs(run: Path) -> dict:
    lines = (run / "debug" / "logprobs.jsonl").read_text().splitlines()
    return {r["fingerprint"]: r for r in map(json.loads, lines)}


def compare(a: Path, b: Path, out: Path, *extra) -> int:
    return main(["runner=compare", f"runner.a={a}", f"runner.b={b}", f"output_dir={out}",
                 "runner.bootstrap=2000", *extra])


def result(out: Path) -> dict:
    return json.loads((out / "results" / "compare.json").read_text())


def accuracy(out: Path, *extra) -> Path:
    assert main(["model=demo_qwen2_vl", "task=vqav2", f"output_dir={out}", *extra]) == 0
    return out


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """scripts/compare.sh on the demo Qwen2-VL and VQA v2: fp32 against bf16, both with the
    top-5 log-probabilities of every step."""
    root = tmp_path_factory.mktemp("compare")
    env = dict(os.environ, PYTHON=sys.executable, OUT=str(root))
    done = subprocess.run(["bash", "scripts/compare.sh", "vqav2", "demo_qwen2_vl",
                           "model.dtype=fp32 runtime.logprobs=5",
                           "model.dtype=bf16 runtime.logprobs=5", "runner.bootstrap=2000"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return root


def test_compare_sh_writes_the_four_reports(pair):
    results = pair / "compare" / "results"
    compared = result(pair / "compare")
    assert all(key in compared for key in REQUIRED)
    assert compared["samples"] == 12 and compared["labels"] == [
        "model.dtype=fp32 runtime.logprobs=5", "model.dtype=bf16 runtime.logprobs=5"]
    assert set(compared["per_subject"]) == {"yes/no", "number", "other"}
    assert compared["setup_differences"][0] == "model.dtype: 'fp32' -> 'bf16'"
    with open(results / "compare.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 12 and {r["question_id"] for r in rows} == set(records(pair / "a"))
    text = (results / "compare.txt").read_text()
    assert text.startswith("DEMO DATA") and "verdict: " in text
    assert "vendor KL criterion: at most 0.5% of tokens with KL > 0.0001, none > 0.001: " in text
    assert (results / "compare.png").read_bytes()[:4] == b"\x89PNG"


def test_fp32_against_bf16_token_by_token(pair):
    """bf16 changes some ids of the random demo model; the processor's output is the same in
    both dtypes, so every change is the model's; the stored top-k agrees with the ids."""
    compared = result(pair / "compare")
    a, b = records(pair / "a"), records(pair / "b")
    tokens = compared["token_level"]
    assert 0 < tokens["identical_ids"] < 12
    assert sum(tokens["first_divergence_histogram"].values()) == 12 - tokens["identical_ids"]
    assert compared["changed_by_cause"] == {"inputs": 0, "model": compared["changed_samples"],
                                            "unknown": 0}
    assert all(a[q]["input"] == b[q]["input"] for q in a)
    lp_a, lp_b = logprobs(pair / "a"), logprobs(pair / "b")
    with open(pair / "compare" / "results" / "compare.csv", newline="") as handle:
        rows = {r["question_id"]: r for r in csv.DictReader(handle)}
    for qid in a:
        steps_a = lp_a[a[qid]["fingerprint"]]["steps"]
        steps_b = lp_b[b[qid]["fingerprint"]]["steps"]
        ids_a, ids_b = a[qid]["output_ids"], b[qid]["output_ids"]
        # greedy decoding takes each step's most likely token (bf16 logits tie often: then
        # it is one of the most likely)
        for steps, ids in ((steps_a, ids_a), (steps_b, ids_b)):
            for step, token in zip(steps, ids):
                assert dict(step)[token] == step[0][1]
        position = rows[qid]["first_divergence"]
        kls = json.loads(rows[qid]["kl_per_step"])
        # every step up to and including the first divergence, else every recorded step
        assert len(kls) == (int(position) + 1 if position else min(len(steps_a), len(steps_b)))
        assert max(kls) == pytest.approx(float(rows[qid]["max_kl"]), rel=1e-3)
        if position and int(position) < min(len(ids_a), len(ids_b)):
            assert kls[int(position)] > 0
    assert compared["logprobs"]["tokens"] > 0
    assert compared["logprobs"]["vendor_criterion"]["passed"] is False


def test_batch_1_against_batch_4_in_fp32_is_identical(pair, tmp_path):
    one = accuracy(tmp_path / "b1", "model.dtype=fp32", "runtime.batch_size=1",
                   "runtime.logprobs=5")
    assert compare(pair / "a", one, tmp_path / "cmp") == 0
    compared = result(tmp_path / "cmp")
    assert compared["identical_ids"] == 12 and compared["changed_samples"] == 0
    assert compared["setup_differences"] == ["runtime.batch_size: 4 -> 1"]
    assert compared["logprobs"]["vendor_criterion"]["passed"] is True
    # 12 samples that agree everywhere cannot show equivalence within 1 point
    assert compared["verdict"] == "inconclusive" and compared["samples_needed"] == 299


@pytest.mark.parametrize("model", ["demo_qwen2_vl", "demo_deepseek_vl2", "demo_vlmo"])
def test_logprobs_change_no_generated_id(model, tmp_path):
    runs = {}
    for k in (0, 3):
        out = tmp_path / f"k{k}"
        assert main([f"model={model}", "task=vqav2", f"runtime.logprobs={k}",
                     f"output_dir={out}"]) == 0
        runs[k] = records(out)
    assert not (tmp_path / "k0" / "debug" / "logprobs.jsonl").exists()
    for qid, plain in runs[0].items():
        assert runs[3][qid]["output_ids"] == plain["output_ids"]
        assert runs[3][qid]["prediction"] == plain["prediction"]
    lines = logprobs(tmp_path / "k3")
    assert len(lines) == 12
    for record in runs[3].values():
        steps = lines[record["fingerprint"]]["steps"]
        ids = record["output_ids"]
        assert all(len(step) == 3 for step in steps)
        # up to the end of sequence: its own step too when it stopped early (VLMo: one step)
        expected = 1 if model == "demo_vlmo" else min(len(ids) + 1, 10)
        assert len(steps) == expected
        assert all(dict(step)[token] == step[0][1] for step, token in zip(steps, ids))


def test_refused_pairs(pair, tmp_path, capsys):
    other_task = tmp_path / "textvqa"
    assert main(["model=demo_qwen2_vl", "task=textvqa", f"output_dir={other_task}"]) == 0
    fewer = accuracy(tmp_path / "limit", "task.limit=6")
    template = accuracy(tmp_path / "template", "task.prompt_template='{question} One word.'")
    data = tmp_path / "data"
    shutil.copytree(demo_root() / "data" / "vqav2", data)
    annotations = data / "v2_mscoco_val2014_annotations.json"
    content = json.loads(annotations.read_text())
    content["annotations"][0]["answers"][0]["answer"] = "something else"
    annotations.write_text(json.dumps(content))
    edited = accuracy(tmp_path / "edited", f"task.annotation_file={annotations}",
                      f"task.question_file={data / 'v2_OpenEnded_mscoco_val2014_questions.json'}",
                      f"task.image_dir={data / 'val2014'}")
    capsys.readouterr()
    for run, named in ((other_task, "task vqav2 against textvqa"),
                       (fewer, "sample set of 12 samples"),
                       (template, "prompt template"),
                       (edited, "data file annotation_file has other content"),
                       (tmp_path / "nowhere", "no such folder")):
        assert compare(pair / "a", run, tmp_path / "cmp") == 2
        error = capsys.readouterr().err.strip()
        assert named in error and "\n" not in error, error
    assert compare(pair / "a", fewer, tmp_path / "allowed", "runner.allow_mismatch=true") == 0
    allowed = result(tmp_path / "allowed")
    assert allowed["samples"] == 6 and allowed["mismatches_allowed"]
    assert any("runner.allow_mismatch=true" in note for note in allowed["notes"])


def test_changed_inputs_are_blamed_on_preprocessing(pair, tmp_path):
    """Three images replaced by their mirror images: their questions' outputs change because
    the inputs did; every other sample is the same."""
    data = tmp_path / "data"
    shutil.copytree(demo_root() / "data" / "vqav2", data)
    images = sorted((data / "val2014").glob("*.jpg"))[:3]
    for path in images:
        with Image.open(path) as image:
            ImageOps.mirror(image).save(path, quality=95)
    run = accuracy(tmp_path / "mirrored", "runtime.logprobs=5",
                   f"task.question_file={data / 'v2_OpenEnded_mscoco_val2014_questions.json'}",
                   f"task.annotation_file={data / 'v2_mscoco_val2014_annotations.json'}",
                   f"task.image_dir={data / 'val2014'}")
    assert compare(pair / "a", run, tmp_path / "cmp", "runner.allow_mismatch=true") == 0
    with open(tmp_path / "cmp" / "results" / "compare.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    mirrored = {p.name for p in images}
    for row in rows:
        if Path(row["media"]).name in mirrored:
            assert row["cause"] in ("inputs", "")       # "" when the output did not change
            if row["cause"]:
                assert "pixel_sha256" in row["cause_fields"]
        else:
            assert row["identical_ids"] == "True" and row["cause"] == ""
    assert result(tmp_path / "cmp")["changed_by_cause"]["inputs"] >= 1


def test_a_partial_run_compares_what_both_have(pair, tmp_path):
    partial = tmp_path / "partial"
    shutil.copytree(pair / "b", partial)
    samples = partial / "debug" / "samples.jsonl"
    samples.write_text("".join(samples.read_text().splitlines(keepends=True)[:8]))
    (partial / "results" / "summary.json").unlink()          # a run stopped before reports
    assert compare(pair / "a", partial, tmp_path / "cmp") == 0
    compared = result(tmp_path / "cmp")
    assert compared["samples"] == 8
    assert compared["counts"]["b"] == 8 and compared["counts"]["expected_b"] == 12
    assert any("run b is partial: 8 of its 12 samples" in n for n in compared["notes"])


def _rescored(run: Path, folder: Path, score: float) -> Path:
    """A copy of `run` whose every stored score is `score` (for the gate's exit codes only)."""
    shutil.copytree(run, folder)
    samples = folder / "debug" / "samples.jsonl"
    lines = [json.loads(line) for line in samples.read_text().splitlines()]
    samples.write_text("".join(json.dumps({**r, "score": score}) + "\n" for r in lines))
    return folder


def test_gate_exit_codes_and_reports(pair, tmp_path, monkeypatch):
    summary = tmp_path / "step_summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    assert compare(pair / "a", pair / "b", tmp_path / "strict", "runner.require=equivalent") == 3
    junit = (tmp_path / "strict" / "results" / "junit.xml").read_text()
    assert "<failure" in junit and "verdict inconclusive" in junit
    right = _rescored(pair / "a", tmp_path / "right", 1.0)
    wrong = _rescored(pair / "b", tmp_path / "wrong", 0.0)
    assert compare(right, wrong, tmp_path / "worse") == 3
    worse = result(tmp_path / "worse")
    assert worse["verdict"] == "worse" and worse["right_to_wrong"] == 12
    assert worse["mcnemar_p"] == pytest.approx(2 * 0.5 ** 12)
    assert compare(wrong, right, tmp_path / "better") == 0
    assert result(tmp_path / "better")["verdict"] == "better"
    assert "FAIL" in summary.read_text() and "PASS" in summary.read_text()


def test_bad_case_export_in_ascend_layout(pair):
    a = records(pair / "a")
    results = pair / "compare" / "results"
    changed = result(pair / "compare")["changed_samples"]
    for side in ("a", "b"):
        with open(results / f"badcase_{side}.csv", newline="") as handle:
            reader = csv.DictReader(handle)
            assert reader.fieldnames == ["queries", "input_token_ids", "output_token_ids",
                                         "passed"]
            rows = list(reader)
        assert len(rows) == changed
        run = records(pair / side)
        for row in rows:
            qid, _, prompt = row["queries"].partition(": ")
            assert prompt == a[qid]["prompt"]
            assert json.loads(row["output_token_ids"]) == run[qid]["output_ids"]
            assert len(json.loads(row["input_token_ids"])) == run[qid]["input"]["prompt_tokens"]
            assert row["passed"] in ("Correct", "Wrong")
