import os
import pathlib

import numpy as np
import pytest
from hypothesis import settings

settings.register_profile("lawfit", deadline=None, print_blob=True)
settings.load_profile("lawfit")

SHARED = pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture(scope="session")
def shared_data():
    """../shared/data beside the checkout (present on developer machines and in CI)."""
    if not SHARED.exists():
        pytest.skip("../shared/data is not beside this checkout")
    return SHARED
