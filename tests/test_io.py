"""Atomic output (all or nothing); damaged MNIST and TrackML inputs raise the one error for damaged inputs."""

import os

import numpy as np
import pandas as pd
import pytest

from hepgraph.data import mnist, trackml
from hepgraph.io import UnreadableFileError, atomic_directory, atomic_output

RAW_FIX = r"the file is damaged or incomplete: re-download it \(or copy it again\) .*delete it and rerun the workflow"


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


def test_truncated_or_corrupted_mnist_npz_is_named_with_the_fix(tmp_path):
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=np.zeros((50, 28, 28), np.uint8), y_train=np.arange(50) % 10)
    whole = path.read_bytes()
    path.write_bytes(whole[:len(whole) // 2])
    with pytest.raises(UnreadableFileError, match=rf"mnist\.npz: truncated or corrupted npz archive "
                                                  rf"\(BadZipFile: File is not a zip file\); {RAW_FIX}"):
        mnist.load_npz(path, "train")
    damaged = bytearray(whole)
    damaged[len(whole) // 3] ^= 0xFF  # inside x_train.npy
    path.write_bytes(bytes(damaged))
    with pytest.raises(UnreadableFileError, match=rf"mnist\.npz: arrays \['x_train', 'y_train'\] cannot be read "
                                                  rf"\(BadZipFile: Bad CRC-32 for file 'x_train\.npy'\); {RAW_FIX}"):
        mnist.load_npz(path, "train")


def test_truncated_trackml_csv_gz_is_named_with_the_fix(tmp_path):
    frames = {part: pd.DataFrame({name: np.arange(2000) + 1 for name in columns})
              for part, columns in trackml.COLUMNS.items()}
    paths = trackml.write_event(tmp_path, "event000000001", **frames, compress=True)
    hits = next(p for p in paths if "hits" in p.name)
    hits.write_bytes(hits.read_bytes()[:hits.stat().st_size // 2])
    with pytest.raises(UnreadableFileError, match=rf"event000000001-hits\.csv\.gz: cannot be read as CSV "
                                                  rf"\(EOFError: Compressed file ended .*\); {RAW_FIX}"):
        trackml.read_event(tmp_path, "event000000001")
