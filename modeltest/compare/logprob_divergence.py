"""Step by step, how far apart two runs' next-token distributions are, from the top-k
log-probabilities each run stored (runtime.logprobs=<k>, debug/logprobs.jsonl).

Steps compared: from the first generated token up to and including the first divergent one
(at that step both runs still had the same context; after it they do not); all recorded steps
when the ids are identical.

KL divergence at a step, KL(P_a || P_b), a the reference: each run knows its distribution only
on its own top-k. Both know it on S = top-k(a) ∩ top-k(b); every other token goes into one tail
bin, whose mass is 1 - sum over S (for each run). KL is computed over the partition
{each token of S} + {tail}:
    KL = sum_{t in S} p_a(t) (log p_a(t) - log p_b(t)) + r_a log(r_a / r_b).
This is the KL of a coarsening of the two full distributions, so it is never above the full
KL (data-processing inequality), and equals it when the tail holds no mass. Tail masses are
clamped at 0, and below TAIL_FLOOR (the resolution of float32 log-probabilities) a tail counts
as TAIL_FLOOR inside the logarithm (r_a = 0 gives 0). The largest log-probability difference
is max over S of |log p_a(t) - log p_b(t)|.

The vendor criterion (the harness this project replaces): a device passes when at most 0.5%
of the compared tokens have KL > 1e-4 and none has KL > 1e-3 (thresholds from runner.kl).
Runs whose tokens are named differently (ids against a server's token texts) are not compared.
"""
from __future__ import annotations

import math

TAIL_FLOOR = 1e-7


def _same_kind(a: list, b: list) -> bool:
    kinds = {type(entry[0]) for step in a + b for entry in step}
    return kinds <= {int} or kinds <= {str}


def step_divergence(a: list[list], b: list[list]) -> tuple[float, float | None]:
    """(KL(P_a || P_b), largest |log-prob difference| over the shared top-k) at one step;
    `a` and `b` are [[token, log-prob], ...]."""
    top_a = {token: logprob for token, logprob in a}
    top_b = {token: logprob for token, logprob in b}
    shared = [token for token in top_a if token in top_b]
    kl = 0.0
    for token in shared:
        kl += math.exp(top_a[token]) * (top_a[token] - top_b[token])
    tail_a = max(0.0, 1.0 - math.fsum(math.exp(top_a[t]) for t in shared))
    tail_b = max(0.0, 1.0 - math.fsum(math.exp(top_b[t]) for t in shared))
    if tail_a > 0.0:
        kl += tail_a * math.log(max(tail_a, TAIL_FLOOR) / max(tail_b, TAIL_FLOOR))
    largest = max((abs(top_a[t] - top_b[t]) for t in shared), default=None)
    return max(kl, 0.0), largest


def sample_divergence(a_steps: list, b_steps: list, divergence: int | None
                      ) -> list[tuple[float, float | None]] | None:
    """Per compared step (module docstring); None when the two runs name tokens differently."""
    count = min(len(a_steps), len(b_steps))
    if divergence is not None:
        count = min(count, divergence + 1)
    if not _same_kind(a_steps[:count], b_steps[:count]):
        return None
    return [step_divergence(a_steps[i], b_steps[i]) for i in range(count)]


def vendor_criterion(kls: list[float], token_kl: float, token_share: float,
                     max_kl: float) -> dict:
    over = sum(1 for kl in kls if kl > token_kl)
    over_max = sum(1 for kl in kls if kl > max_kl)
    share = over / len(kls) if kls else None
    passed = bool(kls) and share <= token_share and over_max == 0
    return {"name": f"vendor KL criterion: at most {100 * token_share:g}% of tokens with "
                    f"KL > {token_kl:g}, none > {max_kl:g}",
            "passed": passed, "tokens": len(kls), "over_token_kl": over,
            "share_over_token_kl": share, "over_max_kl": over_max,
            "max_kl": max(kls) if kls else None}
