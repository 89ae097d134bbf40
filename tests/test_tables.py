"""Round trips and schema checks of the parquet graph tables, and the deterministic splits."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from hepgraph.data.tables import SCHEMAS, read_arrays, read_dense, read_graphs, read_meta, read_table, write_table
from hepgraph.stages import split


def jets(n=7, nodes=5, seed=0):
    rng = np.random.default_rng(seed)
    mask = np.arange(nodes) < rng.integers(1, nodes + 1, size=(n, 1))
    return {"nodes": (rng.normal(size=(n, nodes, 3)) * mask[..., None]).astype(np.float32), "mask": mask,
            "label": np.arange(n), "jet_pt": rng.uniform(500, 600, n).astype(np.float32),
            "jet_eta": rng.normal(size=n).astype(np.float32), "jet_mass": rng.uniform(0, 200, n).astype(np.float32),
            "n_constituents": mask.sum(1).astype(np.int32)}


def events(n=3, seed=0):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(0, 20, n)
    cols = {"event_id": np.arange(n) + 100}
    for name, col in SCHEMAS["tracking_events"].items():
        if col.ragged:
            cols[name] = [(rng.normal(size=k) * 100).astype(col.dtype) for k in sizes]
    return cols


def test_jets_round_trip_and_meta(tmp_path):
    cols = jets()
    write_table(tmp_path / "j.parquet", "jets", cols, {"source": "unit test", "n_nodes": 5})
    back = read_arrays(tmp_path / "j.parquet", "jets")
    for name, values in cols.items():
        np.testing.assert_array_equal(back[name], values)
        assert back[name].dtype == np.dtype(SCHEMAS["jets"][name].dtype)
    assert read_meta(tmp_path / "j.parquet") == {"source": "unit test", "n_nodes": 5}
    dense = read_dense(tmp_path / "j.parquet", "jets")
    assert dense["nodes"].shape == (7, 5, 3) and dense["mask"].dtype == torch.bool


def test_pyg_graphs_drop_padding(tmp_path):
    cols = jets()
    write_table(tmp_path / "j.parquet", "jets", cols, {})
    graphs = read_graphs(tmp_path / "j.parquet", "jets")
    assert [g.num_nodes for g in graphs] == cols["mask"].sum(1).tolist()
    np.testing.assert_array_equal(graphs[3].x.numpy(), cols["nodes"][3][cols["mask"][3]])


def test_ragged_round_trip_including_empty_event(tmp_path):
    cols = events()
    cols["hit_id"][1] = np.zeros(0, np.int64)
    for name in cols:
        if name not in ("event_id", "hit_id"):
            cols[name][1] = cols[name][1][:0]
    write_table(tmp_path / "e.parquet", "tracking_events", cols, {})
    back = read_arrays(tmp_path / "e.parquet", "tracking_events")
    for name in cols:
        for a, b in zip(back[name], cols[name]):
            np.testing.assert_array_equal(a, b)
    graphs = read_graphs(tmp_path / "e.parquet", "tracking_events")
    assert graphs[1].pos.shape == (0, 3) and graphs[2].pos.shape == (len(cols["x"][2]), 3)


def test_write_rejects_bad_columns_and_leaves_nothing(tmp_path):
    cols = jets()
    del cols["label"]
    with pytest.raises(ValueError, match="missing columns \\['label'\\]"):
        write_table(tmp_path / "j.parquet", "jets", cols, {})
    cols = jets()
    cols["mask"] = cols["mask"][:, :3]
    with pytest.raises(ValueError, match="mask shape"):
        write_table(tmp_path / "j.parquet", "jets", cols, {})
    with pytest.raises(ValueError, match="unknown table kind 'jet'"):
        write_table(tmp_path / "j.parquet", "jet", jets(), {})
    assert list(tmp_path.iterdir()) == []


def test_read_names_file_and_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.parquet does not exist"):
        read_table(tmp_path / "missing.parquet", "jets")
    pq.write_table(pa.table({"a": [1]}), tmp_path / "plain.parquet")
    with pytest.raises(ValueError, match="plain.parquet is not a hepgraph table"):
        read_table(tmp_path / "plain.parquet", "jets")
    write_table(tmp_path / "j.parquet", "jets", jets(), {})
    with pytest.raises(ValueError, match="is a 'jets' table .* expected 'image_graphs'"):
        read_table(tmp_path / "j.parquet", "image_graphs")
    (tmp_path / "junk.parquet").write_bytes(b"not parquet")
    with pytest.raises(ValueError, match="junk.parquet is not a readable parquet file"):
        read_table(tmp_path / "junk.parquet", "jets")


def test_split_is_a_deterministic_partition():
    parts = split.split_indices(1000, (0.7, 0.15, 0.15), seed=3)
    assert [len(p) for p in parts] == [700, 150, 150]
    np.testing.assert_array_equal(np.sort(np.concatenate(parts)), np.arange(1000))
    again = split.split_indices(1000, (0.7, 0.15, 0.15), seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(parts, again))
    assert not np.array_equal(parts[0], split.split_indices(1000, (0.7, 0.15, 0.15), seed=4)[0])
    with pytest.raises(ValueError, match="summing to 1"):
        split.split_indices(10, (0.5, 0.5, 0.5), seed=0)


def test_split_stage_merges_shards(tmp_path):
    a, b = jets(6, seed=1), jets(4, seed=2)
    write_table(tmp_path / "a.parquet", "jets", a, {"shard": "a"})
    write_table(tmp_path / "b.parquet", "jets", b, {"shard": "b"})
    outs = {s: tmp_path / f"{s}.parquet" for s in ("train", "val", "test")}
    split.main(["--kind", "jets", "--inputs", str(tmp_path / "a.parquet"), str(tmp_path / "b.parquet"),
                "--fractions", "0.6", "0.2", "0.2", "--seed", "1",
                *[arg for s, p in outs.items() for arg in (f"--{s}", str(p))]])
    parts = [read_arrays(p, "jets") for p in outs.values()]
    assert [len(p["label"]) for p in parts] == [6, 2, 2]
    merged = np.concatenate([p["jet_pt"] for p in parts])
    np.testing.assert_array_equal(np.sort(merged), np.sort(np.concatenate([a["jet_pt"], b["jet_pt"]])))
    meta = read_meta(outs["val"])
    assert meta["split"] == "val" and [s["meta"]["shard"] for s in meta["sources"]] == ["a", "b"]
