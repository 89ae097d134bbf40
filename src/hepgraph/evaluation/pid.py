"""Scores of the quark/gluon classifiers: ROC curve, ROC AUC, accuracy, background rejection, single-variable
baseline taggers and the published numbers to compare with.

Quark jets are the signal: a ROC point is (quark efficiency eps_q, gluon efficiency eps_g) of the cut
score > t; background rejection at signal efficiency e is 1 / eps_g where eps_q = e (linear interpolation along
the ROC curve). The ROC AUC is the probability that a random quark jet scores above a random gluon jet, ties
counting one half (the Mann-Whitney statistic), which is the area under the ROC curve.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from scipy.stats import rankdata

from hepgraph.data.calo import ECAL_CRYSTAL

REJECTION_AT = (0.3, 0.5)  # signal (quark) efficiencies at which background (gluon) rejection is quoted

# Published numbers. Andrews et al. 2020 (arXiv:1902.08276): ResNet-15 on the CMS Open Data jet images
# (track pT, ECAL, HCAL); the issue quotes about 0.80 ROC AUC (the paper's text is not in shared/papers, so its
# table is not retyped here). Qu & Gouskos 2020 (ParticleNet, arXiv:1902.08570) and Qu, Li & Qian 2022
# (Particle Transformer, arXiv:2202.03772) on the Pythia quark/gluon jets of Komiske et al. (Zenodo 3164691) with
# particle identification. The ML4SCI reference notebook's CNN on the E2E images: test accuracy 0.513 (chance).
PUBLISHED = {
    "calo": [
        {"model": "ResNet-15 (Andrews et al. 2020, CMS Open Data images)", "auc": 0.80, "accuracy": None},
        {"model": "reference notebook CNN (ML4SCI task)", "auc": None, "accuracy": 0.513},
    ],
    "qg": [
        {"model": "ParticleNet (Qu & Gouskos 2020, with PID)", "auc": 0.9116, "accuracy": 0.840},
        {"model": "ParT (Qu et al. 2022, with PID)", "auc": 0.9230, "accuracy": 0.849},
    ],
}


def _check(score: np.ndarray, is_quark: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    score, is_quark = np.asarray(score, np.float64).ravel(), np.asarray(is_quark, bool).ravel()
    if score.shape != is_quark.shape:
        raise ValueError(f"{len(score)} scores but {len(is_quark)} labels")
    if is_quark.all() or not is_quark.any():
        raise ValueError(f"the ROC needs quark and gluon jets; got {int(is_quark.sum())} quark and "
                         f"{int((~is_quark).sum())} gluon jets")
    if not np.isfinite(score).all():
        raise ValueError(f"{int((~np.isfinite(score)).sum())} scores are NaN or infinite")
    return score, is_quark


def roc_auc(score: np.ndarray, is_quark: np.ndarray) -> float:
    """ROC AUC of ``score`` [N] (higher = more quark-like) for labels ``is_quark`` [N] (ties count one half)."""
    score, is_quark = _check(score, is_quark)
    ranks = rankdata(score)
    n_q, n_g = is_quark.sum(), (~is_quark).sum()
    return float((ranks[is_quark].sum() - n_q * (n_q + 1) / 2) / (n_q * n_g))


def roc_curve(score: np.ndarray, is_quark: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(quark efficiency, gluon efficiency), each [T + 1] from (0, 0) to (1, 1), of the cuts score >= t at
    every distinct score t, highest first."""
    score, is_quark = _check(score, is_quark)
    order = np.argsort(-score, kind="stable")
    score, is_quark = score[order], is_quark[order]
    last = np.r_[np.flatnonzero(np.diff(score) != 0), len(score) - 1]  # last jet of each distinct score
    quarks = np.cumsum(is_quark)[last]
    gluons = (last + 1) - quarks
    return np.r_[0.0, quarks / is_quark.sum()], np.r_[0.0, gluons / (~is_quark).sum()]


def background_rejection(score: np.ndarray, is_quark: np.ndarray, signal_efficiency: float) -> float:
    """1 / gluon efficiency at quark efficiency ``signal_efficiency`` (inf where no gluon jet passes)."""
    eff_q, eff_g = roc_curve(score, is_quark)
    eff = float(np.interp(signal_efficiency, eff_q, eff_g))
    return float("inf") if eff == 0 else 1.0 / eff


def accuracy(score: np.ndarray, is_quark: np.ndarray, threshold: float = 0.5) -> float:
    """Fraction of jets classified right by score > ``threshold`` = quark."""
    score, is_quark = _check(score, is_quark)
    return float(np.mean((score > threshold) == is_quark))


def scores(score: np.ndarray, is_quark: np.ndarray, threshold: float | None = 0.5) -> dict[str, float]:
    """ROC AUC, accuracy at ``threshold`` (None: no accuracy, for baselines) and rejection at REJECTION_AT."""
    out = {"auc": roc_auc(score, is_quark)}
    if threshold is not None:
        out["accuracy"] = accuracy(score, is_quark, threshold)
    out.update({f"rejection_{int(e * 100)}": background_rejection(score, is_quark, e) for e in REJECTION_AT})
    return out


def mean_std(values: Sequence[Mapping[str, float]]) -> dict[str, dict[str, float]]:
    """{metric: {"mean", "std", "n"}} over runs (seeds); std is the sample standard deviation (0 for one run)."""
    out = {}
    for key in values[0]:
        v = np.array([run[key] for run in values], np.float64)
        out[key] = {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0, "n": len(v)}
    return out


# ----------------------------------------------------------------------------------------- baselines
def particle_width(eta: np.ndarray, phi: np.ndarray, pt: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Jet width (girth) [N]: sum_i pt_i dR_i / sum_i pt_i over the real particles, dR_i = hypot(eta_i, phi_i)
    relative to the jet axis; inputs [N, n]."""
    w = np.where(mask, pt, 0.0)
    return (w * np.hypot(eta, phi)).sum(1) / np.maximum(w.sum(1), 1e-12)


def image_width(images: np.ndarray, pixel_size: float = ECAL_CRYSTAL) -> np.ndarray:
    """Jet width [N] of calorimeter images [N, C, H, W]: sum over pixels of (channel sum) x dR from the image
    centre, over the sum of the pixels; dR in (eta, phi) units from the pixel centres."""
    _, _, h, w = images.shape
    eta = (np.arange(h) + 0.5 - h / 2) * pixel_size
    phi = (np.arange(w) + 0.5 - w / 2) * pixel_size
    dr = np.hypot(eta[:, None], phi[None, :])
    total = images.sum(axis=1, dtype=np.float64)
    return (total * dr).sum(axis=(1, 2)) / np.maximum(total.sum(axis=(1, 2)), 1e-12)


def track_multiplicity(images: np.ndarray) -> np.ndarray:
    """Non-empty pixels [N] of the track-pT channel (channel 0) of images [N, C, H, W]: the charged-particle
    multiplicity where no two tracks share a crystal."""
    return (images[:, 0] > 0).sum(axis=(1, 2))


BASELINE_SIGNS = {"jet mass": -1.0, "constituent multiplicity": -1.0, "jet width": -1.0}
"""Quark jets are lighter, have fewer constituents and are narrower than gluon jets of the same pT: each
baseline tags quarks by a low value (score = -value), a direction fixed before looking at any data."""


def baseline_scores(values: Mapping[str, np.ndarray], is_quark: np.ndarray) -> dict[str, dict[str, float]]:
    """AUC and rejections of the single-variable taggers ``values`` {name in BASELINE_SIGNS: [N]}."""
    return {name: scores(BASELINE_SIGNS[name] * np.asarray(v, np.float64), is_quark, threshold=None)
            for name, v in values.items()}


def calo_baselines(images: np.ndarray, m0: np.ndarray, mask: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Baseline variables [N] of calorimeter jets: jet mass ``m0`` (GeV), constituent multiplicity (real particles
    of ``mask`` [N, n] where the table has constituents, else :func:`track_multiplicity`) and image width."""
    multiplicity = track_multiplicity(images) if mask is None else mask.sum(axis=1)
    return {"jet mass": np.asarray(m0, np.float64), "constituent multiplicity": multiplicity.astype(np.float64),
            "jet width": image_width(images)}


def particle_baselines(nodes: np.ndarray, mask: np.ndarray, names: Sequence[str], jet_mass: np.ndarray,
                       n_constituents: np.ndarray) -> dict[str, np.ndarray]:
    """Baseline variables [N] of jets of particles ``nodes`` [N, n, F] named ``names`` (delta_eta, delta_phi and
    log_pt, or eta_rel, phi_rel and pt_rel): jet mass (GeV), constituent multiplicity and width."""
    names = list(names)
    if {"delta_eta", "delta_phi", "log_pt"} <= set(names):
        eta, phi = nodes[..., names.index("delta_eta")], nodes[..., names.index("delta_phi")]
        pt = np.exp(np.where(mask, nodes[..., names.index("log_pt")], -np.inf))
    elif {"eta_rel", "phi_rel", "pt_rel"} <= set(names):
        eta, phi, pt = (nodes[..., names.index(n)] for n in ("eta_rel", "phi_rel", "pt_rel"))
    else:
        raise ValueError(f"particle features {names} lack the positions and momenta the jet width needs")
    return {"jet mass": np.asarray(jet_mass, np.float64),
            "constituent multiplicity": np.asarray(n_constituents, np.float64),
            "jet width": particle_width(eta, phi, pt, mask)}
