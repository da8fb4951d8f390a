"""runner=compare's machine-readable reports: results/compare.json (the whole comparison),
results/compare.csv (a row per paired sample) and, for the samples that changed, one CSV per
run in the column layout of Ascend's bad-case analyser (msit `Synthesizer`/`Analyzer`:
`queries`, `input_token_ids`, `output_token_ids`, `passed` as Correct/Wrong), so that
`msit llm analyze -g badcase_a.csv -t badcase_b.csv` can take over."""
from __future__ import annotations

import csv
import json
from pathlib import Path

from modeltest.reports.atomic import atomic_path, write_text_atomic

CSV_COLUMNS = ("question_id", "subject", "media", "score_a", "score_b", "delta",
               "identical_ids", "first_divergence", "common_prefix", "length_a", "length_b",
               "token_a", "token_b", "identical_answer", "prediction_a", "prediction_b",
               "references", "cause", "cause_fields", "max_kl", "max_logprob_difference",
               "kl_per_step", "logprob_difference_per_step", "error_a", "error_b")
BADCASE_COLUMNS = ("queries", "input_token_ids", "output_token_ids", "passed")


def write_compare_json(path: Path, result: dict) -> None:
    write_text_atomic(path, json.dumps(result, indent=2, ensure_ascii=False, default=str) + "\n")


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def write_compare_csv(path: Path, rows: list[dict]) -> None:
    with atomic_path(path) as temporary, \
            open(temporary, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for row in rows:
            delta = None if row["score_a"] is None or row["score_b"] is None \
                else round(100.0 * (row["score_b"] - row["score_a"]), 6)
            writer.writerow([_cell(delta if column == "delta" else row.get(column))
                             for column in CSV_COLUMNS])


def expand_runs(ids: list | None) -> list[int] | None:
    """A record's `input.input_ids` with its [id, count] runs written out again (the inverse
    of inference.fingerprints.compress_runs)."""
    if ids is None:
        return None
    out: list[int] = []
    for item in ids:
        out.extend([int(item[0])] * int(item[1]) if isinstance(item, list) else [int(item)])
    return out


def write_badcase_csvs(folder: Path, rows: list[dict], prompts: dict[str, str]) -> list[Path]:
    """badcase_a.csv and badcase_b.csv: the changed samples, `queries` being
    "<question id>: <prompt>" (unique, as the analyser merges on it); token ids as lists."""
    written = []
    for side in ("a", "b"):
        path = folder / f"badcase_{side}.csv"
        with atomic_path(path) as temporary, \
                open(temporary, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(BADCASE_COLUMNS)
            for row in rows:
                if not row["changed"]:
                    continue
                score = row[f"score_{side}"]
                writer.writerow([f"{row['question_id']}: {prompts.get(row['question_id'], '')}",
                                 _cell(expand_runs(row[f"input_ids_{side}"])),
                                 _cell(row[f"output_ids_{side}"]),
                                 "Correct" if score is not None and score >= 1.0 else "Wrong"])
        written.append(path)
    return written
