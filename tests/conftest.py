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
