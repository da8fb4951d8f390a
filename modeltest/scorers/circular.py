"""MMBench's circular evaluation as VLMEvalKit applies it: a question counts only when the answer
to every rotation of its options is right.

Reproduces open-compass/VLMEvalKit at e8e78f05f3080fe28154f2130321f17951c3be94,
`mcq_circular_eval` and `prefetch_circular_group` in vlmeval/dataset/utils/multiple_choice.py
(the grouping of 90a80d2, 2025-02-06), as `ImageMCQDataset.evaluate` runs them for a dataset
whose name contains "mmbench" (or "ccbench", "circular", "mmcr") with no judge model. Proven by
tests/test_scorer_golden_vlmevalkit.py against tests/golden/vlmevalkit_mmbench_dev_{en,cn}.json.

The grouping rules, exactly:
- each row's group is its `g_index` column when the file has one, else `int(index % 1e6)`;
- a group exists only for a "main" row, whose index equals its group (index < 1e6 in the
  published MMBench files, the copies being index + k * 1e6); copies whose main row is absent are
  ignored, and a group holds whichever of its rows are present (a missing copy is no failure);
- rows are taken in index order; the verdict is reported on the main row.
The verdict without a judge: the group is right when the extracted letter of every row equals
that row's answer. An extracted "Z" is a wrong letter. When no row is wrong but some row was not
read, VLMEvalKit would ask its judge model about the group (`needs_judge`); without one the
group is wrong. (Before 90a80d2 main rows were `index < 1e6` and groups `index % 1e6`, the same
for files without a `g_index` column.)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

# report_acc's short names for MMBench's l2-categories (multiple_choice.py MMB_abbrs)
MMBENCH_ABBREVIATIONS = {
    "coarse_perception": "CP",
    "finegrained_perception (instance-level)": "FP-S",
    "finegrained_perception (cross-instance)": "FP-C",
    "logic_reasoning": "LR",
    "relation_reasoning": "RR",
    "attribute_reasoning": "AR",
}


@dataclass(frozen=True)
class CircularRow:
    index: int
    answer: str
    extracted: str | None      # what the option extraction read (None: nothing)
    g_index: int | None = None  # the file's g_index column, when it has one


@dataclass(frozen=True)
class CircularVerdict:
    index: int                  # the main row's index
    hit: bool
    needs_judge: bool
    rows: tuple[int, ...]       # the indices of the group's rows, in order


def group_of(row: CircularRow) -> int:
    return row.g_index if row.g_index is not None else int(row.index % 1e6)


def circular_verdicts(rows: Iterable[CircularRow]) -> list[CircularVerdict]:
    """One verdict per main row, in index order."""
    ordered = sorted(rows, key=lambda row: row.index)
    groups: dict[int, list[CircularRow]] = {}
    for row in ordered:
        groups.setdefault(group_of(row), []).append(row)
    verdicts = []
    for row in ordered:
        if row.index != group_of(row):
            continue
        members = groups[row.index]
        wrong = any(m.extracted is not None and m.extracted != m.answer for m in members)
        unread = any(m.extracted is None for m in members)
        verdicts.append(CircularVerdict(row.index, hit=not wrong and not unread,
                                        needs_judge=not wrong and unread,
                                        rows=tuple(m.index for m in members)))
    return verdicts
