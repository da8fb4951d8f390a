"""debug/logprobs.jsonl: with runtime.logprobs=<k>, one line per sample beside samples.jsonl,
`{"question_id", "fingerprint", "k", "steps": [[[token, log-prob], ...k], ...]}` (the steps of
its generation up to and including the one that ended it; inference.logprobs), appended as
each batch finishes. Data-parallel group k > 0 appends to debug/logprobs.dp<k>.jsonl; the parts
are merged into logprobs.jsonl like samples.jsonl's (runners/accuracy.py at the end of a run,
`keep_logprobs` when a stopped run is resumed)."""
from __future__ import annotations

import json
import re
from pathlib import Path

from modeltest.reports.atomic import write_text_atomic
from modeltest.reports.samples_log import read_samples_log

LOGPROBS_FILE = "logprobs.jsonl"
_PART = re.compile(r"logprobs\.dp(\d+)\.jsonl")


def logprobs_part_path(debug_dir: Path, dp_rank: int) -> Path:
    return debug_dir / (LOGPROBS_FILE if dp_rank == 0 else f"logprobs.dp{dp_rank}.jsonl")


def logprobs_paths(debug_dir: Path) -> list[Path]:
    """logprobs.jsonl (when there) and the data-parallel parts, in group order."""
    parts = []
    if debug_dir.is_dir():
        for path in debug_dir.iterdir():
            match = _PART.fullmatch(path.name)
            if match and path.is_file():
                parts.append((int(match.group(1)), path))
    main = debug_dir / LOGPROBS_FILE
    return ([main] if main.is_file() else []) + [path for _, path in sorted(parts)]


def logprobs_line(question_id, fingerprint: str, k: int, steps: list) -> dict:
    return {"question_id": question_id, "fingerprint": fingerprint, "k": k, "steps": steps}


def read_logprobs(debug_dir: Path) -> dict[str, dict]:
    """{fingerprint: line} over logprobs.jsonl and its parts; the last line of a sample wins."""
    lines: dict[str, dict] = {}
    for path in logprobs_paths(debug_dir):
        for _, line in read_samples_log(path):
            lines[str(line.get("fingerprint"))] = line
    return lines


def keep_logprobs(debug_dir: Path, fingerprints: set[str] | None) -> None:
    """On resume: logprobs.jsonl rewritten with the lines of the samples kept (`fingerprints`;
    the parts merged in and removed); None (a clean start) removes them all."""
    paths = logprobs_paths(debug_dir)
    if not paths:
        return
    kept = [] if fingerprints is None else \
        [line for key, line in read_logprobs(debug_dir).items() if key in fingerprints]
    main = debug_dir / LOGPROBS_FILE
    if kept:    # the merged file replaces the old one before the parts go
        write_text_atomic(main, "".join(json.dumps(line, ensure_ascii=False) + "\n"
                                        for line in kept))
    else:
        main.unlink(missing_ok=True)
    for path in paths:
        if path != main:
            path.unlink()
