"""Jets as fixed-size particle graphs: relative constituent features and jet-level features.

Node features, in order, are ``NODE_FEATURES``: eta_rel = eta - eta_jet, phi_rel = phi - phi_jet wrapped into
[-pi, pi), pt_rel = pT / pT_jet, with pseudorapidity eta. Momenta in GeV.

Constituents with particle identity (the quark/gluon tables) hold ``PARTICLE_FEATURES`` instead, ParticleNet's
quark/gluon inputs (Qu & Gouskos 2020, Table 2): delta_eta, delta_phi (as eta_rel, phi_rel), log_pt = ln pT,
log_e = ln E, log_pt_rel = ln(pT / pT_jet), log_e_rel = ln(E / E_jet), delta_r = hypot(delta_eta, delta_phi),
charge (e), and one-hot flags of ``PID_CLASSES``: charged hadron, neutral hadron, photon, electron (+-11),
muon (+-13); hadrons are the other particles, charged or neutral by their charge.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from hepgraph.data.kinematics import pt_eta_phi_m, wrap_phi

NODE_FEATURES = ("eta_rel", "phi_rel", "pt_rel")
PID_CLASSES = ("charged_hadron", "neutral_hadron", "photon", "electron", "muon")
PARTICLE_FEATURES = ("delta_eta", "delta_phi", "log_pt", "log_e", "log_pt_rel", "log_e_rel", "delta_r", "charge",
                     *(f"is_{name}" for name in PID_CLASSES))


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


def pid_flags(pdgid: np.ndarray, charge: np.ndarray) -> np.ndarray:
    """One-hot ``PID_CLASSES`` float32 [..., 5] of particles with PDG id ``pdgid`` and ``charge`` (e), [...];
    padding (pdgid 0) gets all zeros."""
    apid = np.abs(np.asarray(pdgid))
    lepton_or_photon = np.isin(apid, (11, 13, 22))
    hadron = (apid != 0) & ~lepton_or_photon
    charged = np.asarray(charge) != 0
    return np.stack([hadron & charged, hadron & ~charged, apid == 22, apid == 11, apid == 13],
                    axis=-1).astype(np.float32)


def particle_features(p4: np.ndarray, pdgid: np.ndarray, charge: np.ndarray, jet_p4: np.ndarray,
                      n_nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """``PARTICLE_FEATURES`` of the ``n_nodes`` highest-pT constituents of each jet.

    p4: [N, M, 4] constituent (E, px, py, pz), zero rows (E = 0) are padding, any order; pdgid, charge: [N, M];
    jet_p4: [N, 4] with pT > 0. Returns nodes float32 [N, n_nodes, 13], pT-descending, zero where masked, and
    mask bool [N, n_nodes]; jets with fewer constituents are zero-padded.
    """
    p4 = np.asarray(p4, dtype=np.float64)
    geometry, mask = constituent_features(p4, jet_p4, n_nodes)  # orders by pT, checks jet pT > 0
    pt = np.hypot(p4[..., 1], p4[..., 2])
    order = np.argsort(np.where(p4[..., 0] > 0, -pt, np.inf), axis=1, kind="stable")[:, :n_nodes]
    pad = ((0, 0), (0, n_nodes - order.shape[1]))

    def leading(values: np.ndarray) -> np.ndarray:
        return np.pad(np.take_along_axis(np.asarray(values, np.float64), order, axis=1), pad)

    pt, energy, q = leading(pt), leading(p4[..., 0]), leading(charge)
    jet_p4 = np.asarray(jet_p4, np.float64)
    jet_pt, jet_e = np.hypot(jet_p4[:, 1], jet_p4[:, 2]), jet_p4[:, 0]

    def safe_log(x: np.ndarray) -> np.ndarray:
        return np.log(np.where(mask, x, 1.0))

    delta_eta, delta_phi = geometry[..., 0].astype(np.float64), geometry[..., 1].astype(np.float64)
    kinematic = np.stack([delta_eta, delta_phi, safe_log(pt), safe_log(energy), safe_log(pt / jet_pt[:, None]),
                          safe_log(energy / jet_e[:, None]), np.hypot(delta_eta, delta_phi), q], axis=-1)
    nodes = np.concatenate([kinematic, pid_flags(leading(pdgid).astype(np.int64), q)], axis=-1) * mask[..., None]
    return nodes.astype(np.float32), mask


def jet_features(jet_p4: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Jet pT (GeV), pseudorapidity and mass (GeV), each float64 [N], of ``jet_p4`` [N, 4] = (E, px, py, pz)."""
    pt, eta, _, mass = pt_eta_phi_m(jet_p4)
    return pt, eta, mass


@dataclass(frozen=True)
class JetGraphs:
    """Jets as graphs, one row of the "jets" table per jet."""

    nodes: np.ndarray
    """float32 [N, n, F] node features, ``NODE_FEATURES`` or ``PARTICLE_FEATURES``, zero where masked."""
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
                       jet_p4: np.ndarray | None = None, n_constituents: np.ndarray | None = None,
                       pid: tuple[np.ndarray, np.ndarray] | None = None) -> JetGraphs:
    """Graphs of jets given by their constituents ``p4`` [N, M, 4] (E, px, py, pz; zero rows are padding).

    The jet four-momentum defaults to the sum of the constituents and the multiplicity to the number of
    non-padding constituents; pass ``jet_p4`` [N, 4] and ``n_constituents`` [N] when the constituents were
    truncated. Nodes hold ``NODE_FEATURES``, or ``PARTICLE_FEATURES`` given ``pid`` = (pdgid, charge) [N, M].
    """
    p4 = np.asarray(p4, dtype=np.float64)
    jet_p4 = p4.sum(axis=1) if jet_p4 is None else np.asarray(jet_p4, dtype=np.float64)
    n_constituents = (p4[..., 0] > 0).sum(axis=1) if n_constituents is None else n_constituents
    nodes, mask = (constituent_features(p4, jet_p4, n_nodes) if pid is None
                   else particle_features(p4, *pid, jet_p4, n_nodes))
    pt, eta, mass = jet_features(jet_p4)
    return JetGraphs(nodes=nodes, mask=mask, label=np.broadcast_to(np.asarray(label, np.int64), len(p4)).copy(),
                     jet_pt=pt.astype(np.float32), jet_eta=eta.astype(np.float32),
                     jet_mass=mass.astype(np.float32), n_constituents=np.asarray(n_constituents, np.int32))
