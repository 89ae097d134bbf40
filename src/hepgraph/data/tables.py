"""Parquet graph tables: the one place where the schema of every preprocessed table is defined and checked.

Each table holds one row per graph (a jet, an image, an event). Fixed-size graphs store their node features
as nested fixed-size-list columns plus a boolean mask; variable-size graphs (tracking events) store one list
column per hit quantity. Column shapes below: ``N`` rows, ``n`` nodes, ``F`` features.

=================  =====================================================================================
kind               columns
=================  =====================================================================================
jets               nodes float32 [N, n, F] (names in meta ``node_features``), mask bool [N, n],
                   label int64 [N], jet_pt, jet_eta, jet_mass float32 [N] (GeV), n_constituents int32 [N]
image_graphs       nodes float32 [N, n, 3] (x, y, intensity), mask bool [N, n], label int64 [N]
calo_images        X_jets float32 [N, 3, 125, 125] (track pT, ECAL, HCAL), pt, m0 float32 [N] (GeV), y int64 [N]
tracking_events    event_id int64 [E]; per event, lists over hits: hit_id int64, x, y, z float32 (mm),
                   volume_id, layer_id, module_id int32, particle_id int64 (0 = noise),
                   particle_pt float32 (GeV, 0 for noise), particle_eta float32
=================  =====================================================================================

Every file carries, under the schema metadata key ``hepgraph``, a JSON object with the table ``kind``,
``schema_version``, the ``hepgraph_version`` that wrote it and the caller's provenance ``meta``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from hepgraph import __version__
from hepgraph.io import atomic_output

if TYPE_CHECKING:
    import torch
    import torch_geometric

SCHEMA_VERSION = 1
META_KEY = b"hepgraph"
ROW_GROUP_BYTES = 32 * 2**20  # row groups of ~32 MiB stream well and compress well


@dataclass(frozen=True)
class Column:
    """A column: element dtype and either the number of trailing fixed dimensions or ``ragged`` (one list per row)."""

    dtype: str
    ndim: int = 0
    ragged: bool = False


_HITS = {name: Column(dtype, ragged=True) for name, dtype in [
    ("hit_id", "int64"), ("x", "float32"), ("y", "float32"), ("z", "float32"),
    ("volume_id", "int32"), ("layer_id", "int32"), ("module_id", "int32"),
    ("particle_id", "int64"), ("particle_pt", "float32"), ("particle_eta", "float32")]}

SCHEMAS: dict[str, dict[str, Column]] = {
    "jets": {"nodes": Column("float32", 2), "mask": Column("bool", 1), "label": Column("int64"),
             "jet_pt": Column("float32"), "jet_eta": Column("float32"), "jet_mass": Column("float32"),
             "n_constituents": Column("int32")},
    "image_graphs": {"nodes": Column("float32", 2), "mask": Column("bool", 1), "label": Column("int64")},
    "calo_images": {"X_jets": Column("float32", 3), "pt": Column("float32"), "m0": Column("float32"),
                    "y": Column("int64")},
    "tracking_events": {"event_id": Column("int64"), **_HITS},
}

Arrays = dict[str, "np.ndarray | list[np.ndarray]"]


def _schema(kind: str) -> dict[str, Column]:
    try:
        return SCHEMAS[kind]
    except KeyError:
        raise ValueError(f"unknown table kind {kind!r}; known kinds: {', '.join(SCHEMAS)}") from None


def _to_arrow(name: str, col: Column, values: Any) -> pa.Array:
    if col.ragged:
        parts = [np.asarray(v, dtype=col.dtype).reshape(-1) for v in values]
        offsets = np.zeros(len(parts) + 1, dtype=np.int64)
        np.cumsum([len(p) for p in parts], out=offsets[1:])
        flat = np.concatenate(parts) if parts else np.zeros(0, col.dtype)
        return pa.LargeListArray.from_arrays(pa.array(offsets), pa.array(flat))
    array = np.ascontiguousarray(values, dtype=col.dtype)
    if array.ndim != col.ndim + 1:
        raise ValueError(f"column {name!r} must have {col.ndim + 1} dimensions, got shape {array.shape}")
    arrow = pa.array(array.reshape(-1))
    for size in reversed(array.shape[1:]):
        arrow = pa.FixedSizeListArray.from_arrays(arrow, size)
    return arrow


def _to_numpy(arrow: pa.ChunkedArray | pa.Array, col: Column) -> np.ndarray | list[np.ndarray]:
    arrow = arrow.combine_chunks() if isinstance(arrow, pa.ChunkedArray) else arrow
    if col.ragged:
        offsets = arrow.offsets.to_numpy()
        flat = np.require(arrow.flatten().to_numpy(zero_copy_only=False), requirements="W")
        return [flat[a - offsets[0]:b - offsets[0]] for a, b in zip(offsets[:-1], offsets[1:])]
    shape = [len(arrow)]
    for _ in range(col.ndim):
        shape.append(arrow.type.list_size)
        arrow = arrow.flatten()
    return np.require(arrow.to_numpy(zero_copy_only=False), col.dtype, "W").reshape(shape)


def write_table(path: str | Path, kind: str, columns: Mapping[str, Any], meta: Mapping[str, Any]) -> None:
    """Validate ``columns`` against the schema of ``kind`` and write them atomically as a zstd parquet table."""
    schema = _schema(kind)
    missing, extra = set(schema) - set(columns), set(columns) - set(schema)
    if missing or extra:
        raise ValueError(f"{kind} table {path}: missing columns {sorted(missing)}, unexpected columns {sorted(extra)}")
    lengths = {name: len(values) for name, values in columns.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"{kind} table {path}: columns differ in number of rows: {lengths}")
    arrays = {name: _to_arrow(name, col, columns[name]) for name, col in schema.items()}
    if "mask" in arrays and np.shape(columns["mask"])[1:] != np.shape(columns["nodes"])[1:2]:
        raise ValueError(f"{kind} table {path}: mask shape {np.shape(columns['mask'])} does not match "
                         f"nodes shape {np.shape(columns['nodes'])}")
    header = {"kind": kind, "schema_version": SCHEMA_VERSION, "hepgraph_version": __version__, "meta": dict(meta)}
    table = pa.table(arrays).replace_schema_metadata({META_KEY: json.dumps(header).encode()})
    rows = max(len(table), 1)
    row_group = max(1, min(rows, int(ROW_GROUP_BYTES * rows / max(table.nbytes, 1))))
    with atomic_output(path) as tmp:
        pq.write_table(table, tmp, compression="zstd", row_group_size=row_group)


def read_header(path: str | Path) -> dict[str, Any]:
    """The ``hepgraph`` header of a table file: kind, schema_version, hepgraph_version and meta."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"table {path} does not exist: run the workflow step that writes it "
                                f"(snakemake --cores N {path})")
    try:
        metadata = pq.read_schema(path).metadata or {}
    except pa.ArrowInvalid as err:
        raise ValueError(f"{path} is not a readable parquet file ({err}); delete it and rerun the workflow") from err
    if META_KEY not in metadata:
        raise ValueError(f"{path} is not a hepgraph table (no '{META_KEY.decode()}' schema metadata); "
                         "write it with hepgraph.data.tables.write_table")
    return json.loads(metadata[META_KEY])


def read_meta(path: str | Path) -> dict[str, Any]:
    """The provenance ``meta`` a table was written with."""
    return read_header(path)["meta"]


def read_table(path: str | Path, kind: str, columns: Sequence[str] | None = None) -> pa.Table:
    """Read a table after checking that it is of ``kind`` with this schema version and the expected columns."""
    schema = _schema(kind)
    header = read_header(path)
    if header["kind"] != kind or header["schema_version"] != SCHEMA_VERSION:
        raise ValueError(f"{path} is a {header['kind']!r} table of schema version {header['schema_version']}, "
                         f"expected {kind!r} version {SCHEMA_VERSION}; rerun the preprocessing step that writes it")
    wanted = list(columns or schema)
    unknown = set(wanted) - set(schema)
    if unknown:
        raise ValueError(f"{kind} tables have no columns {sorted(unknown)}; columns: {', '.join(schema)}")
    table = pq.read_table(path, columns=wanted)
    for name in wanted:
        expected = pa.large_list(pa.from_numpy_dtype(np.dtype(schema[name].dtype))) if schema[name].ragged else None
        leaf = table.schema.field(name).type
        depth = 0
        while pa.types.is_fixed_size_list(leaf):
            leaf, depth = leaf.value_type, depth + 1
        ok = (table.schema.field(name).type == expected) if expected is not None else (
            depth == schema[name].ndim and leaf == pa.from_numpy_dtype(np.dtype(schema[name].dtype)))
        if not ok:
            raise ValueError(f"{path}: column {name!r} has type {table.schema.field(name).type}, which does not "
                             f"match the {kind} schema; rerun the preprocessing step that writes it")
    return table


def read_arrays(path: str | Path, kind: str, columns: Sequence[str] | None = None) -> Arrays:
    """Read a table into numpy: dense arrays for fixed-size columns, a list of 1-D arrays for ragged ones."""
    table = read_table(path, kind, columns)
    schema = _schema(kind)
    return {name: _to_numpy(table.column(name), schema[name]) for name in table.column_names}


def read_dense(path: str | Path, kind: str, columns: Sequence[str] | None = None) -> dict[str, "torch.Tensor"]:
    """Read a fixed-size table into torch tensors, e.g. ``nodes`` [N, n, F] and ``mask`` [N, n]."""
    import torch

    if any(col.ragged for col in _schema(kind).values()):
        raise ValueError(f"{kind} tables hold variable-size graphs: use read_graphs, not read_dense")
    return {name: torch.from_numpy(array) for name, array in read_arrays(path, kind, columns).items()}


def read_nodes(path: str | Path, kind: str, label: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Nodes [N, n, F] and mask [N, n] of a fixed-size graph table; with ``label``, only the graphs labelled with it.

    An empty result is an error that names the table (and the labels it has).
    """
    arrays = read_arrays(path, kind, ["nodes", "mask"] if label is None else ["nodes", "mask", "label"])
    nodes, mask = arrays["nodes"], arrays["mask"]
    if label is not None:
        keep = arrays["label"] == label
        if not keep.any():
            raise ValueError(f"{path} has no graphs with label {label} (labels present: "
                             f"{sorted(set(arrays['label'].tolist()))}); check the digit or class asked for")
        nodes, mask = nodes[keep], mask[keep]
    if len(nodes) == 0:
        raise ValueError(f"{path} has no rows; rerun the step that writes it")
    return nodes, mask


def read_graphs(path: str | Path, kind: str) -> list["torch_geometric.data.Data"]:
    """Read a table as PyTorch Geometric graphs without edges, one per row; batch them with a PyG DataLoader.

    Masked-node kinds give ``x`` [n_real, F] and graph ``y``; tracking events give ``pos`` [n_hits, 3] (x, y, z in
    mm) and per-hit ``hit_id``, ``particle_id``, ``particle_pt``, ``particle_eta``, ``volume_id``, ``layer_id``.
    """
    import torch
    from torch_geometric.data import Data

    arrays = read_arrays(path, kind)
    if kind == "tracking_events":
        return [Data(pos=torch.from_numpy(np.stack([arrays[c][i] for c in "xyz"], axis=1)),
                     **{name: torch.from_numpy(arrays[name][i]) for name in _HITS if name not in ("x", "y", "z")},
                     event_id=int(arrays["event_id"][i]))
                for i in range(len(arrays["event_id"]))]
    if "mask" not in arrays:
        raise ValueError(f"{kind} tables are images, not graphs: use read_dense")
    label = arrays["label"]
    return [Data(x=torch.from_numpy(nodes[mask]), y=torch.tensor([y]))
            for nodes, mask, y in zip(arrays["nodes"], arrays["mask"], label)]


def concat_arrays(parts: Sequence[Arrays]) -> Arrays:
    """Concatenate tables' arrays row-wise (fixed-size shapes must agree)."""
    out: Arrays = {}
    for name in parts[0]:
        values = [p[name] for p in parts]
        if isinstance(values[0], list):
            out[name] = [row for v in values for row in v]
        else:
            shapes = {v.shape[1:] for v in values}
            if len(shapes) > 1:
                raise ValueError(f"cannot concatenate column {name!r}: per-row shapes differ between inputs: {shapes}")
            out[name] = np.concatenate(values)
    return out


def take_rows(arrays: Arrays, index: np.ndarray) -> Arrays:
    """Select rows ``index`` of every column."""
    return {name: [v[i] for i in index] if isinstance(v, list) else v[index] for name, v in arrays.items()}
