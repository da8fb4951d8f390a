"""Input or model? For a sample whose outputs differ, the two runs' input fingerprints
(inference.fingerprints: decoded image sizes, the pixel tensor's hash, vision tokens, the prompt
ids' hash) say whether the model was already given different inputs (preprocessing) or the
same inputs gave different outputs (the model)."""
from __future__ import annotations

# compared when both runs have them; input_ids is covered by prompt_ids_sha256
FIELDS = ("image_sizes", "video_frames", "pixel_sha256", "vision_tokens", "prompt_tokens",
          "prompt_ids_sha256", "request_sha256")

# "same inputs" needs one of these: the model's own inputs, or a served request as sent
COMPLETE = ("pixel_sha256", "prompt_ids_sha256", "request_sha256")

INPUTS, MODEL, UNKNOWN = "inputs", "model", "unknown"


def cause(fingerprint_a: dict | None, fingerprint_b: dict | None) -> tuple[str, list[str]]:
    """("inputs", the fields that differ) when a field both runs recorded differs;
    ("model", []) when they agree on a field that pins the inputs down (COMPLETE); else
    ("unknown", []): a run from before fingerprints, or an embedded run against a served one,
    which share only the image sizes."""
    a, b = fingerprint_a or {}, fingerprint_b or {}
    shared = [name for name in FIELDS if name in a and name in b]
    differing = [name for name in shared if a[name] != b[name]]
    if differing:
        return INPUTS, differing
    return (MODEL, []) if any(name in COMPLETE for name in shared) else (UNKNOWN, [])
