"""The frame every HTML report shares (run, comparison, performance): one self-contained file
with its styles and its one small script inline, no network, no server, no framework.

Every string that comes from data (a question, a prediction, a file name, a config value)
goes through `esc` (or `json_block` inside a script data block) and nothing else writes raw
text into a page. The page's Content-Security-Policy allows only the page's own script (by
its SHA-256), so even a string that escaped escaping could not run.
"""
from __future__ import annotations

import base64
import hashlib
import html
import json
from dataclasses import dataclass
from pathlib import Path

from modeltest.reports.atomic import write_text_atomic


@dataclass(frozen=True)
class Media:
    """How a page shows one image or video file: `thumbnail` is a small picture inlined as a
    data: URI (an image, or a video's first frame), `link` the file by its path relative to
    the page; `problem` says why there is no thumbnail."""
    link: str
    video: bool = False
    thumbnail: str | None = None
    problem: str | None = None


STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:0 1.5em 3em;color:#1d1d1f}
h1{font-size:1.5em;margin:.6em 0 .2em}h2{font-size:1.15em;margin:1.6em 0 .5em}
.demo{background:#fff3cd;border:1px solid #e0b400;padding:.5em 1em;margin:.8em 0;font-weight:600}
.notes{color:#444}.muted{color:#777}
.cards{display:flex;flex-wrap:wrap;gap:.8em}
.card{border:1px solid #ccd;border-radius:6px;padding:.6em 1em;min-width:11em}
.card .name{color:#555}.card .value{font-size:1.8em;font-weight:600}
.verdict{font-size:1.3em;font-weight:700;text-transform:uppercase}
.verdict.equivalent,.verdict.better{color:#13794b}
.verdict.worse,.verdict.not_equivalent{color:#b42318}
.verdict.inconclusive{color:#9a6700}
table{border-collapse:collapse;margin:.3em 0}
th,td{border-bottom:1px solid #e4e4e8;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#f5f5f7;position:sticky;top:0}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.text{white-space:pre-wrap;max-width:34em;overflow-wrap:anywhere}
tr.right td.score{color:#13794b}tr.wrong td.score{color:#b42318}
tr.error td.err{color:#b42318}
.bar{position:relative;width:14em;height:1em;background:#eef}
.bar .fill{position:absolute;top:0;bottom:0;left:0;background:#7a9be0}
.bar .ci{position:absolute;top:45%;height:10%;background:#223}
.bar .band{position:absolute;top:0;bottom:0;background:#dfe}
.bar .zero{position:absolute;top:0;bottom:0;width:1px;background:#555}
.bar .dot{position:absolute;top:25%;width:.5em;height:50%;margin-left:-.25em;background:#223}
.hist{display:flex;align-items:flex-end;gap:3px;height:9em;border-bottom:1px solid #999}
.hist div{background:#e0913a;text-align:center;font-size:.75em}
.hist div.same{background:#3a9e5c}
.hist div,.hist-labels span{flex:0 0 2.6em}
.hist-labels{display:flex;gap:3px}.hist-labels span{text-align:center;font-size:.75em}
.controls{display:flex;flex-wrap:wrap;gap:1em;align-items:center;margin:.5em 0;
position:sticky;top:0;background:#fff;padding:.4em 0;z-index:1}
img.thumb{max-width:80px;max-height:80px;display:block}
video.thumb{max-width:120px}
.toks{font-family:ui-monospace,monospace;font-size:.85em;max-width:34em;overflow-wrap:anywhere}
.toks span{white-space:pre;border:1px solid #ddd;margin:0 1px;padding:0 1px}
.toks mark{white-space:pre;background:#ffd24d;border:2px solid #b42318;font-weight:700}
.badge{display:inline-block;padding:0 .4em;border-radius:3px;background:#eee;font-size:.85em}
.badge.flip{background:#fde2e1}.badge.inputs{background:#fff0c2}
details{margin:.4em 0}summary{cursor:pointer;font-weight:600}
button{white-space:nowrap}
"""

# Filters, search and sort for the one table with id "samples". Rows carry classes (the
# radio buttons named "show" keep rows with that class), data-facets (JSON: {key: value or
# list of values}; each drop-down of class "facet" keeps the rows holding its choice under
# its data-key) and data-score.
SCRIPT = """
(function () {
  var thumbs = document.getElementById("thumbs");
  if (thumbs) {
    var sources = JSON.parse(thumbs.textContent);
    document.querySelectorAll("img[data-thumb]").forEach(function (img) {
      img.src = sources[img.dataset.thumb];
    });
  }
  var table = document.getElementById("samples");
  if (!table) return;
  var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
  var texts = rows.map(function (row) { return row.textContent.toLowerCase(); });
  var facets = Array.prototype.slice.call(document.querySelectorAll("select.facet"));
  var values = rows.map(function (row) { return JSON.parse(row.dataset.facets || "{}"); });
  var search = document.getElementById("search");
  var count = document.getElementById("count"), sort = document.getElementById("sort");
  function matches(facet, i) {
    var v = values[i][facet.dataset.key];
    return !facet.value || (Array.isArray(v) ? v.indexOf(facet.value) >= 0 : v === facet.value);
  }
  function apply() {
    var show = document.querySelector("input[name=show]:checked").value;
    var query = search.value.trim().toLowerCase();
    var shown = 0;
    rows.forEach(function (row, i) {
      var keep = (show === "all" || row.classList.contains(show)) &&
        facets.every(function (facet) { return matches(facet, i); }) &&
        (!query || texts[i].indexOf(query) >= 0);
      row.hidden = !keep;
      shown += keep ? 1 : 0;
    });
    count.textContent = shown + " of " + rows.length + " shown";
  }
  document.querySelectorAll("input[name=show]").forEach(function (radio) {
    radio.addEventListener("change", apply);
  });
  facets.forEach(function (facet) { facet.addEventListener("change", apply); });
  search.addEventListener("input", apply);
  if (sort) {
    var ascending = true;
    sort.addEventListener("click", function () {
      ascending = !ascending;
      var order = rows.slice().sort(function (a, b) {
        var x = parseFloat(a.dataset.score), y = parseFloat(b.dataset.score);
        if (isNaN(x) || isNaN(y)) return isNaN(x) - isNaN(y);
        return ascending ? x - y : y - x;
      });
      order.forEach(function (row) { body.appendChild(row); });
      sort.textContent = ascending ? "score \\u25b2" : "score \\u25bc";
    });
  }
  apply();
})();
"""


def esc(value) -> str:
    """Text from data, safe in an element and in a quoted attribute."""
    return html.escape("" if value is None else str(value), quote=True)


def json_block(element_id: str, value) -> str:
    """Data for the page's script, in a block the browser never runs; `<`, `>` and `&` are
    written as JSON escapes so no string can close the block."""
    text = json.dumps(value, ensure_ascii=False).replace("<", "\\u003c") \
        .replace(">", "\\u003e").replace("&", "\\u0026")
    return f'<script type="application/json" id="{esc(element_id)}">{text}</script>'


def number(value, digits: int = 2, signed: bool = False) -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "" if value is None else esc(value)
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def interval(values, digits: int = 2, signed: bool = False) -> str:
    if not values:
        return ""
    return f"[{number(values[0], digits, signed)}, {number(values[1], digits, signed)}]"


def flatten(section, prefix: str = "") -> list[tuple[str, str]]:
    """A nested mapping as (dotted key, value) rows; lists as JSON."""
    if not isinstance(section, dict):
        return [(prefix, section if isinstance(section, str) else json.dumps(section,
                                                                             default=str))]
    rows = []
    for key, value in section.items():
        rows.extend(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return rows


def key_value_table(section) -> str:
    rows = "".join(f"<tr><th>{esc(key)}</th><td class=text>{esc(value)}</td></tr>"
                   for key, value in flatten(section))
    return f"<table>{rows}</table>"


def details(title: str, content: str, open_: bool = False) -> str:
    return f"<details{' open' if open_ else ''}><summary>{esc(title)}</summary>{content}</details>"


def percent_bar(value, ci95=None) -> str:
    """A 0..100 bar with its 95% interval drawn across it."""
    if not isinstance(value, (int, float)):
        return ""
    clamp = lambda x: max(0.0, min(100.0, float(x)))  # noqa: E731
    parts = [f'<div class=fill style="width:{clamp(value):.2f}%"></div>']
    if ci95:
        low, high = clamp(ci95[0]), clamp(ci95[1])
        parts.append(f'<div class=ci style="left:{low:.2f}%;width:{high - low:.2f}%"></div>')
    return f'<div class=bar title="{number(value)}">{"".join(parts)}</div>'


def interval_bar(delta, ci95, margin: float, scale: float) -> str:
    """A difference with its 95% interval on [-scale, +scale], the ±margin band shaded."""
    if not isinstance(delta, (int, float)):
        return ""
    at = lambda x: (max(-scale, min(scale, float(x))) + scale) / (2 * scale) * 100  # noqa: E731
    parts = [f'<div class=band style="left:{at(-margin):.2f}%;'
             f'width:{at(margin) - at(-margin):.2f}%"></div>',
             f'<div class=zero style="left:{at(0):.2f}%"></div>']
    if ci95:
        parts.append(f'<div class=ci style="left:{at(ci95[0]):.2f}%;'
                     f'width:{at(ci95[1]) - at(ci95[0]):.2f}%"></div>')
    parts.append(f'<div class=dot style="left:{at(delta):.2f}%"></div>')
    return f'<div class=bar>{"".join(parts)}</div>'


def media_cell(paths: list[str], media: dict[str, Media], thumbs: dict[str, int]) -> str:
    """The pictures of one sample: a thumbnail (shared ones stored once in `thumbs`, filled
    in by the script), or the file linked by its relative path, or why neither."""
    parts = []
    for path in paths:
        shown = media.get(path)
        name = esc(Path(path).name)
        if shown is None:
            parts.append(f"<span class=muted>{name}</span>")
        elif shown.thumbnail:
            key = thumbs.setdefault(shown.thumbnail, len(thumbs))
            parts.append(f'<a href="{esc(shown.link)}"><img class=thumb data-thumb="{key}" '
                         f'alt="{name}" title="{name}"></a>')
        elif shown.problem:
            parts.append(f'<span class=muted title="{esc(shown.problem)}">{name} '
                         f'(no picture: {esc(shown.problem)})</span>')
        elif shown.video:
            parts.append(f'<video class=thumb src="{esc(shown.link)}" preload=none controls '
                         f'title="{name}"></video>')
        else:
            parts.append(f'<a href="{esc(shown.link)}"><img class=thumb src="{esc(shown.link)}" '
                         f'loading=lazy alt="{name}" title="{name}"></a>')
    return "".join(parts)


def thumbs_block(thumbs: dict[str, int]) -> str:
    return json_block("thumbs", {str(key): uri for uri, key in thumbs.items()}) if thumbs else ""


MAX_CHOICES = 60         # a drop-down longer than this is not a list anyone reads


def split_subject(subject, separator: str | None) -> list[str]:
    """The subjects a sample counts in: one, or several where the task's subject field names
    them with task.subject_separator (e.g. "adversarial,popular")."""
    text = "" if subject is None else str(subject)
    return text.split(separator) if separator else [text]


def row_facets(subject, fields: dict | None, separator: str | None,
               subject_field: str | None = None) -> dict:
    """What a row can be filtered by: its subject(s), then each field the task records for
    its samples (task.record_fields: a category, a split, a duration) but the one its subject
    comes from (task.subject_field)."""
    facets: dict = {"subject": split_subject(subject, separator)}
    for key, value in (fields or {}).items():
        if key in ("subject", subject_field):
            continue
        if value is None or isinstance(value, (str, int, float)):
            facets[key] = "" if value is None else str(value)
    return facets


def facets_attr(facets: dict, keys: set[str]) -> str:
    """The row's values of the facets that got a drop-down (`keys`, from facet_keys); nothing
    when none did (a few bytes a row count on a 5,000-sample page)."""
    kept = {key: value for key, value in facets.items() if key in keys}
    return f' data-facets="{esc(json.dumps(kept, ensure_ascii=False))}"' if kept else ""


def facet_keys(rows: list[dict]) -> set[str]:
    return {key for key, _ in _facet_choices(rows)}


def _facet_choices(rows: list[dict]) -> list[tuple[str, list[str]]]:
    """(key, its values) for each facet worth a drop-down: 2 to MAX_CHOICES distinct values,
    and, for a recorded field, not the subject over again (a subject_field that is also a
    record field)."""
    keys = list(dict.fromkeys(key for row in rows for key in row))
    chosen = []
    for key in keys:
        found = set()
        for row in rows:
            value = row.get(key)
            found.update(value if isinstance(value, list) else [value])
        found.discard(None)
        if not 2 <= len(found) <= MAX_CHOICES:
            continue
        if key != "subject" and all([row.get(key)] == row.get("subject") for row in rows):
            continue
        chosen.append((key, sorted(found)))
    return chosen


def filter_controls(choices: list[tuple[str, str]], rows: list[dict], total: int) -> str:
    """Radio buttons (value = a row class, or "all"), a drop-down per facet of the rows
    (`rows`: each row's row_facets; the subject's has id "subject"), a search box, the count
    of rows shown."""
    radios = "".join(
        f'<label><input type=radio name=show value="{esc(value)}" id="show-{esc(value)}"'
        f'{" checked" if index == 0 else ""}> {esc(label)}</label>'
        for index, (value, label) in enumerate(choices))
    selects = []
    for key, values in _facet_choices(rows):
        options = "".join(f'<option value="{esc(v)}">{esc(v)}</option>' for v in values)
        element_id = "subject" if key == "subject" else f"facet-{len(selects)}"
        selects.append(f'<label>{esc(key)} <select class=facet id="{element_id}" '
                       f'data-key="{esc(key)}"><option value="">all</option>{options}'
                       f'</select></label>')
    return (f'<div class=controls>{radios}{"".join(selects)}<label>search <input type=search '
            f'id=search placeholder="question, answer, id"></label><span id=count>{total} of '
            f'{total} shown</span></div>')


def demo_banner(text: str | None) -> str:
    return f"<div class=demo>{esc(text)}</div>" if text else ""


def notes_list(notes) -> str:
    if not notes:
        return ""
    return "<ul class=notes>" + "".join(f"<li>{esc(n)}</li>" for n in notes) + "</ul>"


def png_data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode()


def render_page(title: str, body: str, linked_media: bool = False) -> str:
    """The whole document. Linked media (report.thumbnails=false) may load files beside the
    page; otherwise only data: images load."""
    digest = base64.b64encode(hashlib.sha256(SCRIPT.encode()).digest()).decode()
    images, videos = ("data: *", "*") if linked_media else ("data:", "'none'")
    policy = (f"default-src 'none'; img-src {images}; media-src {videos}; "
              f"style-src 'unsafe-inline'; script-src 'sha256-{digest}'")
    return (f'<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>'
            f'<meta http-equiv="Content-Security-Policy" content="{esc(policy)}">'
            f'<meta name=viewport content="width=device-width, initial-scale=1">'
            f'<title>{esc(title)}</title><style>{STYLE}</style></head>\n<body>\n{body}\n'
            f'<script>{SCRIPT}</script></body></html>\n')


def write_page(path: Path, title: str, body: str, linked_media: bool = False) -> None:
    write_text_atomic(path, render_page(title, body, linked_media))
