"""Shared fixtures for the SIMM tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from simm_data import shared_simm_dir


@pytest.fixture(scope="session")
def simm_dir() -> Path:
    """The shared SIMM reference folder; skip the test when it is absent."""
    found = shared_simm_dir()
    if found is None:
        pytest.skip(
            "shared SIMM reference data (../shared/data/simm beside the checkout) not found"
        )
    return found
