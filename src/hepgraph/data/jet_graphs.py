"""Jets as fixed-size particle graphs: relative constituent features and jet-level features.

Node features, in order, are ``NODE_FEATURES``: eta_rel = eta - eta_jet, phi_rel = phi - phi_jet wrapped into
[-pi, pi), pt_rel = pT / pT_jet, with pseudorapidity eta. Momenta in GeV.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from hepgraph.data.kinematics import pt_eta_phi_m, wrap_phi

NODE_FEATURES = ("eta_rel", "phi_rel", "pt_rel")


def constituent_features(p4: np.ndarray, jet_p4: np.ndarray, n_nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Features of the ``n_nodes`` highest-pT constituents of each jet.

    p4: [N, M, 4] constituent (E, px, py, pz), zero rows (E = 0) are padding, any order;
    jet_p4: [N, 4] jet (E, px, py, pz) with pT > 0.
    Returns nodes float32 [N, n_nodes, 3] = (eta_rel, phi_rel, pt_rel), pT-descending, zero where masked,
    and mask bool [N, n_nodes] (True for a real constituent); jets with fewer constituents are zero-padded.
    """
    p4 = np.asarray(p4, dtype=np.float64)
    jet_pt, jet_eta, jet_phi, _ = pt_eta_phi_m(jet_p4)
    if np.any(jet_pt <= 0):
        raise ValueError(f"jet_p4 rows {np.flatnonzero(jet_pt <= 0)[:10].tolist()} have pT = 0: "
                         "relative features need jets with pT > 0")
    pt, eta, phi, _ = pt_eta_phi_m(p4)
    valid = p4[..., 0] > 0
    order = np.argsort(np.where(valid, -pt, np.inf), axis=1, kind="stable")[:, :n_nodes]
    mask = np.take_along_axis(valid, order, axis=1)
    nodes = np.stack([
        np.take_along_axis(eta, order, axis=1) - jet_eta[:, None],
        wrap_phi(np.take_along_axis(phi, order, axis=1) - jet_phi[:, None]),
        np.take_along_axis(pt, order, axis=1) / jet_pt[:, None],
    ], axis=-1) * mask[..., None]
    pad = n_nodes - nodes.shape[1]
    nodes = np.pad(nodes, ((0, 0), (0, pad), (0, 0)))
    mask = np.pad(mask, ((0, 0), (0, pad)))
    return nodes.astype(np.float32), mask


def jet_features(jet_p4: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Jet pT (GeV), pseudorapidity and mass (GeV), each float64 [N], of ``jet_p4`` [N, 4] = (E, px, py, pz)."""
    pt, eta, _, mass = pt_eta_phi_m(jet_p4)
    return pt, eta, mass


@dataclass(frozen=True)
class JetGraphs:
    """Jets as graphs, one row of the "jets" table per jet."""

    nodes: np.ndarray
    """float32 [N, n, 3] node features ``NODE_FEATURES``, zero where masked."""
    mask: np.ndarray
    """bool [N, n] True for a real constituent."""
    label: np.ndarray
    """int64 [N] class label."""
    jet_pt: np.ndarray
    """float32 [N] GeV."""
    jet_eta: np.ndarray
    """float32 [N]."""
    jet_mass: np.ndarray
    """float32 [N] GeV."""
    n_constituents: np.ndarray
    """int32 [N] constituent multiplicity of the jet (before truncation to n)."""

    def columns(self) -> dict[str, np.ndarray]:
        """The columns of a "jets" table."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def jet_graphs_from_p4(p4: np.ndarray, label: np.ndarray | int, n_nodes: int,
                       jet_p4: np.ndarray | None = None, n_constituents: np.ndarray | None = None) -> JetGraphs:
    """Graphs of jets given by their constituents ``p4`` [N, M, 4] (E, px, py, pz; zero rows are padding).

    The jet four-momentum defaults to the sum of the constituents and the multiplicity to the number of
    non-padding constituents; pass ``jet_p4`` [N, 4] and ``n_constituents`` [N] when the constituents were
    truncated.
    """
    p4 = np.asarray(p4, dtype=np.float64)
    jet_p4 = p4.sum(axis=1) if jet_p4 is None else np.asarray(jet_p4, dtype=np.float64)
    n_constituents = (p4[..., 0] > 0).sum(axis=1) if n_constituents is None else n_constituents
    nodes, mask = constituent_features(p4, jet_p4, n_nodes)
    pt, eta, mass = jet_features(jet_p4)
    return JetGraphs(nodes=nodes, mask=mask, label=np.broadcast_to(np.asarray(label, np.int64), len(p4)).copy(),
                     jet_pt=pt.astype(np.float32), jet_eta=eta.astype(np.float32),
                     jet_mass=mass.astype(np.float32), n_constituents=np.asarray(n_constituents, np.int32))
