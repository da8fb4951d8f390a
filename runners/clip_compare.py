"""runner=clip_compare: two caption files of the same images, judged by an open_clip model."""
from __future__ import annotations

from pathlib import Path

from inference.clip_judge import ClipJudge
from inference.demo_models import TINY_CLIP_NAME
from inference.device import pick_device
from modeltest.reports.clip_report import demo_notes, render_text, write_clip_reports
from modeltest.scorers.clip_compare import compare
from modeltest.tasks.captions import load_captions
from runners.config import ConfigError
from runners.demo import ensure_asset
from runners.evaluation import open_run


def load_judge(judge_cfg: dict, device: str) -> tuple[ClipJudge, dict]:
    model, weights, config = judge_cfg.get("model"), judge_cfg.get("weights"), judge_cfg.get("config")
    if model == "demo":
        folder = ensure_asset("models", "clip_judge")
        model, weights = TINY_CLIP_NAME, folder / "open_clip_pytorch_model.bin"
        config = folder / f"{TINY_CLIP_NAME}.json"
    if not weights:
        raise ConfigError(f"runner.judge.weights is not set: {model} needs a local "
                          "open_clip_pytorch_model.bin (nothing is downloaded); "
                          "runner.judge.model=demo uses the embedded tiny judge")
    try:
        judge = ClipJudge(str(model), weights, device, config)
    except FileNotFoundError as err:
        raise ConfigError(str(err)) from None
    except RuntimeError as err:   # open_clip: unknown model name
        raise ConfigError(f"runner.judge.model={model}: {err}") from None
    return judge, {"model": str(model), "weights": str(weights)}


def run(hydra_cfg) -> int:
    run_ = open_run(hydra_cfg)
    runner = run_.cfg["runner"]
    if run_.cfg["task"]["loader"] != "coco_caption":
        raise ConfigError("runner=clip_compare needs task=coco_caption (a folder of images)")
    for side in ("a", "b"):
        if not runner.get(f"predictions_{side}"):
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
    device = pick_device(run_.cfg["runtime"].get("device"))
    judge, judge_info = load_judge(runner.get("judge") or {}, device)
    batch = int((runner.get("judge") or {}).get("batch_size", 32))
    scores_a = judge.score(common, [captions_a[p] for p in common], batch)
    scores_b = judge.score(common, [captions_b[p] for p in common], batch)
    result = compare(scores_a.cosines, scores_b.cosines, float(runner.get("tolerance", 0.01)),
                     float(runner.get("tie_margin", 0.0)), int(runner.get("bootstrap", 1000)),
                     int(run_.cfg.get("seed", 0)))
    labels = [str(label) for label in (runner.get("labels") or ["A", "B"])][:2]
    result.update({
        "labels": labels, "judge": judge_info, "device": device,
        "predictions_a": str(runner["predictions_a"]), "predictions_b": str(runner["predictions_b"]),
        "num_images": len(images), "num_compared": len(common),
        "missing_in_a": [p for p in images if p not in captions_a],
        "missing_in_b": [p for p in images if p not in captions_b],
        "unmatched_keys_a": unmatched_a, "unmatched_keys_b": unmatched_b,
        "truncated_a": scores_a.truncated, "truncated_b": scores_b.truncated,
        "demo_data": run_.demo_data,
        "demo_judge": (runner.get("judge") or {}).get("model") == "demo",
    })
    result["notes"] = demo_notes(result)
    rows = [{"image": p, "caption_a": captions_a[p], "caption_b": captions_b[p],
             "cosine_a": round(ca, 6), "cosine_b": round(cb, 6), "difference": round(ca - cb, 6)}
            for p, ca, cb in zip(common, scores_a.cosines, scores_b.cosines)]
    write_clip_reports(run_.results_dir, result, rows, labels)
    print(render_text(result, labels) + f"reports: {run_.results_dir}", flush=True)
    return 0
