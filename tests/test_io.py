"""Atomic output: all or nothing."""

import os

import pytest

from hepgraph.io import atomic_directory, atomic_output


def test_atomic_output_renames_on_success_with_normal_permissions(tmp_path):
    target = tmp_path / "sub" / "out.h5"
    with atomic_output(target) as tmp:
        assert tmp.parent == target.parent and tmp.name.startswith(".") and tmp.suffix == ".h5"
        tmp.write_text("complete")
    assert target.read_text() == "complete"
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask
    assert [p.name for p in target.parent.iterdir()] == ["out.h5"]


def test_atomic_output_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.parquet"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_output(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["out.parquet"]


def test_atomic_directory_replaces_only_when_complete(tmp_path):
    target = tmp_path / "events"
    target.mkdir()
    (target / "old.csv").write_text("old")
    with pytest.raises(RuntimeError), atomic_directory(target) as tmp:
        (tmp / "new.csv").write_text("half")
        raise RuntimeError("killed")
    assert [p.name for p in tmp_path.iterdir()] == ["events"] and (target / "old.csv").exists()
    with atomic_directory(target) as tmp:
        (tmp / "new.csv").write_text("new")
    assert [p.name for p in target.iterdir()] == ["new.csv"] and [p.name for p in tmp_path.iterdir()] == ["events"]
