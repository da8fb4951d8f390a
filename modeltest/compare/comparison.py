"""Two runs, paired sample by sample: what compare.json, compare.csv and compare.txt report.

`compare_runs` pairs the samples both runs hold (by question id, in run a's order), then
computes the token level (modeltest.compare.tokens), the per-step distributions where both runs
stored them (modeltest.compare.logprob_divergence), the answer level with the verdict
(modeltest.compare.answers) and, for every sample whose outputs differ, whether its inputs
already differed (modeltest.compare.inputs). Run a is the reference: differences are b - a.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from modeltest.compare.answers import ScoredPair, Settings, answer_level
from modeltest.compare.comparability import setup_differences
from modeltest.compare.inputs import INPUTS, MODEL, UNKNOWN, cause
from modeltest.compare.logprob_divergence import sample_divergence, vendor_criterion
from modeltest.compare.runs import RunFolder
from modeltest.compare.tokens import first_divergence, token_summary

Decoder = Callable[[list[int]], str]
# what compare.json lists of each changed sample (compare.csv has every field of every sample)
CHANGED_FIELDS = ("question_id", "subject", "first_divergence", "token_a", "token_b",
                  "prediction_a", "prediction_b", "references", "score_a", "score_b", "media",
                  "cause", "cause_fields", "max_kl")


@dataclass(frozen=True)
class KlThresholds:
    token_kl: float
    token_share: float
    max_kl: float


@dataclass
class Options:
    settings: Settings
    kl: KlThresholds
    labels: tuple[str, str] = ("a", "b")
    decoders: dict = field(default_factory=dict)     # "a"/"b" -> Decoder (token texts)
    mismatches: list[str] = field(default_factory=list)   # allowed by runner.allow_mismatch


def _media(record: dict) -> str:
    images = record.get("images") or []
    return record.get("video") or (images[0] if len(images) == 1 else "|".join(images))


def _token_text(decoder: Decoder | None, ids: list[int] | None, position: int | None):
    """The token at `position` decoded (None without a decoder); "<end>" past the end."""
    if ids is None or position is None:
        return None
    if position >= len(ids):
        return "<end>"
    return decoder([ids[position]]) if decoder else None


def _score(record: dict) -> float | None:
    value = record.get("score")
    return float(value) if isinstance(value, (int, float)) else None


def _pair_row(qid: str, ra: dict, rb: dict, options: Options, divergence, steps) -> dict:
    ids_a, ids_b = ra.get("output_ids"), rb.get("output_ids")
    with_ids = ids_a is not None and ids_b is not None
    same_answer = ra.get("cleaned_prediction") == rb.get("cleaned_prediction") \
        and not ra.get("error") and not rb.get("error")
    changed = (with_ids and divergence is not None) or not same_answer \
        or _score(ra) != _score(rb)
    why, fields = cause(ra.get("input"), rb.get("input")) if changed else ("", [])
    kls = [kl for kl, _ in steps] if steps else []
    largest = [d for _, d in steps if d is not None] if steps else []
    return {
        "question_id": qid, "subject": str(ra.get("subject")), "media": _media(ra),
        "score_a": _score(ra), "score_b": _score(rb),
        "prediction_a": ra.get("cleaned_prediction"), "prediction_b": rb.get("cleaned_prediction"),
        "references": ra.get("references"), "error_a": ra.get("error"), "error_b": rb.get("error"),
        "identical_ids": (divergence is None) if with_ids else None,
        "identical_answer": same_answer,
        "first_divergence": divergence if with_ids else None,
        "common_prefix": (divergence if divergence is not None else len(ids_a))
        if with_ids else None,
        "length_a": len(ids_a) if ids_a is not None else None,
        "length_b": len(ids_b) if ids_b is not None else None,
        "token_a": _token_text(options.decoders.get("a"), ids_a, divergence),
        "token_b": _token_text(options.decoders.get("b"), ids_b, divergence),
        "changed": changed, "cause": why, "cause_fields": fields,
        "max_kl": max(kls) if kls else None,
        "max_logprob_difference": max(largest) if largest else None,
        "kl_per_step": [float(f"{kl:.4g}") for kl in kls] if steps else None,
        "logprob_difference_per_step": [None if d is None else float(f"{d:.4g}")
                                        for _, d in steps] if steps else None,
        "output_ids_a": ids_a, "output_ids_b": ids_b,
        "input_ids_a": (ra.get("input") or {}).get("input_ids"),
        "input_ids_b": (rb.get("input") or {}).get("input_ids"),
    }


def _logprob_summary(rows: list[dict], with_logprobs: int, mismatched_kinds: int,
                     all_kls: list[float], options: Options) -> dict | None:
    if not with_logprobs and not mismatched_kinds:
        return None
    summary = {"samples": with_logprobs, "samples_with_other_token_names": mismatched_kinds,
               "tokens": len(all_kls),
               "max_kl": max(all_kls) if all_kls else None,
               "max_logprob_difference": max((r["max_logprob_difference"] for r in rows
                                              if r["max_logprob_difference"] is not None),
                                             default=None)}
    summary["vendor_criterion"] = vendor_criterion(all_kls, options.kl.token_kl,
                                                   options.kl.token_share, options.kl.max_kl)
    return summary


def compare_runs(a: RunFolder, b: RunFolder, options: Options) -> tuple[dict, list[dict]]:
    """(compare.json's content, a row per paired sample)."""
    common = [qid for qid in a.records if qid in b.records]
    if not common:
        raise ValueError(f"runner.a and runner.b share no sample ({len(a.records)} and "
                         f"{len(b.records)} samples)")
    rows, divergences, all_kls = [], [], []
    without_ids = with_logprobs = other_kinds = 0
    for qid in common:
        ra, rb = a.records[qid], b.records[qid]
        ids_a, ids_b = ra.get("output_ids"), rb.get("output_ids")
        divergence = None
        if ids_a is not None and ids_b is not None:
            divergence = first_divergence(ids_a, ids_b)
            divergences.append(divergence)
        else:
            without_ids += 1
        steps = None
        line_a, line_b = a.logprobs_of(ra), b.logprobs_of(rb)
        if line_a and line_b and ids_a is not None and ids_b is not None:
            steps = sample_divergence(line_a["steps"], line_b["steps"], divergence)
            if steps is None:
                other_kinds += 1
            else:
                with_logprobs += 1
                all_kls.extend(kl for kl, _ in steps)
        rows.append(_pair_row(qid, ra, rb, options, divergence, steps))

    notes = list(a.notes + b.notes)
    counts = {"a": len(a.records), "b": len(b.records), "common": len(common),
              "only_a": len(a.records) - len(common), "only_b": len(b.records) - len(common),
              "expected_a": a.expected_samples, "expected_b": b.expected_samples,
              "errors_a": sum(1 for r in rows if r["error_a"]),
              "errors_b": sum(1 for r in rows if r["error_b"])}
    for side, run in (("a", a), ("b", b)):
        if run.expected_samples is not None and len(run.records) < run.expected_samples:
            notes.append(f"run {side} is partial: {len(run.records)} of its "
                         f"{run.expected_samples} samples; {len(common)} common samples are "
                         "compared")
    if options.mismatches:
        notes.append("runner.allow_mismatch=true: the runs differ in "
                     + "; ".join(options.mismatches) + f"; the {len(common)} common samples "
                     "are compared")
    if without_ids:
        notes.append(f"{without_ids} sample(s) have no output_ids in one run (a served model "
                     "that does not return token ids, or an older run): answer level only for "
                     "them")
    tokens = token_summary(divergences, without_ids)
    logprobs = _logprob_summary(rows, with_logprobs, other_kinds, all_kls, options)
    if other_kinds:
        notes.append(f"{other_kinds} sample(s) name tokens differently in the two runs' "
                     "log-probabilities (ids against a server's token texts; vLLM's "
                     "return_tokens_as_token_ids gives ids): no KL for them")
    if len(common) and tokens["samples_with_ids"] and with_logprobs < tokens["samples_with_ids"] \
            and (a.logprobs or b.logprobs):
        notes.append(f"log-probabilities of both runs for {with_logprobs} of "
                     f"{tokens['samples_with_ids']} samples (set runtime.logprobs=<k> in both)")

    scored = [ScoredPair(r["subject"], r["score_a"], r["score_b"], r["media"])
              for r in rows if r["score_a"] is not None and r["score_b"] is not None]
    answers = None
    if len(scored) == len(rows):
        answers = answer_level(scored, options.settings)
    else:
        notes.append(f"{len(rows) - len(scored)} sample(s) have no score (a task without a "
                     "metric of its own, e.g. captions without runner.judge): no answer level")
    changed = changed_samples(rows)
    causes = {name: sum(1 for r in changed if r["cause"] == name)
              for name in (INPUTS, MODEL, UNKNOWN)}
    overall = (answers or {}).get("overall") or {}
    result = {
        "task": a.task, "model_a": a.model, "model_b": b.model,
        "run_a": str(a.path), "run_b": str(b.path), "labels": list(options.labels),
        "setup_differences": setup_differences(a, b),
        "demo_data": bool((a.summary or {}).get("demo_data") or (b.summary or {}).get(
            "demo_data")),
        "samples": len(common),
        "identical_ids": tokens["identical_ids"],
        "identical_ids_share": tokens["identical_ids_share"],
        "identical_answers": sum(1 for r in rows if r["identical_answer"]),
        "score_a": overall.get("score_a"), "score_b": overall.get("score_b"),
        "delta": overall.get("delta"), "delta_ci95": overall.get("delta_ci95"),
        "delta_ci95_bootstrap": overall.get("delta_ci95_bootstrap"),
        "delta_ci90": overall.get("delta_ci90"),
        "p_difference": overall.get("p_difference"), "tost_p": overall.get("tost_p"),
        "mcnemar_p": overall.get("mcnemar_p"),
        "right_to_wrong": overall.get("right_to_wrong"),
        "wrong_to_right": overall.get("wrong_to_right"),
        "verdict": overall.get("verdict"), "samples_needed": overall.get("samples_needed"),
        "margin": options.settings.margin,
        "per_subject": (answers or {}).get("per_subject", {}),
        "answer_level": overall or None,
        "token_level": tokens,
        "logprobs": logprobs,
        "changed_samples": len(changed),
        "changed_by_cause": causes,
        "changed": [{key: row[key] for key in CHANGED_FIELDS} for row in changed],
        "counts": counts,
        "mismatches_allowed": list(options.mismatches),
        "bootstrap": {"resamples": options.settings.resamples, "seed": options.settings.seed},
        "notes": notes,
    }
    return result, rows


def changed_samples(rows: list[dict]) -> list[dict]:
    """The samples whose outputs differ, earliest divergence first (samples without ids last,
    then by question id order)."""
    changed = [r for r in rows if r["changed"]]
    return sorted(changed, key=lambda r: (r["first_divergence"] is None,
                                          r["first_divergence"] or 0))
