"""Oneoff networks (Kluettermann 2021, ch. 7 and app. E): bias-free ReLU MLPs trained on background only to output 1.

A member f maps a jet's feature vector [D] to one number. Its loss over a batch is the thesis's mean (f - 1)^2,
which equals (mean f - 1)^2 + var f: it pulls the mean output to 1 and the spread to 0. Its anomaly score is
|f(x) - q|, q the member's mean output on the training data. An ensemble of M members, trained at once as batched
weights [M, D_in, D_out] (independent parameters: the summed loss trains each member on its own loss), scores a jet
by the root mean square of its members' scores. Inputs are divided by their root mean square per feature on the
training set (fixed once, not centred). With ``feature_fraction`` < 1 each member sees a fixed random subset of the
features (feature bagging).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn


@dataclass(frozen=True)
class OneoffConfig:
    """An ensemble of ``members`` oneoff networks with hidden layer widths ``hidden`` on ``inputs`` features."""

    inputs: int
    members: int = 25
    hidden: tuple[int, ...] = (32, 32)
    feature_fraction: float = 1.0
    lr: float = 1e-3

    def __post_init__(self) -> None:
        if not 0 < self.feature_fraction <= 1:
            raise ValueError(f"feature_fraction = {self.feature_fraction}; use a fraction in (0, 1]")


class OneoffEnsemble(nn.Module):
    """M bias-free ReLU MLPs: x [B, D] -> outputs [B, M]. Buffers: ``scale`` [D], the inputs' root mean square on the
    training set (:meth:`fit_scale`), and ``q`` [M], the mean outputs on it (:meth:`calibrate`)."""

    def __init__(self, config: OneoffConfig, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.config = config
        sizes = [config.inputs, *config.hidden, 1]
        self.weights = nn.ParameterList(
            nn.Parameter(torch.randn(config.members, a, b, generator=generator) * (2 / a) ** 0.5)
            for a, b in zip(sizes[:-1], sizes[1:]))
        keep = max(1, round(config.feature_fraction * config.inputs))
        bags = torch.zeros(config.members, config.inputs)
        for m in range(config.members):
            bags[m, torch.randperm(config.inputs, generator=generator)[:keep]] = 1
        self.register_buffer("bags", bags)
        self.register_buffer("q", torch.ones(config.members))
        self.register_buffer("scale", torch.ones(config.inputs))

    @torch.no_grad()
    def fit_scale(self, x: Tensor) -> OneoffEnsemble:
        """Fix ``scale`` to the root mean square per feature of the training data x [N, D]."""
        self.scale.copy_(x.pow(2).mean(0).sqrt().clamp_min(1e-6))
        return self

    def forward(self, x: Tensor) -> Tensor:
        h = (x / self.scale)[None] * self.bags[:, None]  # [M, B, D]
        for i, w in enumerate(self.weights):
            h = h @ w
            if i < len(self.weights) - 1:
                h = torch.relu(h)
        return h[..., 0].T

    def loss(self, x: Tensor) -> Tensor:
        """Each member's loss on the batch x [B, D] -> [M]."""
        return (self(x) - 1).pow(2).mean(0)

    @torch.no_grad()
    def calibrate(self, x: Tensor, batch: int = 65536) -> Tensor:
        """Set ``q`` to the members' mean outputs on the training data x [N, D]; returns it."""
        self.q.copy_(torch.cat([self(chunk) for chunk in x.split(batch)]).mean(0))
        return self.q

    @torch.no_grad()
    def member_scores(self, x: Tensor, batch: int = 65536) -> Tensor:
        """|f_m(x) - q_m| [N, M] of x [N, D]."""
        return torch.cat([(self(chunk) - self.q).abs() for chunk in x.split(batch)])

    def score(self, x: Tensor) -> Tensor:
        """The ensemble's anomaly score [N]: root mean square of the member scores."""
        return self.member_scores(x).pow(2).mean(1).sqrt()


class OneoffTask:
    """An oneoff ensemble for :func:`hepgraph.train.loop.fit`: batches are feature vectors [B, D] (a 1-tuple from a
    TensorDataset); the input scale is fixed on ``train`` [N, D]; ``validate`` gives the members' mean loss on
    ``val`` [V, D]."""

    def __init__(self, config: OneoffConfig, device: torch.device, train: Tensor, val: Tensor) -> None:
        self.model = OneoffEnsemble(config).fit_scale(train).to(device)
        self.val = val.to(device)
        self.models = {"oneoff": self.model}
        self.optimizers = {"oneoff": torch.optim.Adam(self.model.parameters(), lr=config.lr)}

    def train_step(self, batch: Tensor | tuple[Tensor]) -> dict[str, float]:
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        losses = self.model.loss(x)
        optimizer = self.optimizers["oneoff"]
        optimizer.zero_grad(set_to_none=True)
        losses.sum().backward()
        optimizer.step()
        return {"loss": losses.mean().item()}

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        return {"loss": self.model.loss(self.val).mean().item()}


def raw_features(x: Tensor, normalisation: nn.Module) -> Tensor:
    """Oneoff inputs from particles x [N, n, 4] (flag, eta, phi, lpt): the normalised (eta, phi, lpt), flattened to
    [N, 3 n] (flag is left out: a constant input would let the bias-free members output 1 trivially)."""
    return normalisation(x)[..., 1:].flatten(1)
