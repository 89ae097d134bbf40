"""Inputs of the anomaly-detection models (Kluettermann 2021, ch. 3.2 and 6.1): the n leading particles of a jet as
(flag, eta, phi, lpt) and the normalisations applied to them.

Per particle: ``flag`` 1 for a real particle, 0 for padding; ``eta``, ``phi`` = delta-eta and delta-phi to the jet
axis (phi wrapped, as in the jets table); ``lpt`` = -log(pT / pT_jet) (the thesis's definition), 0 for padding.
Every feature of a padding particle is 0.

Normalisations (flag is never changed; statistics over real particles only):

- ``none``;
- ``standard``: (x - mean) / std per feature, both fixed on the training set (:meth:`InputNormalisation.fit`), so a
  jet's inputs do not depend on its batch;
- ``invariant``: per jet and feature, over its particles (eqs. 6.1, 6.2, 6.4): y = x - mean(x),
  z = y - mean|y|, n = 2 z / (max|z| + mean|z| + 0.001); invariant under x -> a + b x for b > 0.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from hepgraph.data.tables import read_arrays

FEATURES = ("flag", "eta", "phi", "lpt")
NORMALISATIONS = ("none", "standard", "invariant")
EPS = 1e-3  # the thesis's constant in the denominator of eq. 6.3


def read_jets(path: str | Path, label: int | None = None, limit: int | None = None) -> dict[str, np.ndarray]:
    """The first ``limit`` jets (all if None) of a jets table, only those labelled ``label`` if given:
    ``nodes`` float32 [N, m, 3] (eta_rel, phi_rel, pt_rel), ``mask`` bool [N, m], ``n_constituents`` int32 [N]."""
    arrays = read_arrays(path, "jets", ["nodes", "mask", "label", "n_constituents"])
    keep = np.ones(len(arrays["label"]), bool) if label is None else arrays["label"] == label
    if not keep.any():
        raise ValueError(f"{path} has no jets with label {label} (labels present: "
                         f"{sorted(set(arrays['label'].tolist()))}); check the dataset's table and label")
    index = np.flatnonzero(keep)[:limit]
    return {k: arrays[k][index] for k in ("nodes", "mask", "n_constituents")}


def particle_inputs(nodes: Tensor, mask: Tensor, n: int) -> Tensor:
    """(flag, eta, phi, lpt) [N, n, 4] of the ``n`` leading particles of jets with nodes [N, m, 3] (eta_rel, phi_rel,
    pt_rel, pT-descending) and mask [N, m]; jets with fewer than n particles are zero-padded."""
    nodes, mask = nodes[:, :n].float(), mask[:, :n].bool()
    flag = mask.float()
    lpt = -torch.log(torch.where(mask, nodes[..., 2], torch.ones_like(nodes[..., 2])).clamp_min(1e-12))
    x = torch.stack([flag, nodes[..., 0], nodes[..., 1], lpt], dim=-1) * flag[..., None]
    return nn.functional.pad(x, (0, 0, 0, n - x.shape[1]))


def _masked_mean(x: Tensor, weight: Tensor, dim: int) -> Tensor:
    return (x * weight).sum(dim, keepdim=True) / weight.sum(dim, keepdim=True).clamp_min(1.0)


def invariant_normalise(x: Tensor, flag: Tensor) -> Tensor:
    """Eqs. 6.1, 6.2, 6.4 per jet and feature over real particles: x [N, n, F], flag [N, n] (1 real, 0 padding)
    -> [N, n, F], 0 on padding."""
    w = flag[..., None]
    y = (x - _masked_mean(x, w, 1)) * w
    z = (y - _masked_mean(y.abs(), w, 1)) * w
    scale = z.abs().amax(1, keepdim=True) + _masked_mean(z.abs(), w, 1) + EPS
    return 2 * z / scale


class InputNormalisation(nn.Module):
    """One of ``NORMALISATIONS`` on (flag, eta, phi, lpt) inputs [N, n, 4]; the ``standard`` statistics are buffers
    (saved with the model), set once by :meth:`fit` on the training set."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        if kind not in NORMALISATIONS:
            raise ValueError(f"normalisation {kind!r}; use one of {NORMALISATIONS}")
        self.kind = kind
        self.register_buffer("mean", torch.zeros(3))
        self.register_buffer("std", torch.ones(3))

    @torch.no_grad()
    def fit(self, x: Tensor) -> InputNormalisation:
        """Fix the ``standard`` statistics: mean and std of eta, phi, lpt over the real particles of x [N, n, 4]."""
        real = x[..., 1:][x[..., 0] > 0]
        if len(real):
            self.mean.copy_(real.mean(0))
            self.std.copy_(real.std(0).clamp_min(1e-6))
        return self

    def forward(self, x: Tensor) -> Tensor:
        flag, values = x[..., :1], x[..., 1:]
        if self.kind == "standard":
            values = (values - self.mean) / self.std * flag
        elif self.kind == "invariant":
            values = invariant_normalise(values, flag[..., 0])
        return torch.cat([flag, values], dim=-1)
