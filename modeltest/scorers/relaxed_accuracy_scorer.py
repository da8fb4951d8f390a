"""`scorer: relaxed_accuracy` (ChartQA): each question right (1) or wrong (0) by the 5%
relaxed rule (modeltest/scorers/relaxed_accuracy.py) in the implementation `task.relaxed_accuracy`
names: pix2struct (what VLMEvalKit, lmms-eval, Qwen-VL and InternVL use) or unichart (the
ChartQA authors' later code); the set's `relaxed_accuracy` is the mean, in percent."""
from __future__ import annotations

from modeltest.registry import RegistryError
from modeltest.samples import DataError
from modeltest.scorers.base import SampleScore, Scorer
from modeltest.scorers.relaxed_accuracy import SOURCES, VARIANTS, relaxed_accuracy


def needs_references(sample) -> None:
    if not sample.references:
        raise DataError(f"{sample.source}: no reference answer")


def scorer(task: dict) -> Scorer:
    variant = str(task["relaxed_accuracy"]) if "relaxed_accuracy" in task else None
    if variant not in VARIANTS:
        raise RegistryError(f"task.relaxed_accuracy={variant}: unknown (known: "
                            f"{', '.join(VARIANTS)})")

    def score(answer: str, sample) -> SampleScore:
        return SampleScore(relaxed_accuracy(answer, sample.references, variant), answer)
    return Scorer("relaxed_accuracy", "relaxed_accuracy", score, variant, SOURCES[variant],
                  check_sample=needs_references,
                  keep_whitespace=True)   # the rule compares the answer as generated
