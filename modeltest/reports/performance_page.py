"""results/report.html of a performance run: the sweep's plot (inlined), its table, the batch
size found under the latency bound, the generation settings and the environment."""
from __future__ import annotations

from pathlib import Path

from modeltest.reports.html_page import (demo_banner, details, esc, key_value_table,
                                         notes_list, number, png_data_uri, write_page)

COLUMNS = (("batch", "batch", 0), ("input_len", "input", 0), ("output_len", "output", 0),
           ("preprocess_time(ms)", "preprocess ms", 1), ("prefill_time(ms)", "prefill ms", 1),
           ("first_token_time(ms)", "first token ms", 1),
           ("non_first_token_time(ms)", "per token ms", 2),
           ("non_first_token_time_spread(ms)", "(spread)", 2),
           ("ResponseTime(ms)", "response ms", 1), ("ResponseTime_spread(ms)", "(spread)", 1),
           ("E2E Throughput Average(Tokens/s)", "tokens/s", 1), ("repeats", "repeats", 0))


def _table(rows: list[dict]) -> str:
    head = "".join(f"<th class=num title='{esc(key)}'>{esc(label)}</th>"
                   for key, label, _ in COLUMNS)
    body = "".join("<tr>" + "".join(
        f"<td class=num>{number(row.get(key), digits) if digits else esc(row.get(key))}</td>"
        for key, _, digits in COLUMNS) + "</tr>" for row in rows)
    return f"<table id=sweep><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def write_performance_page(path: Path, summary: dict, plot: Path) -> None:
    """`summary`: performance_summary.json's content; `plot`: the sweep's PNG."""
    found = summary.get("max_batch_size_within_latency")
    run = {key: summary.get(key) for key in ("device", "tp", "peak_memory_mb", "repeats",
                                             "finished_at")}
    body = "".join([
        demo_banner(summary["notes"][0] if summary["notes"] else None),
        f"<h1>Performance of {esc(summary['model'])}</h1>",
        f"<div class=muted>{esc(summary['device'])} · peak memory "
        f"{number(summary['peak_memory_mb'], 0)} MB · finished "
        f"{esc(summary['finished_at'])}</div>",
        f'<p><img alt="throughput and latency against batch size" src="{png_data_uri(plot)}">'
        "</p>",
        "<h2>Sweep (medians)</h2>", _table(summary["rows"]),
        details("Largest batch size within the latency bound", key_value_table(found), True)
        if found else "",
        notes_list(summary["notes"][1:]),
        "<h2>Settings and environment</h2>",
        details("Run", key_value_table(run), open_=True),
        details("Generation settings", key_value_table(summary["generation"]), open_=True),
        details("Environment (libraries, device, numerics)",
                key_value_table(summary["environment"])) if summary.get("environment") else "",
        details("Library versions", key_value_table(summary["versions"])),
        details("Config (config.yaml)", key_value_table(summary["config"]))])
    write_page(path, f"performance of {summary['model']}", body)
