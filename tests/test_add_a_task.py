"""Adding a benchmark is one yaml (and a hook file when its scoring is new), in a config folder
of your own: exactly what the README's "Adding a benchmark" section shows, run end to end."""
import json

import pytest

from runners.cli import main

# A multiple-choice benchmark in VLMEvalKit's TSV layout: one yaml, no code.
CHOICE_YAML = """\
defaults:
  - _defaults
  - _self_
name: shapes_mcq
default_format: vlmevalkit_tsv
local_dataset_path: ${demo_dir:}/data/shapes_mcq/Shapes_MCQ.tsv
subject_field: category
prompt_template: "{question}\\n{option_lines}\\nAnswer with the option's letter."
prompt_fields: [question, option_lines]
max_new_tokens: 5
scorer: choice
choice_fallback: none
choice_similarity_threshold: 0.5
demo_builder: shapes_hooks:build_mcq_demo
"""

# An open-answer benchmark with a scorer of its own: one yaml + one hook file.
COUNT_YAML = """\
defaults:
  - _defaults
  - _self_
name: shapes_count
default_format: vlmevalkit_tsv
local_dataset_path: ${demo_dir:}/data/shapes_count/Shapes_Count.tsv
prompt_template: "{question}\\nAnswer with a number."
max_new_tokens: 5
scorer: shapes_hooks:number_scorer
submission: {writer: result_json, file: "{task}_submission.json", id_key: questionId,
             answer_key: answer}
demo_builder: shapes_hooks:build_count_demo
"""

HOOKS = '''\
"""Hooks of the shapes benchmarks: a scorer and the demo data builders."""
import base64
import io
import re

import pandas as pd
from PIL import Image, ImageDraw

from modeltest.scorers.base import SampleScore, Scorer


def number_scorer(task):
    """Right when the first number in the answer equals the reference."""
    def score(answer, sample):
        found = re.search(r"-?\\d+", answer)
        normalized = found.group(0) if found else ""
        return SampleScore(float(normalized == sample.references[0]), normalized)
    return Scorer("shapes_number", "accuracy", score, source="shapes_hooks.py")


def _image(count):
    image = Image.new("RGB", (64, 64), "white")
    draw = ImageDraw.Draw(image)
    for i in range(count):
        draw.ellipse([4 + 14 * i, 24, 14 + 14 * i, 34], fill="red")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def build_count_demo(folder):
    rows = [[i, _image(i + 1), "How many circles are there?", str(i + 1)] for i in range(4)]
    pd.DataFrame(rows, columns=["index", "image", "question", "answer"]).to_csv(
        folder / "Shapes_Count.tsv", sep="\\t", index=False)


def build_mcq_demo(folder):
    rows = [[i, _image(i + 1) if i < 2 else str(i - 2), "How many circles are there?",
             "1", "2", "3", "ABC"[i % 3], "counting" if i % 2 else "colours"]
            for i in range(4)]
    pd.DataFrame(rows, columns=["index", "image", "question", "A", "B", "C", "answer",
                                "category"]).to_csv(folder / "Shapes_MCQ.tsv", sep="\\t",
                                                    index=False)
'''


@pytest.fixture
def own_config(tmp_path, monkeypatch):
    folder = tmp_path / "myconf"
    (folder / "task").mkdir(parents=True)
    (folder / "task" / "shapes_mcq.yaml").write_text(CHOICE_YAML)
    (folder / "task" / "shapes_count.yaml").write_text(COUNT_YAML)
    (folder / "shapes_hooks.py").write_text(HOOKS)
    monkeypatch.setenv("MODELTEST_CONFIG_PATH", str(folder))
    return folder


def test_a_multiple_choice_benchmark_is_one_yaml(own_config, tmp_path):
    out = tmp_path / "mcq"
    assert main(["task=shapes_mcq", "model=demo_qwen2_vl", f"output_dir={out}"]) == 0
    summary = json.loads((out / "results" / "summary.json").read_text())
    assert summary["scorer"]["name"] == "choice"
    assert summary["num_samples"] == 4 and summary["num_errors"] == 0
    # rows 2 and 3 share the images of rows 0 and 1 (VLMEvalKit's index references)
    assert set(summary["metrics"]) == {"overall", "counting", "colours"}
    records = [json.loads(line) for line in (out / "debug" / "samples.jsonl").open()]
    assert records[2]["images"] == records[0]["images"]
    assert records[0]["prompt"] == ("How many circles are there?\nA. 1\nB. 2\nC. 3\n"
                                    "Answer with the option's letter.")
    assert all(r["score"] in (0.0, 1.0) for r in records)


def test_a_benchmark_with_its_own_scorer_is_one_yaml_and_one_hook(own_config, tmp_path):
    out = tmp_path / "count"
    assert main(["task=shapes_count", "model=demo_qwen2_vl", f"output_dir={out}"]) == 0
    summary = json.loads((out / "results" / "summary.json").read_text())
    assert summary["scorer"]["name"] == "shapes_number"
    assert summary["headline_metrics"] == ["accuracy"]
    submission = json.loads((out / "results" / "shapes_count_submission.json").read_text())
    assert [entry["questionId"] for entry in submission] == [0, 1, 2, 3]
    # rescoring a perfect answer file gives 100, through the same yaml and hook
    perfect = tmp_path / "perfect.json"
    perfect.write_text(json.dumps([{"questionId": i, "answer": f"{i + 1} circles"}
                                   for i in range(4)]))
    rescored = tmp_path / "rescored"
    assert main(["runner=score", "task=shapes_count", f"runner.predictions={perfect}",
                 f"output_dir={rescored}"]) == 0
    summary = json.loads((rescored / "results" / "summary.json").read_text())
    assert summary["metrics"]["overall"]["accuracy"] == 100.0


def test_an_unknown_scorer_is_one_line_naming_the_known_ones(own_config, tmp_path, capsys):
    assert main(["task=shapes_count", "task.scorer=nope", f"output_dir={tmp_path}"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "task.scorer=nope: unknown" in err
    assert "textvqa" in err and "choice" in err
    assert main(["task=shapes_count", "task.scorer=shapes_hooks:missing",
                 f"output_dir={tmp_path / 'b'}"]) == 2
    assert "shapes_hooks has no 'missing'" in capsys.readouterr().err


def test_known_names_are_listed_for_every_registry(capsys, tmp_path):
    assert main(["task=textvqa", "task.format=csv", f"output_dir={tmp_path}"]) == 2
    err = capsys.readouterr().err
    assert "task.format=csv: unknown (known: textvqa_jsonl" in err and "vlmevalkit_tsv" in err
    assert main(["model.adapter=nope", f"output_dir={tmp_path / 'm'}"]) == 2
    assert "model.adapter=nope: unknown (known: qwen2_vl" in capsys.readouterr().err

