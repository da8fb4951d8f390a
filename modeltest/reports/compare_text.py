"""results/compare.txt (also printed): what differs in the setup first, then the answer level
with the verdict, the token level, the log-probability criterion, and the samples that
changed, earliest divergence first."""
from __future__ import annotations

from pathlib import Path

from tabulate import tabulate

LISTED_SAMPLES = 30     # the txt lists this many changed samples; compare.csv has them all


def _number(value, digits: int = 2, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def _interval(pair) -> str:
    return "-" if not pair else f"[{pair[0]:+.2f}, {pair[1]:+.2f}]"


def _p(value) -> str:
    return "-" if value is None else (f"{value:.4f}" if value >= 1e-4 else f"{value:.1e}")


def _clip(text, width: int = 28) -> str:
    text = "" if text is None else " ".join(str(text).split())
    return text if len(text) <= width else text[:width - 1] + "…"


def _answer_rows(result: dict) -> list[list]:
    blocks = [("overall", result["answer_level"])] + list(result["per_subject"].items())
    return [[name, block["samples"], _number(block["score_a"]), _number(block["score_b"]),
             _number(block["delta"], signed=True), _interval(block["delta_ci95"]),
             _interval(block["delta_ci95_bootstrap"]), _p(block["mcnemar_p"]),
             block["right_to_wrong"], block["wrong_to_right"], block["verdict"]]
            for name, block in blocks]


def _verdict_line(result: dict) -> str:
    overall = result["answer_level"]
    line = (f"verdict: {result['verdict']} at margin ±{result['margin']:g} points "
            f"(TOST p = {_p(overall['tost_p'])}, 90% CI {_interval(overall['delta_ci90'])}; "
            f"difference p = {_p(overall['p_difference'])})")
    if result["verdict"] == "inconclusive" and result["samples_needed"]:
        line += (f"; about {result['samples_needed']} samples would be needed to show "
                 "equivalence (80% power at the observed difference and variance)")
    if overall["stderr"] == 0.0 and overall["tost_p"] is None:
        line += ("; every difference is equal, so the intervals are the exact bound on how "
                 "many samples could differ (at most 100 points each)")
    if overall["clusters"]:
        line += f"; standard errors clustered by image/video ({overall['clusters']} clusters)"
    return line


def _token_lines(result: dict) -> list[str]:
    tokens = result["token_level"]
    if not tokens["samples_with_ids"]:
        return ["token level: no sample has output_ids in both runs"]
    histogram = ", ".join(f"{position}: {count}" for position, count
                          in tokens["first_divergence_histogram"].items()) or "none"
    causes = result["changed_by_cause"]
    return [f"identical ids: {tokens['identical_ids']} of {tokens['samples_with_ids']} "
            f"({100 * tokens['identical_ids_share']:.1f}%); identical answers: "
            f"{result['identical_answers']} of {result['samples']}",
            f"first divergence (position: samples): {histogram}",
            f"samples that changed: {result['changed_samples']} (inputs already differed: "
            f"{causes['inputs']}, same inputs / model only: {causes['model']}, "
            f"unknown: {causes['unknown']})"]


def _sci(value) -> str:
    return "-" if value is None else f"{value:.2e}"


def _logprob_lines(result: dict) -> list[str]:
    logprobs = result["logprobs"]
    if logprobs is None:
        return ["log-probabilities: not recorded (runtime.logprobs=<k> in both runs)"]
    criterion = logprobs["vendor_criterion"]
    share = criterion["share_over_token_kl"]
    return [f"log-probabilities: {logprobs['samples']} samples, {logprobs['tokens']} steps up to "
            f"the first divergence; max KL {_sci(logprobs['max_kl'])}, max |log-prob "
            f"difference| {_sci(logprobs['max_logprob_difference'])}",
            f"{criterion['name']}: {'PASS' if criterion['passed'] else 'FAIL'} "
            f"({criterion['over_token_kl']} of {criterion['tokens']} tokens over, "
            f"{'-' if share is None else format(100 * share, '.2f')}%; "
            f"{criterion['over_max_kl']} over the maximum)"]


def _changed_table(changed: list[dict]) -> str:
    rows = [[r["question_id"], "-" if r["first_divergence"] is None else r["first_divergence"],
             f"{_clip(r['token_a'], 10)} / {_clip(r['token_b'], 10)}"
             if r["token_a"] is not None or r["token_b"] is not None else "-",
             _clip(r["prediction_a"]), _clip(r["prediction_b"]),
             _clip(", ".join(map(str, r["references"] or []))[:60]),
             r["cause"] + (f" ({', '.join(r['cause_fields'])})" if r["cause_fields"] else ""),
             Path(str(r["media"])).name]
            for r in changed[:LISTED_SAMPLES]]
    return tabulate(rows, headers=["question", "diverges at", "token a / b", "prediction a",
                                   "prediction b", "references", "cause", "media"],
                    tablefmt="simple")


def render_text(result: dict, changed: list[dict]) -> str:
    a, b = result["labels"]
    counts = result["counts"]
    lines = ["DEMO DATA: the runs used the embedded demo dataset and models, not a real "
             "benchmark"] if result["demo_data"] else []
    lines.append(f"compare {result['task']} (run a is the reference; differences are b - a):")
    for side, label in (("a", a), ("b", b)):
        named = "" if label == side else f" [{label}]"
        lines.append(f"  {side}: {result['model_' + side]}{named} {result['run_' + side]}")
    lines.append("")
    lines.append("setup differences (a -> b):")
    lines += [f"  {line}" for line in result["setup_differences"]] or ["  none recorded"]
    lines.append("")
    lines.append(f"samples compared: {result['samples']} (a holds {counts['a']} of "
                 f"{counts['expected_a']}, b {counts['b']} of {counts['expected_b']}; only in "
                 f"a {counts['only_a']}, only in b {counts['only_b']}; errors a "
                 f"{counts['errors_a']}, b {counts['errors_b']})")
    lines += _token_lines(result)
    lines += _logprob_lines(result)
    lines.append("")
    if result["answer_level"] is not None:
        lines.append("answer level (points; delta = b - a; CI = 95% interval of delta; "
                     "r->w / w->r = right to wrong / wrong to right)")
        lines.append(tabulate(_answer_rows(result),
                              headers=["subject", "n", "score a", "score b", "delta",
                                       "CI (t)", "CI (bootstrap)", "McNemar p", "r->w", "w->r",
                                       "verdict"], tablefmt="grid"))
        lines.append(_verdict_line(result))
    else:
        lines.append("answer level: not available (see the notes)")
    if changed:
        lines += ["", f"samples that changed ({len(changed)}; earliest divergence first"
                      + (f", the first {LISTED_SAMPLES} here" if len(changed) > LISTED_SAMPLES
                         else "") + "; all in compare.csv):", _changed_table(changed)]
    lines += [f"note: {note}" for note in result["notes"]]
    return "\n".join(lines) + "\n"
