"""Energy flow polynomials (EFPs; Komiske, Metodiev, Thaler, JHEP 04 (2018) 013) of jets, vectorised over jets.

For a multigraph G with vertices 1..N and edges (k, l),

    EFP_G = sum_{i_1..i_N} z_{i_1} ... z_{i_N} prod_{(k,l) in G} theta_{i_k i_l}

(energyflow's EFP docstring), summed over all particles, repeated indices included (theta_ii = 0). JetNet's
measure (jetnet.utils.efps: ``EFPSet(..., measure="hadr", beta=1, normed=None, coords="ptyphim")`` on
(pt, eta, phi)) is energyflow's hadronic measure: z_i = pt_i and theta_ij = (dy^2 + dphi^2)^(beta/2) with beta = 1
and the azimuthal difference taken the short way round (energyflow.measure ``_thetas2_from_yphis``); the rapidity
column is filled with eta, equal for massless particles. ``normed=None`` is falsy in energyflow's ``Measure``
(``elif self.normed:``), so JetNet does *not* divide z_i by sum_j pt_j; ``normed=True`` here does.

Each graph is written out below as a variable-eliminated contraction (what energyflow's VariableElimination
finds), with the helpers a_k = theta^k z (a_k[i] = sum_j theta_ij^k z_j), u = z a_1, and
P = theta diag(z) theta, so that the whole batch is computed with a few elementwise products and batched matrix
products: jets are taken in order of their particle count, a few hundred at a time, so that each chunk's
[B, n, n] arrays fit in a core's cache and are only as wide as its largest jet. The edge lists in
``CONNECTED_GRAPHS`` define the graphs; tests check every contraction against the definition summed over all vertex
assignments and against a jet worked out by hand, whose values energyflow 1.4.0 called as jetnet calls it
reproduces.
"""

from __future__ import annotations

import numpy as np


Graph = tuple[tuple[int, int], ...]

#: Connected multigraphs with d <= 4 edges (energyflow ``EFPSet("d<=4", "p==1")``), by name, in energyflow's order
#: (by vertices n, simple edges e, then d).
CONNECTED_GRAPHS: dict[str, Graph] = {
    "dot": (),                                             # n=1, d=0: sum z
    "line": ((0, 1),),                                     # n=2
    "line2": ((0, 1),) * 2,
    "line3": ((0, 1),) * 3,
    "line4": ((0, 1),) * 4,
    "path3": ((0, 1), (1, 2)),                             # n=3
    "path3_21": ((0, 1), (0, 1), (1, 2)),
    "path3_31": ((0, 1), (0, 1), (0, 1), (1, 2)),
    "path3_22": ((0, 1), (0, 1), (1, 2), (1, 2)),
    "triangle": ((0, 1), (1, 2), (2, 0)),
    "triangle_211": ((0, 1), (0, 1), (1, 2), (2, 0)),
    "star3": ((0, 1), (0, 2), (0, 3)),                     # n=4
    "star3_211": ((0, 1), (0, 1), (0, 2), (0, 3)),         # JetNet's five n=4, d=4 prime EFPs: this one, ...
    "path4": ((0, 1), (1, 2), (2, 3)),
    "path4_end2": ((0, 1), (0, 1), (1, 2), (2, 3)),
    "path4_mid2": ((0, 1), (1, 2), (1, 2), (2, 3)),
    "paw": ((0, 1), (1, 2), (2, 0), (0, 3)),
    "square": ((0, 1), (1, 2), (2, 3), (3, 0)),            # ... to this one
    "star4": ((0, 1), (0, 2), (0, 3), (0, 4)),             # n=5
    "fork": ((0, 1), (0, 2), (0, 3), (3, 4)),
    "path5": ((0, 1), (1, 2), (2, 3), (3, 4)),
}

#: jetnet.utils.efps default ``efpset_args=[("n==", 4), ("d==", 4), ("p==", 1)]``: the EFPs of W1EFP.
JETNET_EFPS: tuple[str, ...] = ("star3_211", "path4_end2", "path4_mid2", "paw", "square")

#: Disconnected graphs with d <= 4, as products of connected ones (energyflow's CompositeGenerator: never the
#: single vertex, which would only multiply by sum z), in energyflow's order.
COMPOSITE_GRAPHS: tuple[tuple[str, ...], ...] = (
    ("line", "line"), ("line", "line2"), ("line", "line3"), ("line2", "line2"), ("line", "path3"),
    ("line2", "path3"), ("line", "path3_21"), ("line", "triangle"), ("line", "line", "line"), ("line", "star3"),
    ("line", "path4"), ("path3", "path3"), ("line", "line", "line2"), ("line", "line", "path3"),
    ("line", "line", "line", "line"),
)

#: The 36 EFPs with d <= 4 in the column order of energyflow ``EFPSet("d<=4")`` (21 connected, the empty graph
#: included, then 15 composites named "a*b"): jetnet.evaluation.get_fpd_kpd_jet_features, the FPD/KPD features.
D_LE_4_EFPS: tuple[str, ...] = (*CONNECTED_GRAPHS, *("*".join(c) for c in COMPOSITE_GRAPHS))


def check_jets(jets: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Check jets [N >= 1, n, 3] of (eta_rel, phi_rel, pt_rel) and boolean mask [N, n]; return both as arrays."""
    jets, mask = np.asarray(jets), np.asarray(mask)
    if jets.ndim != 3 or jets.shape[2] != 3 or len(jets) == 0:
        raise ValueError(f"jets must have shape [N >= 1, n, 3] with features (eta_rel, phi_rel, pt_rel); "
                         f"got {jets.shape}")
    if mask.shape != jets.shape[:2]:
        raise ValueError(f"mask must have shape {jets.shape[:2]} (jets' [N, n]); got {mask.shape}")
    if mask.dtype != np.bool_:
        raise ValueError(f"mask must be boolean (True = real particle); got dtype {mask.dtype}")
    return jets, mask


def masked_jets(jets: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``check_jets``, then float64 jets with padding zeroed.

    Zeroing the masked rows makes every metric independent of whatever a generator wrote into padding.
    """
    jets, mask = check_jets(jets, mask)
    return np.where(mask[..., None], jets.astype(np.float64), 0.0), mask


def hadronic_measure(jets: np.ndarray, mask: np.ndarray, normed: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Energies z [N, n] (pt_rel, 0 for padding; divided by the jet's sum if ``normed``) and angles theta [N, n, n].

    theta_ij = sqrt(d_eta^2 + d_phi^2) with |d_phi| taken the short way round as energyflow does
    (``_thetas2_from_yphis``: pi - ||d_phi| - pi|, needed only when the azimuths span more than pi); energyflow's
    "hadr" measure with beta = 1.
    """
    jets, mask = masked_jets(jets, mask)
    return _measure(jets, normed)


def _measure(jets: np.ndarray, normed: bool) -> tuple[np.ndarray, np.ndarray]:
    """``hadronic_measure`` of float64 jets [B, n, 3] whose padding is zeroed."""
    eta, phi, z = jets[..., 0], jets[..., 1], jets[..., 2]
    if normed:
        total = z.sum(axis=1, keepdims=True)
        z = np.divide(z, total, out=np.zeros_like(z), where=total != 0)
    theta2 = eta[:, :, None] - eta[:, None, :]
    theta2 *= theta2
    dphi = phi[:, :, None] - phi[:, None, :]
    if np.ptp(phi) > np.pi:
        dphi = np.pi - np.abs(np.abs(dphi) - np.pi)
    dphi *= dphi
    theta2 += dphi
    return z, np.sqrt(theta2, out=theta2)


def _mv(m: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Batched matrix-vector product: [B, n, n] x [B, n] -> [B, n]."""
    return np.matmul(m, v[..., None])[..., 0]


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Batched dot product over the particle axis: [B, n] x [B, n] -> [B]."""
    return np.einsum("bi,bi->b", a, b)


#: Connected graphs that need theta^3, theta^4 or theta^2 P, computed only when asked for.
HIGH_POWER_GRAPHS = frozenset({"line3", "line4", "path3_31", "triangle_211"})


def connected_efps(z: np.ndarray, theta: np.ndarray, high_powers: bool = True) -> dict[str, np.ndarray]:
    """Connected EFPs with d <= 4 (``CONNECTED_GRAPHS``) of a batch: z [B, n], theta [B, n, n] -> {name: [B]}.

    theta must be symmetric. Without ``high_powers`` the ``HIGH_POWER_GRAPHS`` are left out (five fewer passes
    over [B, n, n] arrays); JetNet's five EFPs do not need them.
    """
    t2 = theta * theta
    a1 = _mv(theta, z)
    u = z * a1                                        # a vertex with one leaf hanging on it
    tu = _mv(theta, u)                                # a vertex two steps away from a leaf
    a2, t2u = np.moveaxis(np.matmul(t2, np.stack([z, u], axis=-1)), -1, 0)
    p = np.matmul(theta * z[:, None, :], theta)       # P_ik = sum_j theta_ij z_j theta_jk
    tri = _mv(p * theta, z)                           # a vertex of a triangle, summed over the other two
    out = {
        "dot": z.sum(axis=1),
        "line": _dot(z, a1),
        "line2": _dot(z, a2),
        "path3": _dot(z, a1**2),
        "path3_21": _dot(z, a2 * a1),
        "path3_22": _dot(z, a2**2),
        "triangle": _dot(z, tri),
        "star3": _dot(z, a1**3),
        "star3_211": _dot(z, a2 * a1**2),
        "path4": _dot(u, tu),
        "path4_end2": _dot(z * a2, tu),               # (z a2) theta u, theta symmetric
        "path4_mid2": _dot(u, t2u),
        "paw": _dot(u, tri),
        "star4": _dot(z, a1**4),
        "fork": _dot(z, a1**2 * tu),
        "path5": _dot(z, tu**2),
    }
    if high_powers:
        a3 = _mv(t2 * theta, z)
        out.update({"line3": _dot(z, a3), "line4": _dot(z, _mv(t2 * t2, z)), "path3_31": _dot(z, a3 * a1),
                    "triangle_211": _dot(z, _mv(np.multiply(t2, p, out=t2), z))})
    out["square"] = _dot(z, _mv(np.multiply(p, p, out=p), z))
    return {name: out[name] for name in CONNECTED_GRAPHS if name in out}


def _evaluate(names: tuple[str, ...], jets: np.ndarray, mask: np.ndarray, normed: bool,
              chunk_size: int) -> np.ndarray:
    """EFPs ``names`` (connected, or composites "a*b" = product of the factors) of ``chunk_size`` jets at a time.

    Real particles are moved to the front of each jet and jets are taken in order of their particle count, so a
    chunk's [B, n, n] arrays are only as wide as its largest jet (padding contributes z = 0 and nothing else).
    """
    jets, mask = masked_jets(jets, mask)
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1; got {chunk_size}")
    factors = [name.split("*") for name in names]
    high_powers = any(f in HIGH_POWER_GRAPHS for fs in factors for f in fs)
    jets = np.take_along_axis(jets, np.argsort(~mask, axis=1, kind="stable")[..., None], axis=1)
    counts = mask.sum(axis=1)
    by_count = np.argsort(counts, kind="stable")
    out = np.empty((len(jets), len(names)))
    for i in range(0, len(jets), chunk_size):
        rows = by_count[i:i + chunk_size]
        width = max(int(counts[rows[-1]]), 1)
        c = connected_efps(*_measure(jets[rows, :width], normed), high_powers)
        for k, fs in enumerate(factors):
            col = c[fs[0]]
            for f in fs[1:]:
                col = col * c[f]
            out[rows, k] = col
    return out


def efps(jets: np.ndarray, mask: np.ndarray, normed: bool = False, chunk_size: int = 256) -> np.ndarray:
    """JetNet's default EFPs (``JETNET_EFPS``: the 5 prime EFPs with n = 4 vertices, d = 4 edges) -> [N, 5].

    jets [N, n, 3] (eta_rel, phi_rel, pt_rel), mask [N, n]; dimensionless (pt_rel^4 rad^4). ``chunk_size`` jets
    are processed at a time (memory ~ 10 chunk_size n^2 doubles; the default keeps them in a core's cache).
    """
    return _evaluate(JETNET_EFPS, jets, mask, normed, chunk_size)


def efps_d_le_4(jets: np.ndarray, mask: np.ndarray, normed: bool = False, chunk_size: int = 256) -> np.ndarray:
    """All 36 EFPs with d <= 4 (``D_LE_4_EFPS``), jetnet's FPD/KPD features -> [N, 36]; arguments as ``efps``."""
    return _evaluate(D_LE_4_EFPS, jets, mask, normed, chunk_size)
