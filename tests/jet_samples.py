"""Toy jets for the tests: the shapes and conventions of the jets tables, with distributions known in advance."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hepgraph.data.tables import write_table


def toy_jets(n_jets: int, rng: np.random.Generator, eta_shift: float = 0.0, width: float = 0.1, n_nodes: int = 30,
             min_particles: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Jets [n_jets, n_nodes, 3] float32 of min_particles..n_nodes particles and their mask [n_jets, n_nodes]:
    Gaussian eta_rel (mean ``eta_shift``) and phi_rel (mean 0) of ``width``, pt_rel exponential, summing to 1."""
    n_real = rng.integers(min_particles, n_nodes + 1, n_jets)
    mask = np.arange(n_nodes)[None, :] < n_real[:, None]
    pt = np.where(mask, rng.exponential(1.0, (n_jets, n_nodes)), 0.0)
    jets = np.stack([rng.normal(eta_shift, width, (n_jets, n_nodes)), rng.normal(0.0, width, (n_jets, n_nodes)),
                     pt / pt.sum(axis=1, keepdims=True)], axis=-1)
    return np.where(mask[..., None], jets, 0.0).astype(np.float32), mask


def write_jets(path: Path, jets: np.ndarray, mask: np.ndarray, generated: bool) -> Path:
    """A "jets" table; generated ones carry NaN jet kinematics, as the GAN's generate step writes them."""
    n = len(jets)
    kinematics = np.full(n, np.nan if generated else 1000.0, np.float32)
    write_table(path, "jets", {"nodes": jets, "mask": mask, "label": np.zeros(n, np.int64), "jet_pt": kinematics,
                               "jet_eta": kinematics, "jet_mass": kinematics,
                               "n_constituents": mask.sum(axis=1).astype(np.int32)},
                {"generated": generated, "node_features": ["eta_rel", "phi_rel", "pt_rel"]})
    return path
