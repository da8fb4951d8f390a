"""Every task runs end to end on every demo model, from every copy of its demo data (the
official files, and the VLMEvalKit TSV and `datasets` copies its demo builder lists in
copies.json): the real runner, scorer and reports, a few samples each. A model is loaded once
per model for the whole matrix (the runs differ only in their data)."""
import json

import pytest

import runners.accuracy
from modeltest.demo_data import COPIES_MANIFEST
from runners.cli import main
from runners.config import available, compose, to_container
from runners.demo import ensure_asset

MODELS = ["demo_qwen2_vl", "demo_internvl", "demo_deepseek_vl", "demo_deepseek_vl2", "demo_vlmo"]
SAMPLES = 2
_ADAPTERS: dict = {}


def _tasks() -> list[str]:
    return [name for name in available("task")
            if to_container(compose([f"task={name}"]))["task"]["demo_builder"]]


def _copies(task: str) -> list[tuple[str, str | None]]:
    """(label, task.local_dataset_path override or None for the yaml's own files)."""
    folder = ensure_asset("data", task)
    manifest = folder / COPIES_MANIFEST
    copies = json.loads(manifest.read_text()) if manifest.is_file() else {}
    return [("default", None), *((name, str(folder / path)) for name, path in copies.items())]


def _video_only(task: str) -> bool:
    from modeltest.tasks import load_samples

    ensure_asset("data", task)
    cfg = to_container(compose([f"task={task}"]))
    samples, _ = load_samples(cfg["task"], cfg["task"]["prompt_template"])
    return all(s.video and not s.images for s in samples)


@pytest.fixture(scope="module", autouse=True)
def one_adapter_per_model():
    """create_adapter called once per model for the whole module."""
    real = runners.accuracy.create_adapter

    def cached(model_cfg, device, dtype, tp_mesh=None):
        key = (model_cfg["name"], str(dtype))
        if key not in _ADAPTERS:
            _ADAPTERS[key] = real(model_cfg, device, dtype, tp_mesh)
        adapter = _ADAPTERS[key]
        adapter.close = lambda: None       # kept open for the next run
        return adapter
    runners.accuracy.create_adapter = cached
    yield
    runners.accuracy.create_adapter = real
    _ADAPTERS.clear()


@pytest.mark.parametrize("model", MODELS)
def test_every_task_runs_on_the_model(model, tmp_path):
    ran = []
    for task in _tasks():
        if model == "demo_vlmo" and _video_only(task):
            continue       # VLMo answers questions on images only (it refuses video)
        for label, path in _copies(task):
            out = tmp_path / f"{task}_{label}"
            args = [f"task={task}", f"model={model}", f"task.limit={SAMPLES}",
                    f"output_dir={out}", "runtime.max_error_rate=1.0"]
            if path:
                args.append(f"task.local_dataset_path={path}")
            assert main(args) == 0, (task, label)
            summary = json.loads((out / "results" / "summary.json").read_text())
            assert summary["num_samples"] == SAMPLES, (task, label)
            assert summary["num_errors"] == 0, (task, label, summary["errors"])
            records = [json.loads(line) for line in (out / "debug" / "samples.jsonl").open()]
            assert all("score" in r for r in records)
            ran.append((task, label))
    assert {task for task, _ in ran} == {t for t in _tasks() if not
                                         (model == "demo_vlmo" and _video_only(t))}
