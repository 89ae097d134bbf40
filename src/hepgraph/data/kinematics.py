"""Four-vector kinematics, vectorised over leading axes. Momenta and energies in GeV."""

from __future__ import annotations

import numpy as np


def pt_eta_phi_m(p4: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Transverse momentum, pseudorapidity, azimuth in (-pi, pi] and mass of ``p4`` [..., 4] = (E, px, py, pz).

    Zero four-vectors (padding) give pt = eta = phi = m = 0. Masses of slightly space-like vectors
    (rounding) are clipped to 0.
    """
    p4 = np.asarray(p4, dtype=np.float64)
    e, px, py, pz = np.moveaxis(p4, -1, 0)
    pt = np.hypot(px, py)
    eta = np.arcsinh(np.divide(pz, pt, out=np.zeros_like(pz), where=pt > 0))
    phi = np.arctan2(py, px)
    m = np.sqrt(np.clip(e**2 - px**2 - py**2 - pz**2, 0.0, None))
    return pt, eta, phi, m


def wrap_phi(dphi: np.ndarray) -> np.ndarray:
    """Map azimuthal differences into [-pi, pi)."""
    return (np.asarray(dphi) + np.pi) % (2 * np.pi) - np.pi
