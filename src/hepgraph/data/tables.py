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
calo_images        X_jets float32 [N, 3, 125, 125] (track pT, ECAL, HCAL), pt, m0 float32 [N] (GeV), y int64 [N];
                   optional, together: nodes float32 [N, n, F] (names in meta ``node_features``), mask bool [N, n]
tracking_events    event_id int64 [E]; per event, lists over hits: hit_id int64, x, y, z float32 (mm),
                   volume_id, layer_id, module_id int32, particle_id int64 (0 = noise),
                   particle_pt float32 (GeV, 0 for noise), particle_eta float32; optional (prepare_tracking writes them):
                   hit_order int32 (the hit's rank along its particle, from 0; -1 for noise), particle_q int32
                   (e), particle_vx, particle_vy, particle_vz float32 (production vertex, mm; 0 for noise)
=================  =====================================================================================

Labels of quark/gluon tables (``y`` of calo_images, ``label`` of the ``qg`` jets table) are 1 = quark and
0 = gluon, whatever the raw files used (``hepgraph.data.labels``; the raw E2E files' convention is a config key).

Particle constituents with identity (calo_images ``nodes`` of simulated jets, the ``qg`` jets table's ``nodes``)
hold ``hepgraph.data.jet_graphs.PARTICLE_FEATURES``, ParticleNet's quark/gluon inputs (Qu & Gouskos 2020,
Table 2), pT-descending, zero where masked: delta_eta, delta_phi (to the jet axis, phi wrapped), log_pt, log_e
(GeV), log_pt_rel, log_e_rel (to the jet's pT and E), delta_r, charge (e), then the one-hot PID flags
is_charged_hadron, is_neutral_hadron, is_photon, is_electron, is_muon. Real E2E files have no constituents:
their calo_images tables have no ``nodes``/``mask`` columns. Other jets tables (JetNet, top tagging) hold
``jet_graphs.NODE_FEATURES`` (eta_rel, phi_rel, pt_rel). Meta ``node_features`` always names the features.

Every file carries, under the schema metadata key ``hepgraph``, a JSON object with the table ``kind``,
``schema_version``, the ``hepgraph_version`` that wrote it and the caller's provenance ``meta``.

Tables are written in row groups of ~32 MiB from batches of rows (:class:`TableWriter`, :func:`write_table`) and
can be read a row group at a time (:func:`iter_batches`), so no stage needs a whole table in memory. Pages carry
CRC checksums, verified when read: a damaged file raises ``hepgraph.io.UnreadableFileError`` naming the file, the
row group and the fix, instead of decoding to wrong numbers.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from hepgraph import __version__
from hepgraph.io import TABLE_FIX, UnreadableFileError, atomic_output

if TYPE_CHECKING:
    import torch
    import torch_geometric

SCHEMA_VERSION = 1
META_KEY = b"hepgraph"
ROW_GROUP_BYTES = 32 * 2**20  # row groups of ~32 MiB stream well and compress well
BATCH_BYTES = 4 * 2**20  # batches read by iter_batches: small numpy copies keep the allocator from fragmenting


@dataclass(frozen=True)
class Column:
    """A column: element dtype and either the number of trailing fixed dimensions or ``ragged`` (one list per row);
    an ``optional`` column may be absent from a table (then from every batch of it)."""

    dtype: str
    ndim: int = 0
    ragged: bool = False
    optional: bool = False


_HITS = {name: Column(dtype, ragged=True) for name, dtype in [
    ("hit_id", "int64"), ("x", "float32"), ("y", "float32"), ("z", "float32"),
    ("volume_id", "int32"), ("layer_id", "int32"), ("module_id", "int32"),
    ("particle_id", "int64"), ("particle_pt", "float32"), ("particle_eta", "float32")]}
_HITS.update({name: Column(dtype, ragged=True, optional=True) for name, dtype in [
    ("hit_order", "int32"), ("particle_q", "int32"), ("particle_vx", "float32"), ("particle_vy", "float32"),
    ("particle_vz", "float32")]})

SCHEMAS: dict[str, dict[str, Column]] = {
    "jets": {"nodes": Column("float32", 2), "mask": Column("bool", 1), "label": Column("int64"),
             "jet_pt": Column("float32"), "jet_eta": Column("float32"), "jet_mass": Column("float32"),
             "n_constituents": Column("int32")},
    "image_graphs": {"nodes": Column("float32", 2), "mask": Column("bool", 1), "label": Column("int64")},
    "calo_images": {"X_jets": Column("float32", 3), "pt": Column("float32"), "m0": Column("float32"),
                    "y": Column("int64"), "nodes": Column("float32", 2, optional=True),
                    "mask": Column("bool", 1, optional=True)},
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


def _row_shape(arrow_type: pa.DataType) -> tuple[int, ...]:
    shape = []
    while pa.types.is_fixed_size_list(arrow_type):
        shape.append(arrow_type.list_size)
        arrow_type = arrow_type.value_type
    return tuple(shape)


def _batch_table(path: Path, kind: str, columns: Mapping[str, Any]) -> pa.Table:
    """One batch of rows as an Arrow table, after checking its columns against the schema of ``kind``."""
    schema = _schema(kind)
    missing = {name for name, col in schema.items() if not col.optional} - set(columns)
    extra = set(columns) - set(schema)
    if missing or extra:
        raise ValueError(f"{kind} table {path}: missing columns {sorted(missing)}, unexpected columns {sorted(extra)}")
    if ("nodes" in columns) != ("mask" in columns):
        raise ValueError(f"{kind} table {path}: columns 'nodes' and 'mask' go together; got only "
                         f"{'nodes' if 'nodes' in columns else 'mask'}")
    lengths = {name: len(values) for name, values in columns.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"{kind} table {path}: columns differ in number of rows: {lengths}")
    if "mask" in columns and np.shape(columns["mask"])[1:] != np.shape(columns["nodes"])[1:2]:
        raise ValueError(f"{kind} table {path}: mask shape {np.shape(columns['mask'])} does not match "
                         f"nodes shape {np.shape(columns['nodes'])}")
    return pa.table({name: _to_arrow(name, col, columns[name]) for name, col in schema.items() if name in columns})


class TableWriter:
    """Write a table of ``kind`` batch by batch, in row groups of ~``ROW_GROUP_BYTES``, all or nothing.

        with TableWriter(path, "jets", meta) as out:
            for batch in batches:
                out.write(batch)

    Rows go to a hidden temporary file beside ``path`` as row groups fill, so memory holds about one row group;
    the file is renamed onto ``path`` only when the block ends without an error (see ``hepgraph.io.atomic_output``).
    Every batch is checked against the schema and must have the per-row shapes of the first.
    """

    def __init__(self, path: str | Path, kind: str, meta: Mapping[str, Any]) -> None:
        _schema(kind)
        self.path, self.kind, self.rows = Path(path), kind, 0
        header = {"kind": kind, "schema_version": SCHEMA_VERSION, "hepgraph_version": __version__, "meta": dict(meta)}
        self._metadata = {META_KEY: json.dumps(header).encode()}
        self._writer: pq.ParquetWriter | None = None
        self._pending: list[pa.Table] = []
        self._pending_bytes = 0
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> Self:
        self._tmp = self._stack.enter_context(atomic_output(self.path))
        self._stack.callback(self._close)
        return self

    def __exit__(self, *exc: Any) -> bool:
        if exc[0] is None:
            try:
                if self._writer is None:
                    raise ValueError(f"{self.kind} table {self.path}: no batch was written; a table needs at least "
                                     "one batch of columns (it may have zero rows)")
                self._flush(final=True)
            except BaseException as err:
                self._stack.__exit__(type(err), err, err.__traceback__)
                raise
        return self._stack.__exit__(*exc)

    def write(self, columns: Mapping[str, Any]) -> None:
        """Append one batch: a mapping of every column of the kind to its values for the batch's rows."""
        table = _batch_table(self.path, self.kind, columns)
        if self._writer is None:
            self._writer = pq.ParquetWriter(self._tmp, table.schema.with_metadata(self._metadata), compression="zstd",
                                            write_page_checksum=True)
        elif not table.schema.equals(self._writer.schema, check_metadata=False):
            if table.schema.names != self._writer.schema.names:
                raise ValueError(f"{self.kind} table {self.path}: this batch has columns {table.schema.names}, "
                                 f"earlier ones {self._writer.schema.names}; all batches need the same columns")
            name = next(f.name for f in table.schema if f.type != self._writer.schema.field(f.name).type)
            raise ValueError(f"{self.kind} table {self.path}: column {name!r} has per-row shape "
                             f"{list(_row_shape(table.schema.field(name).type))} in this batch but "
                             f"{list(_row_shape(self._writer.schema.field(name).type))} in earlier ones; "
                             "all rows of a table need the same shape")
        self._pending.append(table)
        self._pending_bytes += table.nbytes
        self.rows += len(table)
        if self._pending_bytes >= ROW_GROUP_BYTES:
            self._flush(final=False)

    def _close(self) -> None:
        if self._writer is not None:
            self._writer.close()

    def _flush(self, final: bool) -> None:
        """Write the pending rows as full row groups (with ``final``, all of them) and keep the rest pending."""
        pending = pa.concat_tables(self._pending)
        group = max(1, int(ROW_GROUP_BYTES * len(pending) / max(self._pending_bytes, 1)))
        done = len(pending) if final else len(pending) // group * group
        if done:
            self._writer.write_table(pending.slice(0, done), row_group_size=group)
        self._pending = [pending.slice(done)]
        self._pending_bytes = self._pending[0].nbytes


def write_table(path: str | Path, kind: str, columns: Mapping[str, Any] | Iterable[Mapping[str, Any]],
                meta: Mapping[str, Any]) -> int:
    """Write a zstd parquet table of ``kind`` atomically and return its number of rows.

    ``columns`` is one batch (a mapping of every column to its values) or an iterable of batches, which are
    written as they come (see :class:`TableWriter`), so a generator of batches is never held whole.
    """
    with TableWriter(path, kind, meta) as out:
        for batch in [columns] if isinstance(columns, Mapping) else columns:
            out.write(batch)
    return out.rows


def read_header(path: str | Path) -> dict[str, Any]:
    """The ``hepgraph`` header of a table file: kind, schema_version, hepgraph_version and meta."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"table {path} does not exist: run the workflow step that writes it "
                                f"(snakemake --cores N {path})")
    try:
        metadata = pq.read_schema(path).metadata or {}
    except (OSError, pa.ArrowException) as err:
        raise UnreadableFileError(path, f"not a readable parquet file ({type(err).__name__}: {err})",
                                  TABLE_FIX) from err
    if META_KEY not in metadata:
        raise ValueError(f"{path} is not a hepgraph table (no '{META_KEY.decode()}' schema metadata); "
                         "write it with hepgraph.data.tables.write_table")
    return json.loads(metadata[META_KEY])


def read_meta(path: str | Path) -> dict[str, Any]:
    """The provenance ``meta`` a table was written with."""
    return read_header(path)["meta"]


def node_feature_names(path: str | Path) -> list[str] | None:
    """The names of a table's node features: its meta ``node_features``, or, for a split table, that of the shards
    it was made from (which must agree); None if the table does not name them."""
    meta = read_meta(path)
    if "node_features" in meta:
        return list(meta["node_features"])
    names = {json.dumps(source.get("meta", {}).get("node_features")) for source in meta.get("sources", [])}
    if len(names) > 1:
        raise ValueError(f"{path} was split from shards with different node features {sorted(names)}; "
                         "preprocess them alike")
    return json.loads(names.pop()) if names else None


def _type(schema: pa.Schema, name: str) -> pa.DataType | None:
    return schema.field(name).type if name in schema.names else None


def _mismatched_column(kind: str, schema: pa.Schema, names: Sequence[str]) -> str | None:
    """The first of ``names`` that ``schema`` lacks or holds with another type than the ``kind`` schema's, if any."""
    for name in names:
        col, found = _schema(kind)[name], _type(schema, name)
        dtype = pa.from_numpy_dtype(np.dtype(col.dtype))
        leaf = found
        while leaf is not None and pa.types.is_fixed_size_list(leaf):
            leaf = leaf.value_type
        ok = found == pa.large_list(dtype) if col.ragged else (
            found is not None and len(_row_shape(found)) == col.ndim and leaf == dtype)
        if not ok:
            return name
    return None


def _open_table(path: str | Path, kind: str, columns: Sequence[str] | None) -> tuple[pq.ParquetFile, list[str]]:
    """The open file of a table, after checking that it is of ``kind`` with this schema version, and the columns
    to read (``columns`` or all), after checking that they exist with the schema's types."""
    schema = _schema(kind)
    header = read_header(path)
    if header["kind"] != kind or header["schema_version"] != SCHEMA_VERSION:
        raise ValueError(f"{path} is a {header['kind']!r} table of schema version {header['schema_version']}, "
                         f"expected {kind!r} version {SCHEMA_VERSION}; rerun the preprocessing step that writes it")
    unknown = set(columns or ()) - set(schema)
    if unknown:
        raise ValueError(f"{kind} tables have no columns {sorted(unknown)}; columns: {', '.join(schema)}")
    try:
        file = pq.ParquetFile(path, page_checksum_verification=True)
    except (OSError, pa.ArrowException) as err:
        raise UnreadableFileError(path, f"not a readable parquet file ({type(err).__name__}: {err})",
                                  TABLE_FIX) from err
    names = file.schema_arrow.names
    wanted = list(columns or (name for name, col in schema.items() if not col.optional or name in names))
    absent = [name for name in wanted if schema[name].optional and name not in names]
    if absent:
        file.close()
        raise ValueError(f"{path} has no column(s) {absent}: optional in {kind} tables, and this table "
                         "was written without them")
    bad = _mismatched_column(kind, file.schema_arrow, wanted)
    if bad:
        file.close()
        raise ValueError(f"{path}: column {bad!r} has type {_type(file.schema_arrow, bad)}, which does not match "
                         f"the {kind} schema; rerun the preprocessing step that writes it")
    return file, wanted


def _read_row_group(file: pq.ParquetFile, path: str | Path, index: int, columns: list[str]) -> pa.Table:
    try:
        return file.read_row_group(index, columns=columns)
    except (OSError, pa.ArrowException) as err:
        raise UnreadableFileError(path, f"row group {index} of {file.num_row_groups} cannot be read "
                                  f"({type(err).__name__}: {err})", TABLE_FIX) from err


def read_table(path: str | Path, kind: str, columns: Sequence[str] | None = None) -> pa.Table:
    """Read a table after checking that it is of ``kind`` with this schema version and the expected columns."""
    file, wanted = _open_table(path, kind, columns)
    with file:
        parts = [_read_row_group(file, path, index, wanted) for index in range(file.num_row_groups)]
        return pa.concat_tables(parts) if parts else file.schema_arrow.empty_table().select(wanted)


def table_rows(path: str | Path, kind: str) -> int:
    """The number of rows of a table of ``kind`` (from its footer, reading no data)."""
    file, _ = _open_table(path, kind, None)
    with file:
        return file.metadata.num_rows


def iter_batches(path: str | Path, kind: str, columns: Sequence[str] | None = None,
                 batch_rows: int | None = None) -> Iterator[Arrays]:
    """Stream a table as numpy batches (as :func:`read_arrays` gives them) of ``batch_rows`` rows or, by default,
    ~``BATCH_BYTES``, in row order; memory holds one row group and one batch. The kind and columns are checked
    before the first batch.
    """
    if batch_rows is not None and batch_rows < 1:
        raise ValueError(f"batch_rows must be at least 1, got {batch_rows}")
    file, wanted = _open_table(path, kind, columns)
    schema = _schema(kind)

    def batches() -> Iterator[Arrays]:
        with file:
            for index in range(file.num_row_groups):
                table = _read_row_group(file, path, index, wanted)
                step = batch_rows or max(1, int(BATCH_BYTES * len(table) / max(table.nbytes, 1)))
                parts = [table.slice(start, step) for start in range(0, len(table), step)][::-1]
                del table  # the row group's Arrow buffers go with its last part, before that part is yielded
                while parts:
                    part = parts.pop()
                    arrays = {name: _to_numpy(part.column(name), schema[name]) for name in wanted}
                    del part
                    yield arrays

    return batches()


def read_arrays(path: str | Path, kind: str, columns: Sequence[str] | None = None) -> Arrays:
    """Read a table into numpy: dense arrays for fixed-size columns, a list of 1-D arrays for ragged ones.

    Row groups are copied one at a time into arrays allocated once, so memory holds the result and one row group.
    """
    n_rows = table_rows(path, kind)
    if n_rows == 0:
        table = read_table(path, kind, columns)
        return {name: _to_numpy(table.column(name), _schema(kind)[name]) for name in table.column_names}
    out: Arrays = {}
    start = 0
    for batch in iter_batches(path, kind, columns):
        for name, values in batch.items():
            if isinstance(values, list):
                out.setdefault(name, []).extend(values)
            else:
                if name not in out:
                    out[name] = np.empty((n_rows, *values.shape[1:]), values.dtype)
                out[name][start:start + len(values)] = values
        start += len(values)
    return out


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

    if kind == "calo_images":
        raise ValueError(f"{kind} tables are images, not graphs: use read_dense (or read_arrays for their "
                         "optional constituents)")
    arrays = read_arrays(path, kind)
    if kind == "tracking_events":
        return [Data(pos=torch.from_numpy(np.stack([arrays[c][i] for c in "xyz"], axis=1)),
                     **{name: torch.from_numpy(arrays[name][i]) for name in _HITS if name not in ("x", "y", "z")},
                     event_id=int(arrays["event_id"][i]))
                for i in range(len(arrays["event_id"]))]
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
