"""`scripts/bench_eval.py --peer lmms-eval`: the refusals before anything loads, and the
local `datasets` copy the peer reads. Never installs or runs lmms-eval (the measurement
itself is a benchmark, in the README, not a test)."""
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import bench_peer  # noqa: E402


def _bench(*args):
    return subprocess.run([sys.executable, "scripts/bench_eval.py", "--out", "unused.json",
                           *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_missing_peer_is_one_line_naming_the_install(tmp_path):
    if importlib.util.find_spec("lmms_eval") is not None:
        pytest.skip("lmms-eval is installed in this venv (it belongs in its own)")
    for python in (sys.executable, str(tmp_path / "no-such-venv" / "bin" / "python")):
        result = _bench("--peer", "lmms-eval", "--peer-python", python)
        assert result.returncode == 2
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert f"lmms-eval is not installed for {python}" in lines[0]
        assert "pip install lmms-eval==0.7.3" in lines[0] and "--peer-python" in lines[0]
        assert "loading" not in result.stderr and not (ROOT / "unused.json").exists()


@pytest.mark.parametrize("args, message", [
    (["--peer-batch-sizes", "1,x"], "is not a comma-separated list of integers"),
    (["--peer-batch-sizes", "0,4"], "needs batch sizes of at least 1"),
    (["--task", "videobench"], "compares image tasks"),
    (["--model", "demo_internvl"], "model demo_internvl is adapter internvl"),
])
def test_bad_peer_settings_are_refused_in_one_line(args, message):
    result = _bench("--peer", "lmms-eval", *args)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and message in result.stderr


def test_batch_sizes_always_include_batch_one():
    assert bench_peer.parse_batch_sizes("8,4") == [1, 4, 8]
    assert bench_peer.parse_batch_sizes("1, 4,4") == [1, 4]


def test_differing_counts_positions():
    assert bench_peer.differing(["a", "b", "c"], ["a", "x", "c"]) == [1]
    with pytest.raises(ValueError):
        bench_peer.differing(["a"], ["a", "b"])


def test_peer_copy_holds_the_prompt_and_the_image_files_bytes(tmp_path):
    datasets = pytest.importorskip("datasets")
    from modeltest.demo_data import build_textvqa
    from modeltest.samples import Sample

    build_textvqa(tmp_path / "data", count=3)
    images = sorted((tmp_path / "data" / "images").iterdir())
    samples = [Sample(question_id=10 + i, subject="", prompt=f"question {i}\nAnswer.",
                      images=[str(path)]) for i, path in enumerate(images)]
    folder = bench_peer.write_peer_copy(samples, tmp_path / "copy")
    split = datasets.load_from_disk(str(folder))["validation"]
    assert split["prompt"] == [s.prompt for s in samples]
    assert split["question_id"] == ["10", "11", "12"]
    assert split["request_id"] == ["0", "1", "2"]
    raw = split.cast_column("image", datasets.Image(decode=False))["image"]
    assert [row["bytes"] for row in raw] == [path.read_bytes() for path in images]


def test_peer_copy_refuses_samples_without_exactly_one_image(tmp_path):
    from modeltest.samples import Sample

    with pytest.raises(ValueError, match="sample 7 has 0 images"):
        bench_peer.write_peer_copy([Sample(question_id=7, subject="", prompt="q")],
                                   tmp_path / "copy")
