"""Inputs of the quark/gluon classifiers (:mod:`hepgraph.models.pid`) from the ``calo`` and ``qg`` tables, with
the preprocessing chosen on the training split only and applied unchanged to validation and test jets.

- Images (``calo_images`` tables): pixel x of channel c -> log(1 + x / s_c), s_c the mean of the channel's
  non-zero pixels in the training images (empty pixels stay 0, so the image GNN still finds them empty); the
  jet scalars (log pT, m0) standardised with the training mean and standard deviation.
- Particles (``nodes``/``mask`` of ``jets`` or ``calo_images`` tables, feature names in the table meta
  ``node_features``): points = (delta_eta, delta_phi), or (eta_rel, phi_rel) in tables without particle
  identity; features = every stored feature (``pt_rel`` as its logarithm) plus delta_r if not stored; each
  standardised over the real particles of the training jets (a feature constant there is only shifted).

Labels: ``hepgraph.data.labels`` (1 = quark, 0 = gluon); batches carry them as ``label``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from hepgraph.data.tables import node_feature_names, read_arrays, read_header

POINTS = (("delta_eta", "delta_phi"), ("eta_rel", "phi_rel"))  # coordinates of the first kNN graph, by table
LOG_FEATURES = ("pt_rel",)  # stored features given to the networks as their logarithm


@dataclass(frozen=True)
class Preprocessing:
    """What was chosen on the training split: image channel scales [3] and scalar mean/std [2] (log pT, m0), or
    the particle feature names (as stored) and the mean/std of the derived features (:func:`particle_arrays`)."""

    channel_scale: tuple[float, ...] = ()
    scalar_mean: tuple[float, ...] = ()
    scalar_std: tuple[float, ...] = ()
    node_features: tuple[str, ...] = ()
    feature_mean: tuple[float, ...] = ()
    feature_std: tuple[float, ...] = ()

    def to_dict(self) -> dict[str, list]:
        return {k: list(v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, values: Mapping[str, Sequence]) -> Preprocessing:
        return cls(**{k: tuple(v) for k, v in values.items()})


def _std(values: np.ndarray, axis: Any) -> np.ndarray:
    std = values.std(axis=axis)
    return np.where(std > 0, std, 1.0)


def jet_scalars(pt: np.ndarray, m0: np.ndarray) -> np.ndarray:
    """float64 [N, 2] = (log jet pT / GeV, jet mass / GeV)."""
    return np.stack([np.log(np.maximum(pt, 1e-3)), m0], axis=1).astype(np.float64)


def fit_images(images: np.ndarray, pt: np.ndarray, m0: np.ndarray) -> Preprocessing:
    """Image preprocessing from training ``images`` [N, 3, H, W] (GeV) and jet ``pt``, ``m0`` [N] (GeV)."""
    nonzero = (images > 0).sum(axis=(0, 2, 3))
    sums = images.sum(axis=(0, 2, 3), dtype=np.float64)
    scale = np.where(nonzero > 0, sums / np.maximum(nonzero, 1), 1.0)
    scalars = jet_scalars(pt, m0)
    return Preprocessing(channel_scale=tuple(scale.tolist()), scalar_mean=tuple(scalars.mean(0).tolist()),
                         scalar_std=tuple(_std(scalars, 0).tolist()))


def image_batch(images: np.ndarray, pt: np.ndarray, m0: np.ndarray, prep: Preprocessing) -> dict[str, Tensor]:
    """``image`` float32 [N, 3, H, W] and ``scalars`` [N, 2] preprocessed with ``prep``."""
    scale = np.asarray(prep.channel_scale, np.float32)[None, :, None, None]
    scalars = (jet_scalars(pt, m0) - np.asarray(prep.scalar_mean)) / np.asarray(prep.scalar_std)
    return {"image": torch.from_numpy(np.log1p(np.asarray(images, np.float32) / scale)),
            "scalars": torch.from_numpy(scalars.astype(np.float32))}


def particle_arrays(nodes: np.ndarray, mask: np.ndarray, names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Points [N, n, 2] and features [N, n, F'] (zero on padding) of particles ``nodes`` [N, n, F] named
    ``names`` (the table meta ``node_features``); see the module docstring."""
    names = list(names)
    if nodes.shape[-1] != len(names):
        raise ValueError(f"nodes have {nodes.shape[-1]} features but node_features names {len(names)}: {names}")
    coords = next((pair for pair in POINTS if set(pair) <= set(names)), None)
    if coords is None:
        raise ValueError(f"particle features {names} have no coordinates: ParticleNet needs one of "
                         f"{' or '.join(map(str, POINTS))}")
    nodes = np.asarray(nodes, np.float64)
    points = nodes[..., [names.index(name) for name in coords]]
    columns = [np.log(np.maximum(nodes[..., i], 1e-8)) if name in LOG_FEATURES else nodes[..., i]
               for i, name in enumerate(names)]
    if "delta_r" not in names:
        columns.append(np.hypot(points[..., 0], points[..., 1]))
    return points * mask[..., None], np.stack(columns, -1) * mask[..., None]


def fit_particles(nodes: np.ndarray, mask: np.ndarray, names: Sequence[str]) -> Preprocessing:
    """Particle preprocessing from training ``nodes`` [N, n, F] named ``names`` and ``mask`` [N, n]."""
    _, features = particle_arrays(nodes, mask, names)
    real = features[mask]
    return Preprocessing(node_features=tuple(names), feature_mean=tuple(real.mean(0).tolist()),
                         feature_std=tuple(_std(real, 0).tolist()))


def particle_batch(nodes: np.ndarray, mask: np.ndarray, prep: Preprocessing) -> dict[str, Tensor]:
    """``points`` [N, n, 2], standardised ``features`` [N, n, F'] (zero on padding) and ``mask`` [N, n]."""
    points, features = particle_arrays(nodes, mask, prep.node_features)
    features = (features - np.asarray(prep.feature_mean)) / np.asarray(prep.feature_std) * mask[..., None]
    return {"points": torch.from_numpy(points.astype(np.float32)),
            "features": torch.from_numpy(features.astype(np.float32)), "mask": torch.from_numpy(mask.astype(bool))}


class BatchDataset(torch.utils.data.Dataset):
    """Rows of a dict of equally long tensors; a DataLoader with ``collate_fn=BatchDataset.collate`` fetches each
    batch with one indexing per tensor instead of one per row."""

    def __init__(self, tensors: Mapping[str, Tensor]) -> None:
        lengths = {len(t) for t in tensors.values()}
        if len(lengths) != 1:
            raise ValueError(f"tensors differ in length: { {k: len(t) for k, t in tensors.items()} }")
        self.tensors, self.n = dict(tensors), lengths.pop()

    def __len__(self) -> int:
        return self.n

    def __getitems__(self, index: list[int]) -> dict[str, Tensor]:
        index = torch.as_tensor(index)
        return {k: t[index] for k, t in self.tensors.items()}

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        return self.__getitems__([i])

    @staticmethod
    def collate(batch: dict[str, Tensor]) -> dict[str, Tensor]:
        return batch

    def batches(self, size: int) -> list[dict[str, Tensor]]:
        """The rows in order, in batches of ``size``."""
        return [self.__getitems__(list(range(i, min(i + size, self.n)))) for i in range(0, self.n, size)]


def read_inputs(path: str | Path, model_input: str,
                prep: Preprocessing | None = None) -> tuple[dict[str, Tensor], Preprocessing]:
    """The model inputs of every jet of table ``path`` and the preprocessing used: ``prep``, or if None, chosen on
    this table (pass the training table). ``model_input`` is "image" (a calo_images table) or "particles" (the
    ``nodes`` of a jets table, or of a calo_images table of simulated jets). Adds ``label`` int64 [N]."""
    kind = read_header(path)["kind"]
    label = "y" if kind == "calo_images" else "label"
    if model_input == "image":
        if kind != "calo_images":
            raise ValueError(f"{path} is a {kind} table; image models need a calo_images table")
        arrays = read_arrays(path, kind, ["X_jets", "pt", "m0", label])
        prep = prep or fit_images(arrays["X_jets"], arrays["pt"], arrays["m0"])
        inputs = image_batch(arrays.pop("X_jets"), arrays["pt"], arrays["m0"], prep)
    elif model_input == "particles":
        names = node_feature_names(path)
        if kind not in ("jets", "calo_images") or not names:
            raise ValueError(f"{path} ({kind} table) holds no particles with named features (meta node_features); "
                             "real E2E files carry no constituents: train particle models on simulated calo jets "
                             "or the qg table")
        arrays = read_arrays(path, kind, ["nodes", "mask", label])
        prep = prep or fit_particles(arrays["nodes"], arrays["mask"], names)
        if tuple(names) != prep.node_features:
            raise ValueError(f"{path} has particle features {names}, the model was trained on "
                             f"{list(prep.node_features)}")
        inputs = particle_batch(arrays["nodes"], arrays["mask"], prep)
    else:
        raise ValueError(f"model_input must be 'image' or 'particles', got {model_input!r}")
    inputs["label"] = torch.from_numpy(np.asarray(arrays[label], np.int64))
    return inputs, prep
