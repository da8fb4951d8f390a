"""results/report.html of an accuracy or score run: the headline metrics with their 95%
intervals, the per-subject table with its bars, every sample (picture, question, prediction,
references, score, error) to filter, search and sort, then the settings and environment.

Everything shown comes from the run's summary (summary.json's content), its metric rows
(the result CSV's) and its scored records (samples.jsonl's); the pictures come ready-made
as `Media` (runners/thumbnails.py makes them).
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

from modeltest.reports.html_page import (Media, demo_banner, details, esc, facet_keys,
                                         facets_attr, filter_controls, interval,
                                         key_value_table, media_cell, notes_list, number,
                                         percent_bar, row_facets, thumbs_block, write_page)

MAX_PICTURES = 4        # pictures shown per sample; the rest are counted
DEMO_TEXT = "DEMO DATA: this run used the embedded demo dataset, not a real benchmark"


def record_media(record: dict) -> list[str]:
    """The files a sample's row shows: its first images, or its video."""
    return [*(record.get("images") or [])[:MAX_PICTURES],
            *([record["video"]] if record.get("video") else [])]


def headline_value(metrics: dict, name: str) -> tuple[bool, dict, str]:
    """(found, the table holding it, the metric's name in it) of a headline metric: an overall
    one (`f1`), or one subject's (`adversarial/f1`, task.aggregation.headline), as the gate
    reads them."""
    if name in metrics["overall"]:
        return True, metrics["overall"], name
    subject, _, metric = name.rpartition("/")
    if subject in metrics and metric in metrics[subject]:
        return True, metrics[subject], metric
    return False, {}, name


def _headline(summary: dict) -> str:
    cards, per_subject = [], []
    for name in summary["headline_metrics"]:
        found, table, metric = headline_value(summary["metrics"], name)
        if not found:
            # a headline the aggregation gives per subject only (a subtask's acc_plus): its
            # values are in the per-subject table, not one number
            per_subject.append(name)
            continue
        value = table[metric]
        stderr, ci95 = table.get(f"{metric}_stderr"), table.get(f"{metric}_ci95")
        spread = (f"<div>± {number(stderr)} (standard error)</div>" if stderr is not None
                  else "") + (f"<div>95% CI {interval(ci95)}</div>" if ci95 else "")
        shown = number(value) if value is not None else \
            "<span class=muted title='the scorer leaves it undefined here'>n/a</span>"
        cards.append(f'<div class=card data-metric="{esc(name)}"><div class=name>{esc(name)}'
                     f'</div><div class=value>{shown}</div>{spread}</div>')
    if not cards:
        cards.append("<div class=card><div class=name>metric</div><div class=value>none</div>"
                     "<div>this task has no metric of its own</div></div>")
    note = (f"<div class=muted id=per-subject-headline>per subject, in the table below: "
            f"{esc(', '.join(per_subject))}</div>" if per_subject else "")
    return f"<div class=cards>{''.join(cards)}</div>{note}"


def percent_metrics(summary: dict, rows: list[dict]) -> set[str]:
    """The metrics of the table that are in points out of 100 (means of per-sample scores:
    the scorer's metric and its extra metrics, group scores, a mean of groups); a set-level
    metric an aggregation hook adds has a scale of its own (a subtask's score out of 200, a
    final score out of 1000) and is named in task.aggregation.headline."""
    hooked = {name.rpartition("/")[2]
              for name in summary["config"]["task"]["aggregation"]["headline"]}
    return {row["metric"] for row in rows} - (hooked - {summary["scorer"]["metric"]})


def _subject_table(rows: list[dict], percent: set[str]) -> str:
    body = []
    for row in rows:
        value = row["value"]
        bar = percent_bar(value, row.get("ci95")) if row["metric"] in percent and \
            isinstance(value, (int, float)) and 0 <= value <= 100 else ""
        stderr = f"± {number(row['stderr'])}" if row.get("stderr") is not None else ""
        body.append(f"<tr><td>{esc(row['subject'])}</td><td>{esc(row['metric'])}</td>"
                    f"<td class=num>{esc(row['total'])}</td><td class=num>{esc(row['pass'])}</td>"
                    f"<td class=num>{number(value)}</td><td class=num>{stderr}</td>"
                    f"<td class=num>{interval(row.get('ci95'))}</td><td>{bar}</td></tr>")
    return ("<table id=subjects><thead><tr><th>subject</th><th>metric</th><th class=num>total"
            "</th><th class=num>pass</th><th class=num>value</th><th class=num>stderr</th>"
            "<th class=num>95% CI</th><th>0 to 100</th></tr></thead><tbody>"
            + "".join(body) + "</tbody></table>")


def _groups_table(summary: dict) -> str:
    """The weighted groups the task declares (task.aggregation.groups): each group's score
    and what it is made of, every subject with its weight, those not run marked."""
    groups = summary["config"]["task"]["aggregation"]["groups"]
    if not groups:
        return ""
    scores = summary["metrics"]["overall"].get("groups") or {}
    run = set(summary["metrics"])
    body = []
    for group, weights in groups.items():
        parts = ", ".join(
            f"{esc(subject)} ×{number(weight, 2).rstrip('0').rstrip('.')}"
            + ("" if subject in run else " <span class=muted>(not run)</span>")
            for subject, weight in weights.items())
        score = scores.get(group)
        body.append(f"<tr><td>{esc(group)}</td><td class=num>{number(score)}</td>"
                    f"<td>{percent_bar(score)}</td><td>{parts}</td></tr>")
    return ("<h3>Weighted groups</h3><table id=groups><thead><tr><th>group</th>"
            "<th class=num>score</th><th>0 to 100</th><th>subjects × weight (the weighted "
            "mean of those run)</th></tr></thead><tbody>" + "".join(body) + "</tbody></table>")


def references_text(references) -> str:
    """Distinct references in order, with how many annotators gave each."""
    if not references:
        return ""
    counts = Counter(str(r) for r in references)
    return " | ".join(f"{answer} ×{count}" if count > 1 else answer
                      for answer, count in counts.items())


def score_text(score) -> str:
    """A sample's score (0..1) in points, as the metrics are."""
    if not isinstance(score, (int, float)):
        return ""
    return f"{100 * score:.1f}".removesuffix(".0")


def row_class(record: dict) -> str:
    if record.get("error"):
        return "error wrong"
    score = record.get("score")
    if not isinstance(score, (int, float)):
        return "unscored"
    return "right" if score >= 1.0 else "wrong"


def _samples_table(records: list[dict], facets: list[dict], media: dict[str, Media],
                   thumbs: dict[str, int]) -> str:
    def order(item):
        score = item[1].get("score")
        return (not isinstance(score, (int, float)), score or 0.0, item[0])

    keys = facet_keys(facets)
    body = []
    for index, record in sorted(enumerate(records), key=order):
        paths = record_media(record)
        more = len(record.get("images") or []) - MAX_PICTURES
        pictures = media_cell(paths, media, thumbs) + (
            f"<span class=muted>+{more} more</span>" if more > 0 else "")
        score = record.get("score")
        body.append(
            f'<tr class="{row_class(record)}"{facets_attr(facets[index], keys)} '
            f'data-score="{esc(score if isinstance(score, (int, float)) else "")}">'
            f"<td>{pictures}</td><td>{esc(record.get('question_id'))}</td>"
            f"<td>{esc(record.get('subject'))}</td>"
            f"<td class=text>{esc(record.get('prompt'))}</td>"
            f"<td class=text>{esc(record.get('cleaned_prediction'))}</td>"
            f"<td class=text>{esc(references_text(record.get('references')))}</td>"
            f"<td class='num score'>{score_text(score)}</td>"
            f"<td class='text err'>{esc(record.get('error'))}</td></tr>")
    return ("<table id=samples><thead><tr><th>picture</th><th>id</th><th>subject</th>"
            "<th>question</th><th>prediction</th><th>references</th>"
            "<th class=num><button id=sort type=button>score \u25b2</button></th><th>error</th>"
            "</tr></thead><tbody>" + "".join(body) + "</tbody></table>")


def _environment(summary: dict) -> str:
    parts = []
    run = {key: summary.get(key) for key in ("device", "tp", "dp", "batch_size",
                                             "samples_per_second", "tokens_per_second",
                                             "generation_seconds", "finished_at", "seed")
           if summary.get(key) is not None}
    parts.append(details("Run", key_value_table(run), open_=True))
    if summary.get("generation"):
        parts.append(details("Generation settings", key_value_table(summary["generation"]),
                             open_=True))
    parts.append(details("Scorer", key_value_table(summary["scorer"])))
    if summary.get("environment"):
        parts.append(details("Environment (libraries, device, numerics)",
                             key_value_table(summary["environment"])))
    parts.append(details("Library versions", key_value_table(summary["versions"])))
    parts.append(details("Config (config.yaml)", key_value_table(summary["config"])))
    return "".join(parts)


def render_run_body(summary: dict, rows: list[dict], records: list[dict],
                    media: dict[str, Media]) -> str:
    thumbs: dict[str, int] = {}
    task = summary["config"]["task"]
    facets = [row_facets(r.get("subject"), r.get("fields"), task["subject_separator"],
                         task["subject_field"]) for r in records]
    samples = _samples_table(records, facets, media, thumbs)
    errors = sum(1 for r in records if r.get("error"))
    wrong = sum(1 for r in records if "wrong" in row_class(r))
    head = (f"<h1>{esc(summary['task'])} on {esc(summary['model'])}</h1>"
            f"<div class=muted>runner={esc(summary['runner'])} · {esc(summary['num_samples'])} "
            f"of {esc(summary['num_task_samples'])} samples · {errors} error(s) · finished "
            f"{esc(summary.get('finished_at'))}</div>")
    return "".join([
        demo_banner(DEMO_TEXT if summary.get("demo_data") else None), head,
        "<h2>Headline metrics</h2>", _headline(summary),
        notes_list([n for n in summary.get("notes") or [] if n != DEMO_TEXT]),
        "<h2>Per subject</h2>", _subject_table(rows, percent_metrics(summary, rows)),
        _groups_table(summary),
        f"<h2>Samples ({len(records)}; {wrong} wrong, {errors} error)</h2>",
        filter_controls([("all", "all"), ("wrong", "wrong only"), ("error", "errors only")],
                        facets, len(records)),
        samples, thumbs_block(thumbs),
        "<h2>Settings and environment</h2>", _environment(summary)])


def write_run_page(path: Path, summary: dict, rows: list[dict], records: list[dict],
                   media: dict[str, Media]) -> None:
    """`rows`: the metric rows (modeltest.reports.metric_rows); `media`: each shown file's
    picture, by the path the records name."""
    linked = any(m.thumbnail is None and m.problem is None for m in media.values())
    write_page(path, f"{summary['task']} on {summary['model']}",
               render_run_body(summary, rows, records, media), linked_media=linked)
