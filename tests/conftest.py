"""Shared fixtures."""

from pathlib import Path

import pytest
import torch

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real reference data beside the repository (../shared/data), standing in for a user's downloads."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"reference data {SHARED_DATA} not present")
    return SHARED_DATA


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models gain nothing from intra-op threads, whose OpenMP waits are slow on busy cores."""
    real = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(real)
