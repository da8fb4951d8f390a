"""Task loaders: each turns a task config into a list of Samples (data is only read)."""
from __future__ import annotations

from collections.abc import Callable

from modeltest.samples import DataError, Sample
from modeltest.tasks import coco_caption, textvqa, videobench, vqav2

LOADERS: dict[str, Callable] = {
    "textvqa": textvqa.load,
    "vqav2": vqav2.load,
    "videobench": videobench.load,
    "coco_caption": coco_caption.load,
}


def load_samples(task_cfg, template: str) -> tuple[list[Sample], list[str]]:
    """Samples of a task (after task.limit) and warnings such as skipped lines."""
    loader = LOADERS.get(task_cfg["loader"])
    if loader is None:
        raise DataError(f"task.loader={task_cfg['loader']}: unknown (known: {', '.join(LOADERS)})")
    warnings: list[str] = []
    samples = loader(task_cfg, template, warnings)
    if task_cfg.get("limit"):
        samples = samples[: int(task_cfg["limit"])]
    if not samples:
        raise DataError(f"task {task_cfg['name']}: the dataset is empty")
    seen: dict[str, object] = {}
    for sample in samples:   # 34602 and "34602" are the same question
        key = str(sample.question_id)
        if key in seen:
            also = "" if seen[key] == sample.question_id else f" (also written as {seen[key]!r})"
            raise DataError(f"{sample.source}: duplicate question_id {sample.question_id!r}{also}")
        seen[key] = sample.question_id
    return samples, warnings
