"""results/compare.html of runner=compare: the verdict and its numbers first, what differs in
the setup, then the samples that changed side by side (both predictions and scores, both
token sequences with the first divergent token marked, whether the inputs already differed),
the first-divergence histogram and the score difference per subject with its interval.

It shows the comparison's dict (compare.json's content) and the changed samples' rows
(modeltest.compare.comparison, which hold both runs' output_ids); token texts come from each
run's own tokenizer when the runner could load it, else the ids are shown.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from modeltest.reports.html_page import (Media, demo_banner, details, esc, facet_keys,
                                         facets_attr, filter_controls, interval, interval_bar,
                                         key_value_table, media_cell, notes_list, number,
                                         row_facets, thumbs_block, write_page)
from modeltest.reports.run_page import record_media, references_text, score_text

TOKENS_BEFORE = 30      # tokens shown before the first divergence
TOKENS_AFTER = 12       # and after it
DEMO_TEXT = "DEMO DATA: one or both runs used the embedded demo dataset, not a real benchmark"
Decoder = Callable[[list[int]], str]


def _p(value) -> str:
    if value is None:
        return "–"
    return f"{value:.4f}" if value >= 1e-4 else f"{value:.1e}"


def _side_name(result: dict, side: int) -> str:
    label = result["labels"][side]
    model = result["model_a" if side == 0 else "model_b"]
    return model if label in ("a", "b") else f"{label} ({model})"


def _card(name: str, value: str, extra: str = "", css: str = "") -> str:
    return (f'<div class=card><div class=name>{esc(name)}</div><div class="value {css}">'
            f'{value}</div>{extra}</div>')


def _verdict(result: dict) -> list[str]:
    overall = result["answer_level"]
    if not overall:
        return [_card("verdict", "none", "<div>no answer level: the samples have no score in "
                      "both runs</div>")]
    verdict = result["verdict"]
    needed = (f"<div>about {esc(result['samples_needed'])} samples would be needed</div>"
              if verdict == "inconclusive" and result["samples_needed"] else "")
    cards = [
        _card("verdict", f'<span id=verdict class="verdict {esc(verdict)}">{esc(verdict)}</span>',
              f"<div>at margin ±{number(result['margin'], 2)} points</div>"
              f"<div>TOST p {_p(overall['tost_p'])}, 90% CI "
              f"{interval(overall['delta_ci90'], signed=True)}</div>{needed}"),
        _card("score b − a (points)", number(result["delta"], signed=True),
              f"<div>95% CI {interval(result['delta_ci95'], signed=True)} (t)</div>"
              f"<div>{interval(result['delta_ci95_bootstrap'], signed=True)} (bootstrap)</div>"
              f"<div>difference p {_p(overall['p_difference'])}</div>"),
        _card("score a", number(result["score_a"]), f"<div>{esc(_side_name(result, 0))}</div>"),
        _card("score b", number(result["score_b"]), f"<div>{esc(_side_name(result, 1))}</div>"),
        _card("flips", f"{esc(result['right_to_wrong'])} / {esc(result['wrong_to_right'])}",
              "<div>right→wrong / wrong→right</div>"
              f"<div>McNemar p {_p(result['mcnemar_p'])}</div>"),
    ]
    return cards


def _token_level(result: dict) -> tuple[list[str], str]:
    """The token-level cards, and the vendor criterion's line where both runs hold
    log-probabilities."""
    tokens = result["token_level"]
    cards = [_card("samples compared", esc(result["samples"])),
             _card("identical answers", esc(result["identical_answers"]))]
    if tokens["samples_with_ids"]:
        cards.insert(1, _card("identical token ids", f"{esc(tokens['identical_ids'])} of "
                              f"{esc(tokens['samples_with_ids'])}",
                              f"<div>{100 * tokens['identical_ids_share']:.1f}%</div>"))
    lines = []
    logprobs = result["logprobs"]
    if logprobs and logprobs["vendor_criterion"]:
        criterion = logprobs["vendor_criterion"]
        lines.append(f"<p><b>{esc(criterion['name'])}: "
                     f"{'PASS' if criterion['passed'] else 'FAIL'}</b> ({esc(criterion['tokens'])}"
                     f" steps, {esc(criterion['over_token_kl'])} over; max KL "
                     f"{number(logprobs['max_kl'], 3)})</p>")
    return cards, "".join(lines)


def token_strip(ids, position, decoder: Decoder | None) -> str:
    """The generated tokens around the first divergence, that token marked; ids when the
    run's tokenizer is not at hand."""
    if ids is None:
        return "<span class=muted>no output_ids</span>"
    centre = len(ids) if position is None else position
    start = max(0, centre - TOKENS_BEFORE)
    end = min(len(ids), centre + TOKENS_AFTER + 1)
    parts = ["…"] if start else []
    for index in range(start, end):
        text = decoder([ids[index]]) if decoder else str(ids[index])
        tag = "mark" if index == position else "span"
        parts.append(f'<{tag} title="position {index}, id {ids[index]}">{esc(text)}</{tag}>')
    if position is not None and position >= len(ids):
        parts.append(f'<mark title="position {position}: this run ended">&lt;end&gt;</mark>')
    if end < len(ids):
        parts.append(f"… ({len(ids)} tokens)")
    return f"<div class=toks>{''.join(parts)}</div>"


def _flipped(row: dict) -> bool:
    a, b = row["score_a"], row["score_b"]
    return a is not None and b is not None and (a >= 1.0) != (b >= 1.0)


def _side(row: dict, side: str, decoder: Decoder | None) -> str:
    error = row[f"error_{side}"]
    return (f"<td><div class=text>{esc(row[f'prediction_{side}'])}</div>"
            f"<div>score <b>{score_text(row[f'score_{side}'])}</b></div>"
            + (f"<div class=err>{esc(error)}</div>" if error else "")
            + token_strip(row[f"output_ids_{side}"], row["first_divergence"], decoder) + "</td>")


def _changed_table(rows: list[dict], records_a: dict, decoders: dict,
                   media: dict[str, Media], thumbs: dict[str, int], result: dict) -> str:
    facets = [row_facets(row["subject"], (records_a.get(row["question_id"]) or {})
                         .get("fields"), None) for row in rows]
    keys = facet_keys(facets)
    body = []
    for row, row_facet in zip(rows, facets):
        record = records_a.get(row["question_id"]) or {}
        classes = ["flip"] if _flipped(row) else []
        classes.append(row["cause"] or "unknown")
        fields = f" ({', '.join(row['cause_fields'])})" if row["cause_fields"] else ""
        cause = {"inputs": "inputs already differed", "model": "same inputs: the model",
                 "unknown": "inputs not comparable"}.get(row["cause"], row["cause"])
        position = row["first_divergence"]
        body.append(
            f'<tr class="{esc(" ".join(classes))}"'
            f'{facets_attr(row_facet, keys)} '
            f'data-score="{esc(position if position is not None else "")}">'
            f"<td>{media_cell(record_media(record), media, thumbs)}</td>"
            f"<td><div><b>{esc(row['question_id'])}</b> {esc(row['subject'])}</div>"
            f"<div class=text>{esc(record.get('prompt'))}</div>"
            f"<div>references: {esc(references_text(row['references']))}</div>"
            f"<div>first divergence: {esc(position if position is not None else '–')}</div>"
            + ("<span class='badge flip'>flipped</span> " if _flipped(row) else "")
            + f'<span class="badge {esc(row["cause"])}">{esc(cause)}{esc(fields)}</span></td>'
            + _side(row, "a", decoders.get("a")) + _side(row, "b", decoders.get("b")) + "</tr>")
    return (f"<table id=samples><thead><tr><th>picture</th><th>sample</th>"
            f"<th>a: {esc(_side_name(result, 0))}</th><th>b: {esc(_side_name(result, 1))}</th>"
            "</tr></thead><tbody>" + "".join(body) + "</tbody></table>")


def histogram_bins(histogram: dict) -> list[tuple[str, int]]:
    """(label, samples) per first-divergence position; powers-of-two bins past 24 positions."""
    counts = {int(k): v for k, v in histogram.items()}
    if len(counts) <= 24:
        return [(str(k), counts[k]) for k in sorted(counts)]
    bins: dict[tuple[int, int], int] = {}
    for position, count in counts.items():
        low = 0 if position == 0 else 1 << (position.bit_length() - 1)
        high = 0 if position == 0 else 2 * low - 1
        bins[(low, high)] = bins.get((low, high), 0) + count
    return [(str(low) if low == high else f"{low}–{high}", count)
            for (low, high), count in sorted(bins.items())]


def _histogram(result: dict) -> str:
    tokens = result["token_level"]
    if not tokens["samples_with_ids"]:
        return "<p class=muted>no sample has output_ids in both runs</p>"
    bars = [("same", tokens["identical_ids"], "same")] + [
        (label, count, "") for label, count in histogram_bins(
            tokens["first_divergence_histogram"])]
    top = max(count for _, count, _ in bars) or 1
    columns = "".join(f'<div class="{css}" style="height:{100 * count / top:.1f}%" '
                      f'title="{esc(label)}: {count}">{count}</div>' for label, count, css in bars)
    labels = "".join(f"<span>{esc(label)}</span>" for label, _, _ in bars)
    return (f"<div id=histogram><div class=hist>{columns}</div><div class=hist-labels>{labels}"
            "</div><div class=muted>samples per first divergent token position "
            "(green: identical ids)</div></div>")


def _subjects(result: dict) -> str:
    if not result["answer_level"]:
        return "<p class=muted>no answer level</p>"
    blocks = [("overall", result["answer_level"])] + list(result["per_subject"].items())
    margin = float(result["margin"])
    ends = [abs(x) for _, b in blocks for x in (b["delta_ci95"] or [b["delta"] or 0.0])]
    scale = 1.1 * max([2 * margin, *ends])
    body = "".join(
        f"<tr><td>{esc(name)}</td><td class=num>{esc(b['samples'])}</td>"
        f"<td class=num>{number(b['score_a'])}</td><td class=num>{number(b['score_b'])}</td>"
        f"<td class=num>{number(b['delta'], signed=True)}</td>"
        f"<td class=num>{interval(b['delta_ci95'], signed=True)}</td>"
        f"<td>{interval_bar(b['delta'], b['delta_ci95'], margin, scale)}</td>"
        f"<td class=num>{_p(b['mcnemar_p'])}</td><td class=num>{esc(b['right_to_wrong'])} / "
        f"{esc(b['wrong_to_right'])}</td><td>{esc(b['verdict'])}</td></tr>"
        for name, b in blocks)
    return ("<table id=subjects><thead><tr><th>subject</th><th class=num>samples</th>"
            "<th class=num>score a</th><th class=num>score b</th><th class=num>b − a</th>"
            "<th class=num>95% CI</th>"
            f"<th>−{scale:.1f} … +{scale:.1f}, shaded ±{margin:g}</th>"
            "<th class=num>McNemar p</th><th class=num>r→w / w→r</th><th>verdict</th></tr>"
            "</thead><tbody>" + body + "</tbody></table>")


def render_compare_body(result: dict, rows: list[dict], records_a: dict, decoders: dict,
                        media: dict[str, Media]) -> str:
    thumbs: dict[str, int] = {}
    changed = _changed_table(rows, records_a, decoders, media, thumbs, result)
    causes = result["changed_by_cause"]
    setup = result["setup_differences"]
    token_cards, criterion = _token_level(result)
    return "".join([
        demo_banner(DEMO_TEXT if result["demo_data"] else None),
        f"<h1>{esc(result['task'])}: a = {esc(_side_name(result, 0))}, "
        f"b = {esc(_side_name(result, 1))}</h1>",
        "<div class=muted>run a is the reference; differences are b − a</div>",
        "<h2>Verdict</h2>", f"<div class=cards>{''.join(_verdict(result) + token_cards)}</div>",
        criterion,
        "<h2>What differs in the setup</h2>",
        notes_list(setup) if setup else "<p class=muted>nothing recorded differs</p>",
        notes_list(result["notes"]),
        f"<h2>Samples that changed ({len(rows)}: inputs already differed "
        f"{esc(causes['inputs'])}, model {esc(causes['model'])}, unknown "
        f"{esc(causes['unknown'])})</h2>",
        filter_controls([("all", "all changed"), ("flip", "flipped only"),
                         ("inputs", "inputs differed")],
                        [row_facets(r["subject"], (records_a.get(r["question_id"]) or {})
                                    .get("fields"), None) for r in rows], len(rows)),
        changed, thumbs_block(thumbs),
        "<h2>First divergence</h2>", _histogram(result),
        "<h2>Score difference per subject</h2>", _subjects(result),
        "<h2>Runs</h2>",
        details("Runs and counts", key_value_table({
            "run_a": result["run_a"], "run_b": result["run_b"], "counts": result["counts"],
            "bootstrap": result["bootstrap"], "logprobs": result["logprobs"]}))])


def write_compare_page(path: Path, result: dict, rows: list[dict], records_a: dict,
                       decoders: dict, media: dict[str, Media]) -> None:
    """`rows`: the changed samples' rows, earliest divergence first; `records_a`: run a's
    records by question id (question, pictures); `decoders`: "a"/"b" -> token ids to text."""
    linked = any(m.thumbnail is None and m.problem is None for m in media.values())
    write_page(path, f"compare {result['task']}",
               render_compare_body(result, rows, records_a, decoders, media), linked)
