"""Shared fixtures."""

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real reference data beside the repository (../shared/data), standing in for a user's downloads."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"reference data {SHARED_DATA} not present")
    return SHARED_DATA
