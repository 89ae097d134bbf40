"""Round trips and schema checks of the parquet graph tables, and the deterministic splits."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from hepgraph.data import tables
from hepgraph.data.tables import (SCHEMAS, TableWriter, concat_arrays, iter_batches, read_arrays, read_dense,
                                  read_graphs, read_meta, read_table, take_rows, write_table)
from hepgraph.io import UnreadableFileError
from hepgraph.stages import split


def jets(n=7, nodes=5, seed=0):
    rng = np.random.default_rng(seed)
    mask = np.arange(nodes) < rng.integers(1, nodes + 1, size=(n, 1))
    return {"nodes": (rng.normal(size=(n, nodes, 3)) * mask[..., None]).astype(np.float32), "mask": mask,
            "label": np.arange(n), "jet_pt": rng.uniform(500, 600, n).astype(np.float32),
            "jet_eta": rng.normal(size=n).astype(np.float32), "jet_mass": rng.uniform(0, 200, n).astype(np.float32),
            "n_constituents": mask.sum(1).astype(np.int32)}


def images(n=5, seed=0):
    rng = np.random.default_rng(seed)
    return {"X_jets": rng.exponential(size=(n, 3, 4, 4)).astype(np.float32),
            "pt": rng.uniform(70, 300, n).astype(np.float32), "m0": rng.uniform(5, 60, n).astype(np.float32),
            "y": np.arange(n) % 2}


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
    with pytest.raises(UnreadableFileError, match=r"junk\.parquet: not a readable parquet file .*delete it and rerun"):
        read_table(tmp_path / "junk.parquet", "jets")


def batches(columns, size):
    n = len(next(iter(columns.values())))
    return (take_rows(columns, np.arange(start, min(start + size, n))) for start in range(0, n, size))


def assert_same(got, expected):
    assert got.keys() == expected.keys()
    for name, values in expected.items():
        if isinstance(values, list):
            assert len(got[name]) == len(values)
            for a, b in zip(got[name], values):
                np.testing.assert_array_equal(a, b)
        else:
            np.testing.assert_array_equal(got[name], values)


@pytest.mark.parametrize("kind, columns", [("jets", jets(50)), ("calo_images", images(30)),
                                           ("tracking_events", events(20))])
def test_batches_are_written_in_row_groups_and_read_back_in_order(tmp_path, monkeypatch, kind, columns):
    monkeypatch.setattr(tables, "ROW_GROUP_BYTES", 1500)
    path = tmp_path / "t.parquet"
    assert write_table(path, kind, batches(columns, 3), {"streamed": True}) == len(columns[next(iter(columns))])
    groups = [pq.ParquetFile(path).metadata.row_group(i).num_rows for i in range(pq.ParquetFile(path).num_row_groups)]
    assert len(groups) > 2
    if kind != "tracking_events":  # fixed-size rows: full groups of equal size, whatever the batch size
        assert len(set(groups[:-1])) == 1
    assert_same(read_arrays(path, kind), columns)
    assert_same(concat_arrays(list(iter_batches(path, kind))), columns)
    parts = list(iter_batches(path, kind, columns=[next(iter(columns))], batch_rows=4))
    assert max(len(next(iter(p.values()))) for p in parts) == 4
    assert_same(concat_arrays(parts), {name: v for name, v in columns.items() if name in parts[0]})
    assert read_meta(path) == {"streamed": True}


def test_failed_or_inconsistent_stream_leaves_the_old_table(tmp_path, monkeypatch):
    monkeypatch.setattr(tables, "ROW_GROUP_BYTES", 1500)
    path = tmp_path / "j.parquet"
    write_table(path, "jets", jets(4), {"version": "old"})

    def failing():
        yield from batches(jets(40), 10)  # row groups are written to the temporary file before the failure
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError, match="killed"):
        write_table(path, "jets", failing(), {"version": "new"})
    with pytest.raises(ValueError, match=r"column 'nodes' has per-row shape \[4, 3\] in this batch but \[5, 3\]"):
        write_table(path, "jets", [jets(3), jets(3, nodes=4)], {"version": "new"})
    with pytest.raises(ValueError, match="no batch was written"):
        write_table(path, "jets", [], {"version": "new"})
    with pytest.raises(RuntimeError), TableWriter(path, "jets", {"version": "new"}) as out:
        out.write(jets(40))
        raise RuntimeError("killed")
    assert [p.name for p in tmp_path.iterdir()] == ["j.parquet"] and read_meta(path) == {"version": "old"}
    write_table(path, "jets", [jets(0)], {"version": "empty"})
    assert len(read_arrays(path, "jets")["label"]) == 0 and read_meta(path) == {"version": "empty"}


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

    write_table(tmp_path / "c.parquet", "jets", jets(4, nodes=8), {"shard": "c"})
    for path in outs.values():
        path.unlink()
    with pytest.raises(ValueError, match=r"input .*c\.parquet does not match the inputs before it: .*column 'nodes' "
                                         r"has per-row shape \[8, 3\] in this batch but \[5, 3\]"):
        split.main(["--kind", "jets", "--inputs", str(tmp_path / "a.parquet"), str(tmp_path / "c.parquet"),
                    *[arg for s, p in outs.items() for arg in (f"--{s}", str(p))]])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.parquet", "b.parquet", "c.parquet"]


@pytest.mark.parametrize("kind, make", [("jets", jets), ("calo_images", images), ("tracking_events", events)])
def test_streamed_split_keeps_the_assignment_and_order_of_the_whole_table_rule(tmp_path, monkeypatch, kind, make):
    monkeypatch.setattr(tables, "ROW_GROUP_BYTES", 1500)  # shards and splits of several row groups
    shards = [make(n, seed=s) for s, n in enumerate((23, 1, 17))]
    inputs = [str(tmp_path / f"{i}.parquet") for i in range(len(shards))]
    for path, columns in zip(inputs, shards):
        write_table(path, kind, batches(columns, 5), {})
    outs = {s: tmp_path / f"{s}.parquet" for s in split.SPLITS}
    split.main(["--kind", kind, "--inputs", *inputs, "--seed", "7", "--batch-rows", "4",
                *[arg for s, p in outs.items() for arg in (f"--{s}", str(p))]])
    whole = concat_arrays(shards)
    for path, index in zip(outs.values(), split.split_indices(41, (0.7, 0.15, 0.15), 7)):
        assert_same(read_arrays(path, kind), take_rows(whole, index))
        assert pq.ParquetFile(path).num_row_groups > 1 or len(index) < 10


def corrupt_middle_page(path, row_group, column=0):
    """Flip bytes in the middle of the data pages of one column chunk."""
    chunk = pq.ParquetFile(path).metadata.row_group(row_group).column(column)
    end = (chunk.dictionary_page_offset or chunk.data_page_offset) + chunk.total_compressed_size
    data = bytearray(path.read_bytes())
    middle = (chunk.data_page_offset + end) // 2
    data[middle:middle + 8] = bytes(b ^ 0xFF for b in data[middle:middle + 8])
    path.write_bytes(bytes(data))


def test_damaged_tables_raise_one_error_naming_file_row_group_and_fix(tmp_path, monkeypatch):
    monkeypatch.setattr(tables, "ROW_GROUP_BYTES", 3000)
    path = tmp_path / "j.parquet"
    write_table(path, "jets", batches(jets(120), 10), {})
    assert pq.ParquetFile(path).num_row_groups >= 4
    corrupt_middle_page(path, 2)
    fix = (r"the file is damaged or incomplete: delete it and rerun the workflow step that writes it "
           r"\(snakemake --cores N .*j\.parquet\)")
    with pytest.raises(UnreadableFileError, match=rf"j\.parquet: row group 2 of \d+ cannot be read .*CRC.*; {fix}"):
        read_arrays(path, "jets")
    with pytest.raises(UnreadableFileError, match="row group 2"):
        list(iter_batches(path, "jets"))
    outs = [tmp_path / f"{s}.parquet" for s in split.SPLITS]
    with pytest.raises(UnreadableFileError, match="row group 2"):
        split.main(["--kind", "jets", "--inputs", str(path), *[a for s, p in zip(split.SPLITS, outs)
                                                                for a in (f"--{s}", str(p))]])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["j.parquet"]  # no split written

    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # an interrupted copy
    with pytest.raises(UnreadableFileError, match=rf"j\.parquet: not a readable parquet file .*; {fix}"):
        read_meta(path)
