"""The CLIP judge named by `runner.judge` (a local open_clip checkpoint, or the demo's tiny
one), for captioning scores and caption comparisons."""
from __future__ import annotations

from inference.clip_judge import ClipJudge
from inference.demo_models import TINY_CLIP_NAME
from runners.config import ConfigError
from runners.demo import ensure_asset

DEMO_JUDGE_BUILDER = "inference.demo_models:build_clip_judge"


def judge_config(cfg: dict) -> dict | None:
    """runner.judge when a judge model is set, else None."""
    judge = cfg["runner"].get("judge")
    return judge if judge and judge["model"] else None


def load_judge(judge_cfg: dict, device: str) -> tuple[ClipJudge, dict]:
    model, weights, config = judge_cfg["model"], judge_cfg["weights"], judge_cfg["config"]
    if model == "demo":
        folder = ensure_asset("models", "clip_judge", DEMO_JUDGE_BUILDER)
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
