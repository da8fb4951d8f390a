"""`task.scorer: vlmevalkit_mcq`: a multiple-choice answer scored as VLMEvalKit scores it without
a judge model (AI2D, ScienceQA, RealWorldQA; MMBench's rows before its circular grouping;
MMMU with `task.scoring=vlmevalkit`). The per-sample rules are vlmevalkit_mcq.py's and
mcq_extraction.py's, proven against VLMEvalKit's own evaluation (tests/golden/HOW.md).

- The answer is the prediction as generated (cut at the chat end markers only), then as
  VLMEvalKit's .xlsx round trip reads it back ("", "None", "NA", ... become "nan").
- The options are the ones VLMEvalKit shows (an option "None", "NA", ... is none).
- `task.can_infer_version`: which version of VLMEvalKit's `can_infer` reads the letter
  (current, pre2026_06, pre2025_08; mcq_extraction.py).
- An answer no rule can read is wrong (VLMEvalKit without its judge), and counted as
  `needs_judge`: the answers VLMEvalKit would have sent to its GPT judge.
"""
from __future__ import annotations

from modeltest.registry import RegistryError
from modeltest.samples import Sample
from modeltest.scorers.base import SampleScore, Scorer
from modeltest.scorers.mcq_extraction import VARIANTS
from modeltest.scorers.vlmevalkit_mcq import (as_read_back, exact_matching_verdict,
                                              mmmu_open_as_choice, present_options)

SOURCE = ("VLMEvalKit e8e78f05 ImageMCQDataset.evaluate(model='exact_matching'): "
          "mcq_vanilla_eval, can_infer")


def _counts(records: list[dict]) -> dict:
    answered = [r for r in records if not r.get("error")]
    return {"needs_judge": sum(1 for r in answered if (r.get("extra") or {}).get("needs_judge"))}


def _notes(records: list[dict], overall: dict) -> list[str]:
    count = overall.get("needs_judge", 0)
    if not count:
        return []
    # a circular evaluation (mmbench_circular.py) counts questions, not answers
    what = (f"question(s) ({overall['needs_judge_rows']} answers)"
            if "needs_judge_rows" in overall else "answer(s)")
    return [f"{count} {what} no VLMEvalKit rule could read: scored wrong, as VLMEvalKit "
            "scores them without a judge model (with one, it would ask its GPT judge about "
            "them)"]


def verdict_score(answer: str, sample: Sample, version: str, mmmu_rule: bool) -> SampleScore:
    """One answer's VLMEvalKit verdict as a SampleScore (extra: extracted, needs_judge)."""
    choices = present_options(dict(sample.choices or {}))
    truth = sample.references[0] if sample.references else ""
    if mmmu_rule:   # a dataset whose name holds "MMMU": open questions become two options
        choices, truth = mmmu_open_as_choice(choices, truth)
    verdict = exact_matching_verdict(as_read_back(answer), choices, truth, version)
    return SampleScore(float(verdict.hit), verdict.extracted or "",
                       {"extracted": verdict.extracted, "needs_judge": verdict.needs_judge})


def version_of(task: dict) -> str:
    version = str(task["can_infer_version"])
    if version not in VARIANTS:
        raise RegistryError(f"task.can_infer_version={version}: unknown (known: "
                            f"{', '.join(VARIANTS)})")
    return version


def vlmevalkit_scorer(task: dict, mmmu_rule: bool = False) -> Scorer:
    version = version_of(task)

    def score(answer: str, sample: Sample) -> SampleScore:
        return verdict_score(answer, sample, version, mmmu_rule)
    return Scorer("vlmevalkit_mcq", "accuracy", score,
                  f"can_infer {version}" + (", MMMU open questions as options" if mmmu_rule
                                            else ""),
                  SOURCE, error_extra=(("extracted", None), ("needs_judge", False)),
                  counts=_counts, notes=_notes, keep_whitespace=True)


def scorer(task: dict) -> Scorer:
    """SCORERS["vlmevalkit_mcq"]."""
    return vlmevalkit_scorer(task)
