"""runner=clip_compare: two caption files of the same images, judged by an open_clip model."""
from __future__ import annotations

from pathlib import Path

from inference.device import pick_device
from modeltest.reports.clip_report import demo_notes, render_text, write_clip_reports
from modeltest.scorers.clip_compare import compare
from modeltest.tasks.captions import load_captions
from runners.clip_judge import load_judge
from runners.config import ConfigError
from runners.evaluation import open_run


def run(hydra_cfg) -> int:
    run_ = open_run(hydra_cfg)
    runner = run_.cfg["runner"]
    if not run_.cfg["task"].get("image_dir") or any(len(s.images) != 1 for s in run_.samples):
        raise ConfigError(f"runner=clip_compare needs a task whose data is a folder of images "
                          f"(task.image_dir), one image per sample; task {run_.task} is not")
    for side in ("a", "b"):
        if not runner[f"predictions_{side}"]:
            raise ConfigError(f"runner.predictions_{side} is not set (a caption JSON file)")
    images = [s.images[0] for s in run_.samples]
    image_dir = Path(run_.cfg["task"]["image_dir"]).expanduser()
    captions_a, unmatched_a = load_captions(runner["predictions_a"], image_dir, images,
                                            "runner.predictions_a")
    captions_b, unmatched_b = load_captions(runner["predictions_b"], image_dir, images,
                                            "runner.predictions_b")
    common = [p for p in images if p in captions_a and p in captions_b]
    if not common:
        raise ConfigError("no image has a caption in both files")
    device = pick_device(run_.cfg["runtime"]["device"])
    judge, judge_info = load_judge(runner["judge"], device)
    batch = int(runner["judge"]["batch_size"])
    scores_a = judge.score(common, [captions_a[p] for p in common], batch)
    scores_b = judge.score(common, [captions_b[p] for p in common], batch)
    result = compare(scores_a.cosines, scores_b.cosines, float(runner["tolerance"]),
                     float(runner["tie_margin"]), int(runner["bootstrap"]), int(run_.cfg["seed"]))
    labels = [str(label) for label in runner["labels"]][:2]
    result.update({
        "labels": labels, "judge": judge_info, "device": device,
        "predictions_a": str(runner["predictions_a"]), "predictions_b": str(runner["predictions_b"]),
        "num_images": len(images), "num_compared": len(common),
        "missing_in_a": [p for p in images if p not in captions_a],
        "missing_in_b": [p for p in images if p not in captions_b],
        "unmatched_keys_a": unmatched_a, "unmatched_keys_b": unmatched_b,
        "truncated_a": scores_a.truncated, "truncated_b": scores_b.truncated,
        "demo_data": run_.demo_data,
        "demo_judge": runner["judge"]["model"] == "demo",
    })
    result["notes"] = demo_notes(result)
    rows = [{"image": p, "caption_a": captions_a[p], "caption_b": captions_b[p],
             "cosine_a": round(ca, 6), "cosine_b": round(cb, 6), "difference": round(ca - cb, 6)}
            for p, ca, cb in zip(common, scores_a.cosines, scores_b.cosines)]
    write_clip_reports(run_.results_dir, result, rows, labels)
    print(render_text(result, labels) + f"reports: {run_.results_dir}", flush=True)
    return 0
