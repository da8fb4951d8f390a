"""The report pages opened in a real browser (headless Chromium, tests/browser.py), as a person
looks at them: results/report.html of a demo run (its metric, the "wrong only" and "errors
only" filters, the subject list and the search, thumbnails that loaded, video poster frames,
pictures linked instead with report.thumbnails=false), results/compare.html of a demo
comparison (the verdict, the changed samples side by side with the first divergent token
marked in both token sequences, the histogram, the per-subject table), and strings from data
holding markup shown as text with no script run. No page may log a console error.

MODELTEST_SCREENSHOTS=<folder> also saves the screenshots the README shows.
"""
import json
import os
import shutil
from pathlib import Path

import pytest
from PIL import Image

from browser import Browser
from modeltest.tasks import load_samples
from runners.cli import main
from runners.config import compose, to_container
from runners.demo import ensure_demo_data
from runners.evaluation import prompt_template

SCRIPT = '<script>window.__ran = 1</script><img src=x onerror="window.__ran = 2">'
ERROR = "cannot decode image <b>broken.jpg</b>"
RIGHT = 5                 # samples answered with their most frequent reference


def task_samples(task: str):
    cfg = to_container(compose([f"task={task}"]))
    ensure_demo_data(cfg["task"])
    return load_samples(cfg["task"], prompt_template(cfg))[0]


def records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "debug" / "samples.jsonl").read_text()
            .splitlines()]


def top_reference(references: list[str]) -> str:
    return max(references, key=references.count)


def write_predictions(path: Path, samples, script_at: int, error_at: int) -> Path:
    """The first RIGHT samples answered with their most frequent reference (a full score
    under VQA's rule: at least 4 of the 10 annotators gave it), one prediction holding markup,
    one sample failed with an error that holds markup, the rest a wrong answer."""
    lines = []
    for index, sample in enumerate(samples):
        prediction, error = "zzz wrong", None
        if index < RIGHT:
            assert sample.references.count(top_reference(sample.references)) >= 4
            prediction = top_reference(sample.references)
        elif index == script_at:
            prediction = SCRIPT
        elif index == error_at:
            prediction, error = None, ERROR
        lines.append(json.dumps({"question_id": sample.question_id, "prediction": prediction,
                                 "error": error}))
    path.write_text("\n".join(lines) + "\n")
    return path


def score_run(tmp: Path, task: str, predictions: Path, *extra) -> Path:
    out = tmp / f"{task}-{len(extra)}"
    assert main(["runner=score", f"task={task}", f"runner.predictions={predictions}",
                 f"output_dir={out}", *extra]) == 0
    return out


@pytest.fixture(scope="module")
def browser():
    with Browser() as opened:
        yield opened


def screenshot(browser: Browser, name: str) -> None:
    """With MODELTEST_SCREENSHOTS=<folder>: the viewport as a 256-colour PNG (small enough to
    commit: the README's pictures, docs/)."""
    folder = os.environ.get("MODELTEST_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        shot = Path(folder) / name
        browser.screenshot(shot)
        Image.open(shot).convert("RGB").quantize(256).save(shot, optimize=True)


def shown_rows(browser: Browser) -> int:
    return browser.js("document.querySelectorAll('#samples tbody tr:not([hidden])').length")


def click(browser: Browser, selector: str) -> None:
    browser.js(f"document.querySelector({json.dumps(selector)}).click()")


def test_run_page_shows_metric_filters_thumbnails_and_escapes(browser, tmp_path):
    samples = task_samples("vqav2")
    predictions = write_predictions(tmp_path / "predictions.jsonl", samples, script_at=6,
                                    error_at=7)
    run = score_run(tmp_path, "vqav2", predictions)
    page = run / "results" / "report.html"
    summary = json.loads((run / "results" / "summary.json").read_text())
    browser.open(page)
    assert browser.console == []
    assert browser.js("window.__ran") is None          # no script from data ran
    assert browser.js("document.querySelector('.demo').textContent").startswith("DEMO DATA")
    card = browser.js("document.querySelector('.card[data-metric=accuracy] .value').textContent")
    # 5 of 12 right: 41.67 points, as the run's own summary says
    assert card == f"{100 * RIGHT / len(samples):.2f}" == \
        f"{summary['metrics']['overall']['accuracy']:.2f}"
    assert browser.js("document.querySelector('.card[data-metric=accuracy]').textContent") \
        .count("95% CI [")
    assert shown_rows(browser) == len(samples)
    widths = browser.js("Array.from(document.querySelectorAll('#samples img.thumb'))"
                        ".map(i => i.naturalWidth)")
    assert len(widths) == len(samples) and all(w > 0 for w in widths)
    # the rows are sorted by score: the right ones last
    assert browser.js("Array.from(document.querySelectorAll('#samples tbody tr'))"
                      ".map(r => r.className)")[-RIGHT:] == ["right"] * RIGHT
    screenshot(browser, "report.png")

    click(browser, "#show-wrong")
    assert shown_rows(browser) == len(samples) - RIGHT
    assert browser.js("document.getElementById('count').textContent") == \
        f"{len(samples) - RIGHT} of {len(samples)} shown"
    click(browser, "#show-error")
    assert shown_rows(browser) == 1
    assert browser.js("document.querySelector('#samples tbody tr:not([hidden]) .err')"
                      ".textContent") == ERROR
    click(browser, "#show-all")
    # the prediction holding markup is shown as its text, and found by the search
    browser.js("var s = document.getElementById('search'); s.value = 'onerror';"
               "s.dispatchEvent(new Event('input'))")
    assert shown_rows(browser) == 1
    assert SCRIPT in browser.js("document.querySelector('#samples tbody tr:not([hidden])')"
                                ".innerText")
    assert browser.js("document.querySelectorAll('#samples script, #samples img[src=x]')"
                      ".length") == 0
    browser.js("var s = document.getElementById('search'); s.value = '';"
               "s.dispatchEvent(new Event('input'));"
               "var c = document.getElementById('subject'); c.value = 'number';"
               "c.dispatchEvent(new Event('change'))")
    assert shown_rows(browser) == sum(1 for s in samples if s.subject == "number")
    click(browser, "#sort")          # highest score first
    assert browser.js("document.querySelector('#samples tbody tr').className") == "right"
    assert browser.console == [] and browser.js("window.__ran") is None


def test_run_page_links_pictures_without_thumbnails(browser, tmp_path):
    samples = task_samples("vqav2")
    predictions = write_predictions(tmp_path / "predictions.jsonl", samples, 6, 7)
    run = score_run(tmp_path, "vqav2", predictions, "report.thumbnails=false")
    page = run / "results" / "report.html"
    assert "data:image" not in page.read_text()
    browser.open(page)
    # linked pictures load lazily, as each scrolls into view
    images = browser.js("(async () => { const out = [];"
                        "for (const i of document.querySelectorAll('#samples img.thumb')) {"
                        "i.scrollIntoView(); await i.decode().catch(() => null);"
                        "out.push([i.getAttribute('src'), i.naturalWidth]); } return out; })()")
    assert len(images) == len(samples)
    assert all(not src.startswith("/") and width > 0 for src, width in images)
    assert browser.console == []


def test_video_rows_show_their_first_frame(browser, tmp_path):
    samples = task_samples("videobench")
    lines = [json.dumps({"question_id": s.question_id, "prediction": s.references[0]})
             for s in samples]
    (tmp_path / "answers.jsonl").write_text("\n".join(lines) + "\n")
    run = score_run(tmp_path, "videobench", tmp_path / "answers.jsonl")
    browser.open(run / "results" / "report.html")
    widths = browser.js("Array.from(document.querySelectorAll('#samples img.thumb'))"
                        ".map(i => i.naturalWidth)")
    assert len(widths) == len(samples) and all(w > 0 for w in widths)
    click(browser, "#show-wrong")
    assert shown_rows(browser) == 0
    # the weighted groups the task declares: each with its score (all right: 100) and its
    # subjects and weights, those the demo does not hold marked as not run
    groups = to_container(compose(["task=videobench"]))["task"]["aggregation"]["groups"]
    shown = browser.js("Array.from(document.querySelectorAll('#groups tbody tr')).map(r => "
                       "Array.from(r.cells).map(c => c.textContent))")
    run = {s.subject for s in samples}
    assert [(group, score) for group, score, _, _ in shown] == \
        [(group, "100.00") for group in groups]
    for (_, _, _, parts), weights in zip(shown, groups.values()):
        assert parts == ", ".join(f"{subject} ×{weight:g}" + ("" if subject in run else
                                                             " (not run)")
                                  for subject, weight in weights.items())
    assert browser.console == []


@pytest.fixture(scope="module")
def comparison(tmp_path_factory):
    """The demo Qwen2-VL on the demo VQA v2 set in fp32 and in bf16 (with the top-3
    log-probabilities of every step), compared."""
    root = tmp_path_factory.mktemp("pages")
    for name, dtype in (("a", "fp32"), ("b", "bf16")):
        assert main(["model=demo_qwen2_vl", "task=vqav2", f"model.dtype={dtype}",
                     "runtime.logprobs=3", f"output_dir={root / name}"]) == 0
    assert main(["runner=compare", f"runner.a={root / 'a'}", f"runner.b={root / 'b'}",
                 f"output_dir={root / 'compare'}", "runner.bootstrap=500",
                 "runner.labels=[fp32,bf16]"]) == 0
    return root


def test_compare_page_shows_verdict_changed_samples_and_divergent_tokens(browser, comparison):
    result = json.loads((comparison / "compare" / "results" / "compare.json").read_text())
    browser.open(comparison / "compare" / "results" / "compare.html")
    assert browser.console == []
    assert browser.js("document.querySelector('.demo').textContent").startswith("DEMO DATA")
    assert browser.js("document.getElementById('verdict').textContent") == result["verdict"]
    body = browser.js("document.body.innerText")
    assert "vendor KL criterion: at most 0.5% of tokens with KL > 0.0001, none > 0.001: FAIL" \
        in body
    changed = result["changed_samples"]
    assert 0 < changed < 12 and shown_rows(browser) == changed
    # each changed sample: both token sequences, the first divergent token marked in both, at
    # the position compare.json gives
    marks = browser.js("Array.from(document.querySelectorAll('#samples tbody tr')).map(r => "
                       "Array.from(r.querySelectorAll('.toks mark')).map(m => m.title))")
    positions = [row["first_divergence"] for row in result["changed"]]
    assert [[title.split(",")[0] for title in row] for row in marks] == \
        [[f"position {p}"] * 2 for p in positions]
    widths = browser.js("Array.from(document.querySelectorAll('#samples img.thumb'))"
                        ".map(i => i.naturalWidth)")
    assert len(widths) == changed and all(w > 0 for w in widths)
    bars = browser.js("Array.from(document.querySelectorAll('.hist div')).map(d => d.title)")
    assert bars[0] == f"same: {result['identical_ids']}" and len(bars) == 1 + len(
        result["token_level"]["first_divergence_histogram"])
    subjects = browser.js("Array.from(document.querySelectorAll('#subjects tbody tr "
                          "td:first-child')).map(d => d.textContent)")
    assert subjects == ["overall", *result["per_subject"]]
    click(browser, "#show-inputs")          # same inputs in both dtypes: none differed
    assert shown_rows(browser) == 0
    click(browser, "#show-all")
    assert shown_rows(browser) == changed
    screenshot(browser, "compare.png")
    assert browser.console == []


def test_compare_page_shows_markup_in_a_prediction_as_text(browser, comparison, tmp_path):
    """A run whose prediction holds markup (copied from the demo run, one answer changed)."""
    marked = tmp_path / "b"
    shutil.copytree(comparison / "b", marked)
    lines = records(marked)
    lines[0]["cleaned_prediction"] = lines[0]["prediction"] = SCRIPT
    (marked / "debug" / "samples.jsonl").write_text(
        "".join(json.dumps(line) + "\n" for line in lines))
    assert main(["runner=compare", f"runner.a={comparison / 'a'}", f"runner.b={marked}",
                 f"output_dir={tmp_path / 'compare'}", "runner.bootstrap=200"]) == 0
    browser.open(tmp_path / "compare" / "results" / "compare.html")
    assert browser.js("window.__ran") is None
    text = browser.js("document.getElementById('samples').innerText")
    assert SCRIPT in text
    assert browser.js("document.querySelectorAll('#samples script, #samples img[src=x]')"
                      ".length") == 0
    assert browser.console == []


def test_performance_page(browser, tmp_path):
    out = tmp_path / "performance"
    assert main(["runner=performance", "runner.batch_sizes=[1,2]", "runner.repeats=1",
                 "runner.max_output_length=4", "runner.warmup=0", f"output_dir={out}"]) == 0
    browser.open(out / "results" / "report.html")
    assert browser.js("document.querySelector('img').naturalWidth") > 0
    assert browser.js("document.querySelectorAll('#sweep tbody tr').length") == 2
    assert browser.js("document.querySelector('.demo').textContent").startswith("DEMO")
    assert browser.console == []


def page_rows(browser: Browser) -> list[tuple[str, str, str]]:
    return [tuple(row) for row in browser.js(
        "Array.from(document.querySelectorAll('#subjects tbody tr')).map(r => "
        "[0, 1, 4].map(i => r.cells[i].textContent))")]


def csv_rows(run: Path) -> list[tuple[str, str, str]]:
    import csv
    (path,) = (run / "results").glob("*_result.csv")
    with open(path, newline="") as handle:
        return [(row["subject"], row["metric"], f"{float(row['value']):.2f}" if row["value"]
                 else "") for row in csv.DictReader(handle)]


def choose(browser: Browser, select: str, value: str) -> int:
    browser.js(f"var c = document.getElementById({json.dumps(select)}); "
               f"c.value = {json.dumps(value)}; c.dispatchEvent(new Event('change'))")
    return shown_rows(browser)


def facet_ids(browser: Browser) -> dict[str, str]:
    return dict(browser.js("Array.from(document.querySelectorAll('select.facet'))"
                           ".map(s => [s.dataset.key, s.id])"))


# The sign-off suite's official tables (MMMU per split and discipline, MME's subtasks with
# perception and cognition, POPE per split, OCRBench's categories and Final Score, Video-MME's
# durations, MVBench's tasks): the page shows each row its CSV shows, its headline metrics
# (a subject's as <subject>/<metric>), and a filter for each of its recorded fields.
SCALED = {"mme": ("score", "perception", "cognition"), "ocrbench": ("score", "final_score")}
SUITE = {"mmmu": "split", "mme": None, "pope": None, "ocrbench": None, "videomme": "domain",
         "mvbench": None}


@pytest.mark.parametrize("task", SUITE)
def test_suite_pages_show_their_official_tables_and_filter_by_recorded_fields(browser,
                                                                              tmp_path, task):
    samples = task_samples(task)
    lines = [json.dumps({"question_id": s.question_id,
                         "prediction": s.references[0] if i % 2 == 0 else "zzz"})
             for i, s in enumerate(samples)]
    (tmp_path / "answers.jsonl").write_text("\n".join(lines) + "\n")
    run = score_run(tmp_path, task, tmp_path / "answers.jsonl")
    summary = json.loads((run / "results" / "summary.json").read_text())
    browser.open(run / "results" / "report.html")
    assert browser.console == []
    assert page_rows(browser) == csv_rows(run)
    cards = dict(browser.js("Array.from(document.querySelectorAll('.card')).map(c => "
                            "[c.dataset.metric, c.querySelector('.value').textContent])"))
    shown_apart = browser.js("(document.getElementById('per-subject-headline') || "
                             "{textContent: ''}).textContent")
    metrics = summary["metrics"]
    for name in summary["headline_metrics"]:
        subject, _, metric = name.rpartition("/")
        if name in metrics["overall"]:
            value = metrics["overall"][name]
        elif metric in metrics.get(subject, {}):
            value = metrics[subject][metric]
        else:       # a metric given per subject only (MME's acc_plus): named, in the table
            assert name not in cards and name in shown_apart
            assert any(row[1] == name for row in page_rows(browser))
            continue
        assert cards[name] == (f"{value:.2f}" if value is not None else "n/a"), name
    # a 0-100 bar for every value in points of the scorer's metric, none for totals on scales
    # of their own (MME's score out of 200 and perception out of 2000, OCRBench's Final
    # Score out of 1000)
    bars = browser.js("Array.from(document.querySelectorAll('#subjects tbody tr')).map(r => "
                      "[r.cells[1].textContent, r.querySelectorAll('.bar').length])")
    assert all(count == 1 for metric, count in bars if metric == summary["scorer"]["metric"])
    assert all(count == 0 for metric, count in bars if metric in SCALED.get(task, ()))
    # every sample has its picture (a video's first frame, a frame folder's first file)
    widths = browser.js("Array.from(document.querySelectorAll('#samples tbody tr')).map(r => "
                        "Array.from(r.querySelectorAll('img.thumb')).map(i => i.naturalWidth))")
    assert len(widths) == len(samples) and all(row and all(row) for row in widths)
    facets = facet_ids(browser)
    separator = {"pope": ","}.get(task)
    by_subject = [s.subject.split(separator) if separator else [s.subject] for s in samples]
    if "subject" in facets:
        for value in sorted({v for subjects in by_subject for v in subjects}):
            assert choose(browser, "subject", value) == sum(value in s for s in by_subject)
        choose(browser, "subject", "")
    field = SUITE[task]
    if field:
        for value in sorted({str(s.fields[field]) for s in samples}):
            assert choose(browser, facets[field], value) == \
                sum(str(s.fields[field]) == value for s in samples)
    assert browser.console == []


def test_frame_folder_videos_are_linked_by_their_first_frame(browser, tmp_path):
    samples = task_samples("mvbench")
    lines = [json.dumps({"question_id": s.question_id, "prediction": "zzz"}) for s in samples]
    (tmp_path / "answers.jsonl").write_text("\n".join(lines) + "\n")
    run = score_run(tmp_path, "mvbench", tmp_path / "answers.jsonl", "report.thumbnails=false")
    browser.open(run / "results" / "report.html")
    folders = [s for s in samples if Path(s.video).is_dir()]
    assert folders, "the demo MVBench has a frame-folder question (TVQA)"
    images = browser.js("(async () => { const out = [];"
                        "for (const i of document.querySelectorAll('#samples img.thumb')) {"
                        "i.scrollIntoView(); await i.decode().catch(() => null);"
                        "out.push([i.getAttribute('src'), i.naturalWidth]); } return out; })()")
    assert [src.rsplit("/", 2)[-2] for src, _ in images] == [Path(s.video).name
                                                             for s in folders]
    assert all(width > 0 for _, width in images)
    videos = browser.js("document.querySelectorAll('#samples video').length")
    assert videos == len(samples) - len(folders)
    assert browser.console == []
