"""The trained demos: checkpoints that runner=train made from the `<family>_init` demo models
(inference/demo_models.py) on easy-VQA's training split, committed under
inference/demo_assets/<name>/ with the exact command that made them (TRAINING.md) and their
per-step losses (train.csv, checked by tests/test_trained_demo.py).

A builder copies the committed files into the demo cache and checks them against the hashes
below: a retrained checkpoint must come with new hashes, and the change of this module's
source rebuilds every cached copy (runners/demo.py versions an asset by its builder's module)."""
from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

DEMO_ASSETS = Path(__file__).resolve().parent / "demo_assets"
# what stays in the assets folder: the record of the training, not part of the checkpoint
RECORDS = ("TRAINING.md", "train.csv", "train_summary.json")
# sha256 of each committed checkpoint's weights
WEIGHTS = "model.safetensors"
SHA256 = {
    "qwen2_vl_trained": "fd9c9947dca033141714e9e5597bf7d45b154a5f3d297b716a1a306dfacb0e1f",
    "deepseek_vl2_trained": "ed35906dd67ce600dea3cf284a9ca9f95972a98378272bd4c6e18b4cf6cd498d",
}


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _copy(name: str, folder: Path) -> None:
    source = DEMO_ASSETS / name
    found = sha256(source / WEIGHTS)
    if found != SHA256[name]:
        raise RuntimeError(f"{source / WEIGHTS}: sha256 {found} is not the recorded "
                           f"{SHA256[name]} (inference/trained_demos.py): a retrained "
                           "checkpoint needs its new hash recorded there")
    folder.mkdir(parents=True, exist_ok=True)
    for item in sorted(source.iterdir()):
        if item.is_file() and item.name not in RECORDS:
            shutil.copyfile(item, folder / item.name)


def build_qwen2_vl_trained(folder: Path) -> None:
    """demo_qwen2_vl_trained: demo_qwen2_vl_init trained on easy-VQA."""
    _copy("qwen2_vl_trained", folder)


def build_deepseek_vl2_trained(folder: Path) -> None:
    """demo_deepseek_vl2_trained: demo_deepseek_vl2_init trained on easy-VQA (original
    deepseek-ai layout)."""
    _copy("deepseek_vl2_trained", folder)
