import os

import pytest


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
