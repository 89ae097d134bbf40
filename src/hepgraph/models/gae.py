"""Graph autoencoder (GAE) for unsupervised anomaly detection on jets (Kluettermann 2021, ch. 4 and app. C).

Dense batched graphs of n particles with features (flag, eta, phi, lpt) (:mod:`hepgraph.models.anomaly_inputs`);
every linear map is bias-free, so padding particles (all zero) stay zero through the graph updates.

- Graph update (eq. 4.1): x_i' = act(S x_i + sum_j A_ij N x_j), S and N learnable [F, F'].
- Learned graph (app. C.2.1): each node's k nearest other nodes in a learnable diagonal metric, edge weights a
  softmax of minus the distance over those neighbours, times k (rows sum to k; the metric gets gradients).
- Compression (ch. 4.2): nodes sorted by their last feature, each group of c consecutive nodes mapped to one node
  by one linear map [c F, F']; decompression (ch. 4.3) the inverse map [F', c F] with the graph of the new nodes the
  tensor product of the previous graph and a learnable c x c graph (initially all 1/c: rows sum to 1).
- Batch normalisation (without affine parameters, real particles only) at the encoder input; output and target
  sorted by lpt before the loss.

Losses per jet (mean over particles, and features for L2/Ln): ``l2``; ``ln``: |x - y|^p (p >= 1) or
(|x - y| + 1)^p - 1 (p < 1, the thesis's NaN-free form); ``image`` (eq. 4.5): (1 - f(d)) c + |lpt_x - lpt_y| f(d),
f(d) = (k + exp(-alpha d)) / (k + 1), d the (eta, phi) distance of the two particles.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from hepgraph.models.anomaly_inputs import InputNormalisation

LOSSES = ("l2", "ln", "image")
ACTIVATIONS = {"relu": nn.functional.relu, "tanh": torch.tanh, "leaky_relu": nn.functional.leaky_relu}
LPT = 3  # index of lpt in (flag, eta, phi, lpt)


@dataclass(frozen=True)
class GAEConfig:
    """A graph autoencoder: ``compression`` factors multiply to ``n_nodes`` (e.g. 4: (4,); 9: (3, 3); 16: (4, 4)),
    so that the latent space is one node of ``latent`` features."""

    n_nodes: int = 4
    compression: tuple[int, ...] = (4,)
    latent: int = 9
    hidden: int = 16
    layers: int = 3  # graph updates before each compression and after each decompression
    k: int = 4
    activation: str = "relu"
    normalisation: str = "invariant"
    loss: str = "image"
    ln_power: float = 1.0
    image_alpha: float = 1.0
    image_k: float = 0.1
    image_c: float = 1.0
    lr: float = 3e-3

    def __post_init__(self) -> None:
        if math.prod(self.compression) != self.n_nodes:
            raise ValueError(f"compression {list(self.compression)} multiplies to {math.prod(self.compression)}, not "
                             f"n_nodes = {self.n_nodes}; give factors whose product is n_nodes, e.g. [3, 3] for 9")
        if self.loss not in LOSSES:
            raise ValueError(f"loss {self.loss!r}; use one of {LOSSES}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation {self.activation!r}; use one of {sorted(ACTIVATIONS)}")


def l2_loss(x: Tensor, y: Tensor) -> Tensor:
    """Mean squared difference per jet: x, y [B, n, F] -> [B]."""
    return (x - y).pow(2).mean((1, 2))


def ln_loss(x: Tensor, y: Tensor, p: float) -> Tensor:
    """Mean |x - y|^p per jet (p >= 1), or mean (|x - y| + 1)^p - 1 (p < 1, differentiable at 0) -> [B]."""
    d = (x - y).abs()
    return (d.pow(p) if p >= 1 else (d + 1).pow(p) - 1).mean((1, 2))


def image_loss(x: Tensor, y: Tensor, alpha: float, k: float, c: float) -> Tensor:
    """Eq. 4.5 per particle, averaged per jet: x, y [B, n, 4] (flag, eta, phi, lpt) -> [B]."""
    d = ((x[..., 1:3] - y[..., 1:3]).pow(2).sum(-1) + 1e-12).sqrt()
    f = (k + torch.exp(-alpha * d)) / (k + 1)
    return ((1 - f) * c + (x[..., LPT] - y[..., LPT]).abs() * f).mean(1)


def sort_by_lpt(x: Tensor) -> Tensor:
    """Particles of x [B, n, F] in ascending lpt (descending pT)."""
    order = x[..., LPT].argsort(dim=1, stable=True)
    return x.gather(1, order[..., None].expand_as(x))


def knn_graph(x: Tensor, metric: Tensor, k: int) -> Tensor:
    """Adjacency [B, n, n] of each node's min(k, n - 1) nearest other nodes in the diagonal metric ``metric`` [F]:
    weights softmax(-distance) over the neighbours, times k; x [B, n, F]."""
    n = x.shape[1]
    if n == 1:
        return x.new_ones(x.shape[0], 1, 1)
    d = ((x[:, :, None] - x[:, None]).pow(2) * metric.pow(2)).sum(-1)
    d = d.masked_fill(torch.eye(n, dtype=torch.bool, device=x.device), math.inf)
    near, index = (-d).topk(min(k, n - 1), dim=-1)
    return torch.zeros_like(d).scatter(-1, index, k * near.softmax(-1))


class GraphUpdate(nn.Module):
    """x_i' = S x_i + sum_j A_ij N x_j (eq. 4.1, no bias); x [B, n, F_in], A [B, n, n] -> [B, n, F_out]."""

    def __init__(self, f_in: int, f_out: int) -> None:
        super().__init__()
        self.self_map = nn.Linear(f_in, f_out, bias=False)
        self.neighbour_map = nn.Linear(f_in, f_out, bias=False)

    def forward(self, x: Tensor, adjacency: Tensor) -> Tensor:
        return self.self_map(x) + adjacency @ self.neighbour_map(x)


def compress(x: Tensor, c: int, linear: nn.Linear) -> Tensor:
    """Sort nodes of x [B, n, F] by their last feature and map each group of c into one node: -> [B, n / c, F']."""
    order = x[..., -1].argsort(dim=1, stable=True)
    x = x.gather(1, order[..., None].expand_as(x))
    return linear(x.reshape(x.shape[0], x.shape[1] // c, c * x.shape[2]))


def decompress(x: Tensor, c: int, linear: nn.Linear) -> Tensor:
    """Map each node of x [B, m, F'] to c nodes: -> [B, m c, F] (linear: F' -> c F)."""
    y = linear(x)
    return y.reshape(x.shape[0], x.shape[1] * c, y.shape[2] // c)


class GraphAutoencoder(nn.Module):
    """The GAE: inputs (flag, eta, phi, lpt) [B, n, 4] -> (reconstruction, target) [B, n, 4] (both normalised and
    sorted by lpt) and the latent vector [B, latent] (:meth:`encode`)."""

    def __init__(self, config: GAEConfig) -> None:
        super().__init__()
        self.config = config
        self.act = ACTIVATIONS[config.activation]
        h, stages = config.hidden, len(config.compression)
        self.normalisation = InputNormalisation(config.normalisation)
        self.batch_norm = nn.BatchNorm1d(3, affine=False)
        widths = [4] + [h] * stages
        self.enc_metrics = nn.ParameterList([nn.Parameter(torch.ones(w)) for w in widths[:-1]])
        self.enc_layers = nn.ModuleList(nn.ModuleList(GraphUpdate(w if i == 0 else h, h) for i in range(config.layers))
                                        for w in widths[:-1])
        self.compressions = nn.ModuleList(
            nn.Linear(c * h, config.latent if s == stages - 1 else h, bias=False)
            for s, c in enumerate(config.compression))
        self.decompressions = nn.ModuleList(
            nn.Linear(config.latent if s == 0 else h, c * h, bias=False)
            for s, c in enumerate(reversed(config.compression)))
        self.dec_graphs = nn.ParameterList(nn.Parameter(torch.full((c, c), 1 / c))
                                           for c in reversed(config.compression))
        self.dec_layers = nn.ModuleList(nn.ModuleList(GraphUpdate(h, h) for _ in range(config.layers))
                                        for _ in config.compression)
        self.output = GraphUpdate(h, 4)

    def _input(self, x: Tensor) -> Tensor:
        """Normalised, then batch-normalised (real particles only) encoder input [B, n, 4]."""
        x = self.normalisation(x)
        flag = x[..., :1]
        real = flag[..., 0] > 0
        values = x[..., 1:].clone()
        if real.any():
            values[real] = self.batch_norm(values[real])
        return torch.cat([flag, values * flag], dim=-1)

    def encode(self, x: Tensor) -> Tensor:
        """Latent vectors [B, latent] of inputs x [B, n, 4] (raw, unnormalised)."""
        h = self._input(x)
        for metric, layers, squeeze, c in zip(self.enc_metrics, self.enc_layers, self.compressions,
                                              self.config.compression):
            adjacency = knn_graph(h, metric, self.config.k)
            for layer in layers:
                h = self.act(layer(h, adjacency))
            h = compress(h, c, squeeze)
        return h[:, 0]

    def decode(self, z: Tensor) -> Tensor:
        """Reconstruction [B, n, 4], sorted by lpt, of latent vectors z [B, latent]."""
        h, adjacency = z[:, None], z.new_ones(1, 1)
        for expand, graph, layers, c in zip(self.decompressions, self.dec_graphs, self.dec_layers,
                                            reversed(self.config.compression)):
            h = decompress(h, c, expand)
            adjacency = torch.kron(adjacency, graph)
            for layer in layers:
                h = self.act(layer(h, adjacency))
        return sort_by_lpt(self.output(h, adjacency))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(reconstruction, target, latent) of inputs x [B, n, 4]: reconstruction and target [B, n, 4] (the
        normalised input), both sorted by lpt; latent [B, latent]."""
        z = self.encode(x)
        return self.decode(z), sort_by_lpt(self.normalisation(x)), z

    def loss(self, reconstruction: Tensor, target: Tensor) -> Tensor:
        """The configured loss per jet [B]."""
        cfg = self.config
        if cfg.loss == "l2":
            return l2_loss(reconstruction, target)
        if cfg.loss == "ln":
            return ln_loss(reconstruction, target, cfg.ln_power)
        return image_loss(reconstruction, target, cfg.image_alpha, cfg.image_k, cfg.image_c)


class GAETask:
    """The GAE for :func:`hepgraph.train.loop.fit`: batches are inputs (flag, eta, phi, lpt) [B, n, 4]; the
    ``standard`` normalisation is fixed on ``train`` [N, n, 4]; ``validate`` gives the mean loss on ``val``."""

    def __init__(self, config: GAEConfig, device: torch.device, train: Tensor, val: Tensor,
                 eval_batch: int = 4096) -> None:
        self.device, self.eval_batch = device, eval_batch
        self.model = GraphAutoencoder(config)
        self.model.normalisation.fit(train)
        self.model.to(device)
        self.val = val.to(device)
        self.models = {"gae": self.model}
        self.optimizers = {"gae": torch.optim.Adam(self.model.parameters(), lr=config.lr)}

    def train_step(self, batch: Tensor) -> dict[str, float]:
        self.model.train()
        loss = self.model.loss(*self.model(batch)[:2]).mean()
        optimizer = self.optimizers["gae"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return {"loss": loss.item()}

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        self.model.eval()
        losses = [self.model.loss(*self.model(chunk)[:2]) for chunk in self.val.split(self.eval_batch)]
        return {"loss": torch.cat(losses).mean().item()}


@torch.no_grad()
def reconstruct(model: GraphAutoencoder, x: Tensor, batch: int = 4096) -> dict[str, Tensor]:
    """Evaluate a trained GAE on inputs x [N, n, 4]: ``score`` [N] (its loss per jet), ``errors`` [N, n, 4] (squared
    differences per particle and feature, for AUC maps) and ``latent`` [N, latent]."""
    model.eval()
    parts = {"score": [], "errors": [], "latent": []}
    for chunk in x.split(batch):
        reconstruction, target, latent = model(chunk)
        parts["score"].append(model.loss(reconstruction, target))
        parts["errors"].append((reconstruction - target).pow(2))
        parts["latent"].append(latent)
    return {k: torch.cat(v) for k, v in parts.items()}
