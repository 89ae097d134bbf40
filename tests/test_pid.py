"""The quark/gluon family: stratified disjoint splits, scores worked out by hand, model shapes, training."""

import numpy as np
import pytest

from hepgraph.data.tables import read_arrays, write_table
from hepgraph.stages import split


def test_stratified_split_is_disjoint_and_keeps_the_quark_fraction():
    labels = np.r_[np.ones(700, int), np.zeros(300, int)]  # 70 % quark
    parts = split.split_indices(1000, (0.7, 0.15, 0.15), seed=5, labels=labels)
    assert [len(p) for p in parts] == [700, 150, 150]
    assert len(np.unique(np.concatenate(parts))) == 1000  # every jet in exactly one split
    # per class: 700 quarks -> 490/105/105, 300 gluons -> 210/45/45
    assert [int(labels[p].sum()) for p in parts] == [490, 105, 105]
    unstratified = split.split_indices(1000, (0.7, 0.15, 0.15), seed=5)
    assert [len(p) for p in unstratified] == [700, 150, 150]


def test_split_stage_stratifies_calo_images_by_y(tmp_path):
    rng = np.random.default_rng(0)
    for shard, y in (("q", 1), ("g", 0)):  # one shard per class, as simulated: 40 quark then 60 gluon jets
        n = 40 if y else 60
        write_table(tmp_path / f"{shard}.parquet", "calo_images",
                    {"X_jets": rng.exponential(size=(n, 3, 2, 2)).astype(np.float32),
                     "pt": np.full(n, 100.0, np.float32), "m0": np.arange(n, dtype=np.float32) + 100 * y,
                     "y": np.full(n, y)}, {"shard": shard})
    out = {name: tmp_path / f"{name}.parquet" for name in split.SPLITS}
    split.main(["--kind", "calo_images", "--inputs", str(tmp_path / "q.parquet"), str(tmp_path / "g.parquet"),
                "--fractions", "0.5", "0.25", "0.25", "--stratify", "y",
                *(f"--{name}={path}" for name, path in out.items())])
    read = {name: read_arrays(path, "calo_images", ["m0", "y"]) for name, path in out.items()}
    assert [int(read[name]["y"].sum()) for name in split.SPLITS] == [20, 10, 10]
    assert [int((read[name]["y"] == 0).sum()) for name in split.SPLITS] == [30, 15, 15]
    jets = np.concatenate([read[name]["m0"] for name in split.SPLITS])  # m0 identifies a jet here
    assert sorted(jets.tolist()) == sorted([*range(100, 140), *range(60)])  # no jet lost, none in two splits
