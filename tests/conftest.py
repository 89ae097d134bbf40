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


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A copy of the workflow, run end to end on the tiny config. Tests that change it work on a copy of it."""
    from workflow_runs import copy_workflow, snakemake

    root = copy_workflow(tmp_path_factory.mktemp("workflow"))
    snakemake("--cores", "2", "--configfile", "tiny.yaml", cwd=root)
    return root
