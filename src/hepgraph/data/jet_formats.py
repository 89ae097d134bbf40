"""Readers and writers of three public jet-dataset layouts, and their conversion to ``JetGraphs``.

* JetNet (Zenodo 6975118, e.g. ``g.hdf5``, one class per file): hdf5 datasets ``particle_features`` float32
  [N, 30, 4] = (eta_rel, phi_rel, pt_rel, mask) and ``jet_features`` float32 [N, 4] = (pt, eta, mass,
  num_particles), as read by ``jetnet.datasets.JetNet``.
* Top-tagging reference dataset (Zenodo 2603256, ``train.h5``/``val.h5``/``test.h5``): a pandas HDF5 store,
  key ``table``, in PyTables "table" format, one row per jet with the columns E_0, PX_0, PY_0, PZ_0, E_1, ...,
  PZ_199 (float32, constituents pT-descending, zero-padded), truthE, truthPX, truthPY, truthPZ (float32, the
  top quark for signal, 0 for QCD), ttv (int64) and is_signal_new (int64, 1 = top, 0 = QCD).
* Pythia quark/gluon jets (Zenodo 3164691, ``QG_jets*.npz``, as read by ``energyflow.qg_jets``): ``X`` float64
  [N, M, 4] = (pt, rapidity, phi, pdgid), zero-padded to the largest multiplicity M of the file, with phi
  within pi of the jet's phi, and ``y`` float64 [N] (1 = quark, 0 = gluon).

Writers are atomic; readers read a slice of jets (``start``/``stop``) or ``iter_jet_graphs`` streams a file
in chunks. A file whose layout does not match raises ValueError naming the file and the missing key or columns;
a truncated or damaged file raises ``hepgraph.io.UnreadableFileError`` naming the file and the fix.
Momenta in GeV.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from hepgraph.data.jet_graphs import (NODE_FEATURES, PARTICLE_FEATURES, JetGraphs, constituent_features, jet_features,
                                      jet_graphs_from_p4)
from hepgraph.data.kinematics import pt_eta_phi_m, wrap_phi
from hepgraph.io import RAW_FIX, UnreadableFileError, atomic_output

if TYPE_CHECKING:
    from hepgraph.data.pythia import JetSample

FORMATS = ("jetnet", "toptag", "qg")
JETNET_PARTICLES = 30
TOPTAG_PARTICLES = 200
TOPTAG_MOMENTUM_COLUMNS = [f"{c}_{i}" for i in range(TOPTAG_PARTICLES) for c in ("E", "PX", "PY", "PZ")]
TOPTAG_COLUMNS = [*TOPTAG_MOMENTUM_COLUMNS, "truthE", "truthPX", "truthPY", "truthPZ", "ttv", "is_signal_new"]
PID_MASS = {22: 0.0, 11: 0.000511, 13: 0.10566, 211: 0.13957, 321: 0.49368, 130: 0.49761, 2212: 0.93827,
            2112: 0.93957}
"""GeV, Pythia 8's masses of the stable visible particles (|pdgid|) found in the quark/gluon files."""
PID_CHARGE = {22: 0, 11: -1, 13: -1, 211: 1, 321: 1, 130: 0, 2212: 1, 2112: 0}
"""Charge (e) of the particle with positive PDG id |pdgid| (the antiparticle has the opposite)."""


def node_features(fmt: str) -> tuple[str, ...]:
    """Names of the node features of the graphs of a ``fmt`` file: ``PARTICLE_FEATURES`` for the quark/gluon
    files (they carry PDG ids), ``NODE_FEATURES`` for the others."""
    _check_format(fmt)
    return PARTICLE_FEATURES if fmt == "qg" else NODE_FEATURES


@dataclass(frozen=True)
class JetNetJets:
    """Contents of a JetNet hdf5 file."""

    particle_features: np.ndarray
    """float32 [N, P, 4] (eta_rel, phi_rel, pt_rel, mask), pT-descending, zero-padded."""
    jet_features: np.ndarray
    """float32 [N, 4] (pt GeV, eta, mass GeV, num_particles)."""


@dataclass(frozen=True)
class TopTagJets:
    """Contents of a top-tagging reference-dataset file."""

    p4: np.ndarray
    """float32 [N, 200, 4] constituent (E, px, py, pz), pT-descending, zero-padded."""
    truth_p4: np.ndarray
    """float32 [N, 4] truth top (E, px, py, pz), 0 for QCD jets."""
    ttv: np.ndarray
    """int64 [N] split flag kept from the original production."""
    is_signal_new: np.ndarray
    """int64 [N] 1 for top jets, 0 for QCD jets."""


@dataclass(frozen=True)
class QGJets:
    """Contents of a Pythia quark/gluon npz file."""

    X: np.ndarray
    """float64 [N, M, 4] (pt GeV, rapidity, phi, pdgid), zero-padded."""
    y: np.ndarray
    """float64 [N] 1 for quark jets, 0 for gluon jets."""


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ValueError(f"jet file format {fmt!r} is not one of {FORMATS}")


def _require_file(path: str | os.PathLike) -> None:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"jet file {os.fspath(path)!r} does not exist: check the path or rerun the "
                                "step that writes it")


def _damaged(path: str | os.PathLike, err: BaseException) -> UnreadableFileError:
    """The error for a raw file that h5py, PyTables or zipfile cannot read; HDF5 back traces shrink to their cause."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    end = "End of HDF5 error back trace"
    cause = lines[lines.index(end) - 1] if end in lines[1:] else " ".join(lines)
    return UnreadableFileError(path, f"cannot be read ({type(err).__name__}: {cause})", RAW_FIX)


# ----------------------------------------------------------------------------------------------- JetNet
def write_jetnet(path: str | os.PathLike, jets: JetNetJets) -> None:
    """Write ``jets`` as a JetNet hdf5 file, atomically."""
    import h5py

    with atomic_output(path) as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset("particle_features", data=np.asarray(jets.particle_features, np.float32))
        f.create_dataset("jet_features", data=np.asarray(jets.jet_features, np.float32))


def read_jetnet(path: str | os.PathLike, start: int = 0, stop: int | None = None) -> JetNetJets:
    """Jets ``start:stop`` of a JetNet hdf5 file."""
    import h5py

    _require_file(path)
    try:
        with h5py.File(path, "r") as f:
            for key, ndim in (("particle_features", 3), ("jet_features", 2)):
                if key not in f:
                    raise ValueError(f"{os.fspath(path)!r} has no dataset {key!r} (found {sorted(f)}): "
                                     "not a JetNet file")
                if f[key].ndim != ndim or f[key].shape[-1] != 4:
                    raise ValueError(f"{os.fspath(path)!r}: dataset {key!r} has shape {f[key].shape}, JetNet's "
                                     f"is {'[N, P, 4]' if ndim == 3 else '[N, 4]'}")
            return JetNetJets(particle_features=f["particle_features"][start:stop],
                              jet_features=f["jet_features"][start:stop])
    except OSError as err:
        raise _damaged(path, err) from err


def jetnet_from_sample(sample: JetSample, n_particles: int = JETNET_PARTICLES) -> JetNetJets:
    """JetNet arrays of simulated jets: relative features of the ``n_particles`` leading constituents."""
    nodes, mask = constituent_features(sample.p4, sample.jet_p4, n_particles)
    pt, eta, mass = jet_features(sample.jet_p4)
    return JetNetJets(
        particle_features=np.concatenate([nodes, mask[..., None].astype(np.float32)], axis=-1),
        jet_features=np.stack([pt, eta, mass, sample.n_constituents], axis=-1).astype(np.float32))


def jetnet_to_graphs(jets: JetNetJets, label: int, n_nodes: int) -> JetGraphs:
    """Graphs of JetNet jets, features kept as stored, truncated or zero-padded to ``n_nodes``."""
    pf = np.asarray(jets.particle_features)[:, :n_nodes]
    pad = ((0, 0), (0, n_nodes - pf.shape[1]))
    mask = np.pad(pf[..., 3] > 0, pad)
    nodes = np.pad(pf[..., :3], (*pad, (0, 0))) * mask[..., None]
    jf = np.asarray(jets.jet_features)
    return JetGraphs(nodes=nodes.astype(np.float32), mask=mask, label=np.full(len(pf), label, np.int64),
                     jet_pt=jf[:, 0].astype(np.float32), jet_eta=jf[:, 1].astype(np.float32),
                     jet_mass=jf[:, 2].astype(np.float32), n_constituents=jf[:, 3].astype(np.int32))


# ---------------------------------------------------------------------------------------------- top tagging
def write_toptag(path: str | os.PathLike, jets: TopTagJets) -> None:
    """Write ``jets`` as a top-tagging reference-dataset file (pandas HDF5, key "table"), atomically."""
    import pandas as pd

    p4 = np.asarray(jets.p4, np.float32)
    if p4.shape[1:] != (TOPTAG_PARTICLES, 4):
        raise ValueError(f"top-tagging p4 must be [N, {TOPTAG_PARTICLES}, 4], got {p4.shape}")
    values = np.concatenate([p4.reshape(len(p4), -1), np.asarray(jets.truth_p4, np.float32)], axis=1)
    df = pd.DataFrame(values, columns=TOPTAG_COLUMNS[:-2])
    df["ttv"] = np.asarray(jets.ttv, np.int64)
    df["is_signal_new"] = np.asarray(jets.is_signal_new, np.int64)
    with atomic_output(path) as tmp:
        df.to_hdf(tmp, key="table", mode="w", format="table")


def read_toptag(path: str | os.PathLike, start: int = 0, stop: int | None = None) -> TopTagJets:
    """Jets ``start:stop`` of a top-tagging reference-dataset file."""
    import pandas as pd
    from tables.exceptions import HDF5ExtError

    _require_file(path)
    try:
        with pd.HDFStore(path, mode="r") as store:
            if "/table" not in store.keys():
                raise ValueError(f"{os.fspath(path)!r} has no key 'table' (found {store.keys()}): not a "
                                 "top-tagging reference-dataset file")
            df = store.select("table", start=start, stop=stop)
    except (OSError, HDF5ExtError) as err:
        raise _damaged(path, err) from err
    missing = [c for c in TOPTAG_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{os.fspath(path)!r}: table lacks the top-tagging columns {missing[:8]}"
                         f"{' ...' if len(missing) > 8 else ''} ({len(missing)} missing)")
    return TopTagJets(
        p4=df[TOPTAG_MOMENTUM_COLUMNS].to_numpy(np.float32).reshape(len(df), TOPTAG_PARTICLES, 4),
        truth_p4=df[["truthE", "truthPX", "truthPY", "truthPZ"]].to_numpy(np.float32),
        ttv=df["ttv"].to_numpy(np.int64), is_signal_new=df["is_signal_new"].to_numpy(np.int64))


def toptag_from_sample(sample: JetSample, is_signal: bool, ttv: int = 0) -> TopTagJets:
    """Top-tagging arrays of simulated jets: the 200 leading constituents and the matched top (0 for QCD)."""
    n, m = sample.p4.shape[:2]
    p4 = np.zeros((n, TOPTAG_PARTICLES, 4), np.float32)
    k = min(m, TOPTAG_PARTICLES)
    p4[:, :k] = sample.p4[:, :k]
    truth = sample.parton_p4 if is_signal else np.zeros_like(sample.parton_p4)
    return TopTagJets(p4=p4, truth_p4=truth.astype(np.float32), ttv=np.full(n, ttv, np.int64),
                      is_signal_new=np.full(n, int(is_signal), np.int64))


def toptag_to_graphs(jets: TopTagJets, n_nodes: int) -> JetGraphs:
    """Graphs of top-tagging jets; the jet is the sum of its stored constituents, the label is_signal_new."""
    return jet_graphs_from_p4(jets.p4, jets.is_signal_new, n_nodes)


# ---------------------------------------------------------------------------------------------- quark/gluon
def write_qg(path: str | os.PathLike, jets: QGJets) -> None:
    """Write ``jets`` as a quark/gluon npz file (uncompressed, like the originals), atomically."""
    with atomic_output(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, X=np.asarray(jets.X, np.float64), y=np.asarray(jets.y, np.float64))


def read_qg(path: str | os.PathLike) -> QGJets:
    """All jets of a quark/gluon npz file."""
    _require_file(path)
    try:
        with np.load(path) as f:
            for key in ("X", "y"):
                if key not in f:
                    raise ValueError(f"{os.fspath(path)!r} has no array {key!r} (found {sorted(f.files)}): not a "
                                     "quark/gluon jets file")
            X, y = f["X"], f["y"]
    except (OSError, EOFError, zipfile.BadZipFile) as err:
        raise _damaged(path, err) from err
    if X.ndim != 3 or X.shape[-1] != 4 or y.shape != X.shape[:1]:
        raise ValueError(f"{os.fspath(path)!r}: X has shape {X.shape} and y {y.shape}, expected [N, M, 4] and [N]")
    return QGJets(X=X, y=y)


def qg_from_sample(sample: JetSample, is_quark: bool) -> QGJets:
    """Quark/gluon arrays of simulated jets: (pt, rapidity, phi within pi of the jet's phi in [0, 2pi), pdgid)."""
    p4 = sample.p4
    e, pz = p4[..., 0], p4[..., 3]
    pt, _, phi, _ = pt_eta_phi_m(p4)
    valid = e > 0
    rap = 0.5 * np.log(np.divide(e + pz, e - pz, out=np.ones_like(e), where=valid))
    jet_phi = pt_eta_phi_m(sample.jet_p4)[2] % (2 * np.pi)
    phi = jet_phi[:, None] + wrap_phi(phi - jet_phi[:, None])
    X = np.stack([pt, rap, phi, sample.pdgid], axis=-1) * valid[..., None]
    m = max(1, int(valid.sum(axis=1).max()))
    return QGJets(X=X[:, :m], y=np.full(len(p4), float(is_quark)))


def _pid_lookup(X: np.ndarray, table: dict[int, float]) -> np.ndarray:
    """``table`` [|pdgid|] of every real particle of quark/gluon ``X`` [N, M, 4] (0 for padding)."""
    pid = np.abs(X[..., 3]).astype(np.int64)
    valid = X[..., 0] > 0
    unknown = sorted(set(np.unique(pid[valid]).tolist()) - set(table))
    if unknown:
        raise ValueError(f"pdgids {unknown} are not among the stable visible particles of the Pythia quark/gluon "
                         f"files {sorted(table)}")
    lookup = np.zeros(max(table) + 1)
    lookup[list(table)] = list(table.values())
    return lookup[np.where(valid, pid, 0)]


def qg_p4(X: np.ndarray) -> np.ndarray:
    """(E, px, py, pz) [N, M, 4] from quark/gluon (pt, rapidity, phi, pdgid) [N, M, 4], masses from |pdgid|."""
    pt, rap, phi = X[..., 0], X[..., 1], X[..., 2]
    mt = np.hypot(pt, _pid_lookup(X, PID_MASS))
    p4 = np.stack([mt * np.cosh(rap), pt * np.cos(phi), pt * np.sin(phi), mt * np.sinh(rap)], axis=-1)
    return p4 * (X[..., 0] > 0)[..., None]


def qg_charge(X: np.ndarray) -> np.ndarray:
    """Charge (e) [N, M] of the particles of quark/gluon ``X`` [N, M, 4] from their signed pdgid (0 for padding)."""
    return _pid_lookup(X, PID_CHARGE) * np.sign(X[..., 3])


def qg_to_graphs(jets: QGJets, n_nodes: int) -> JetGraphs:
    """Graphs of quark/gluon jets with ``PARTICLE_FEATURES``; the jet is the sum of its constituents, the label
    y (1 = quark, as ``hepgraph.data.labels``)."""
    X = np.asarray(jets.X)
    return jet_graphs_from_p4(qg_p4(X), np.asarray(jets.y).astype(np.int64), n_nodes,
                              pid=(X[..., 3].astype(np.int64), qg_charge(X)))


# ------------------------------------------------------------------------------------------------- common
def iter_jet_graphs(path: str | os.PathLike, fmt: str, n_nodes: int, *, label: int | None = None,
                    chunk_size: int = 100_000) -> Iterator[JetGraphs]:
    """Stream the jets of a ``fmt`` file as ``JetGraphs`` of at most ``chunk_size`` jets.

    JetNet files hold one class each: ``label`` is required for them and refused for the other formats,
    whose labels are stored in the file (is_signal_new, y).
    """
    _check_format(fmt)
    if (label is None) == (fmt == "jetnet"):
        raise ValueError("a JetNet file holds one class: pass its label" if fmt == "jetnet" else
                         f"{fmt} files store their labels (is_signal_new or y): do not pass a label")
    if fmt == "qg":
        jets = read_qg(path)
        for start in range(0, len(jets.y), chunk_size):
            chunk = QGJets(X=jets.X[start:start + chunk_size], y=jets.y[start:start + chunk_size])
            try:
                yield qg_to_graphs(chunk, n_nodes)
            except ValueError as err:
                raise ValueError(f"{os.fspath(path)!r}: {err}") from err
        return
    start = 0
    while True:
        if fmt == "jetnet":
            jets = read_jetnet(path, start, start + chunk_size)
            if len(jets.jet_features) == 0:
                return
            yield jetnet_to_graphs(jets, label, n_nodes)
        else:
            jets = read_toptag(path, start, start + chunk_size)
            if len(jets.ttv) == 0:
                return
            yield toptag_to_graphs(jets, n_nodes)
        start += chunk_size
