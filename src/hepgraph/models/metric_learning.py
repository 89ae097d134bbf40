"""Graph construction by metric learning (the Exa.TrkX embedding stage, Ju et al. 2021).

An MLP maps each hit's features to a point in an embedding space where hits of the same particle lie close
together. It is trained with a hinge loss on pairs of hits: the true edges of each particle's track (pulled to
distance 0) and hard negatives, the pairs of other particles' hits found within the graph radius of the current
embedding, plus random pairs (pushed beyond the margin). The graph of an event then links every hit to the hits
within ``radius`` in the embedding space (at most ``k_max`` neighbours each), found with FAISS.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import faiss
import numpy as np
import torch
from torch import Tensor, nn
from torch_geometric.data import Data


def mlp(sizes: list[int], last_activation: bool = False) -> nn.Sequential:
    """Linear layers of ``sizes`` with LayerNorm + ReLU between them (and after the last, if asked)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2 or last_activation:
            layers += [nn.LayerNorm(b), nn.ReLU()]
    return nn.Sequential(*layers)


@dataclass(frozen=True)
class EmbeddingConfig:
    """Metric-learning settings: MLP ``hidden`` x ``layers`` -> ``dim``; graph ``radius`` and ``k_max`` neighbours;
    hinge ``margin`` (= ``radius`` by default); ``random_pairs`` random negative pairs per hit in training."""

    in_features: int = 3
    hidden: int = 128
    layers: int = 4
    dim: int = 8
    radius: float = 0.1
    k_max: int = 100
    margin: float | None = None
    random_pairs: int = 2
    lr: float = 1e-3


class HitEmbedding(nn.Module):
    """Hit features [N, F] -> embedded points [N, dim]."""

    def __init__(self, config: EmbeddingConfig) -> None:
        super().__init__()
        self.net = mlp([config.in_features, *[config.hidden] * config.layers, config.dim])

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


def radius_graph(points: Tensor, radius: float, k_max: int) -> Tensor:
    """Undirected edges int64 [2, E] (i < j, each pair once) between the points [N, D] closer than ``radius``,
    taking at most the ``k_max`` nearest neighbours of each point (FAISS exact search)."""
    n = len(points)
    if n < 2:
        return torch.zeros(2, 0, dtype=torch.long, device=points.device)
    data = np.ascontiguousarray(points.detach().cpu().numpy(), dtype=np.float32)
    index = faiss.IndexFlatL2(data.shape[1])
    index.add(data)
    dist2, nbr = index.search(data, min(k_max + 1, n))
    src = np.repeat(np.arange(n), nbr.shape[1])
    dst, d2 = nbr.reshape(-1), dist2.reshape(-1)
    keep = (dst >= 0) & (d2 < radius ** 2) & (src != dst)
    pairs = np.unique(np.sort(np.stack([src[keep], dst[keep]]), axis=0), axis=1)
    return torch.from_numpy(pairs.astype(np.int64)).to(points.device)


def edge_truth(edge_index: Tensor, pid: Tensor) -> Tensor:
    """bool [E]: both ends of each edge are hits of the same particle (noise hits, id 0, never are)."""
    a, b = pid[edge_index[0]], pid[edge_index[1]]
    return (a == b) & (a != 0)


def edge_quality(edge_index: Tensor, pid: Tensor, true_index: Tensor) -> dict[str, int]:
    """Counts for the built graph's edge efficiency (true edges found / true edges, both directions accepted) and
    purity (same-particle edges / edges): ``true_found``, ``true_edges``, ``same_particle``, ``edges``."""
    n = int(pid.shape[0])
    built = set((torch.minimum(*edge_index) * n + torch.maximum(*edge_index)).tolist())
    wanted = (torch.minimum(*true_index) * n + torch.maximum(*true_index)).tolist()
    return {"true_found": sum(w in built for w in wanted), "true_edges": len(wanted),
            "same_particle": int(edge_truth(edge_index, pid).sum()), "edges": int(edge_index.shape[1])}


def balanced_weights(target: Tensor) -> Tensor:
    """Weights [M] that sum to 1/2 over the true and to 1/2 over the false ``target`` rows (bool [M]), however few
    either are (the reference code's weighting at log_weight_ratio = 0)."""
    return torch.where(target, 0.5 / target.sum().clamp_min(1), 0.5 / (~target).sum().clamp_min(1))


def hinge_loss(a: Tensor, b: Tensor, same: Tensor, margin: float, balanced: bool = False) -> Tensor:
    """Hinge embedding loss of pairs of points a, b [P, D]: d^2 for pairs of the same particle, max(0, margin - d)^2
    for the others (d the Euclidean distance); the mean over pairs, or with ``balanced`` the two kinds weigh half
    each (:func:`balanced_weights`)."""
    d2 = (a - b).square().sum(-1)
    d = (d2 + 1e-12).sqrt()
    loss = torch.where(same, d2, (margin - d).clamp_min(0).square())
    return (loss * balanced_weights(same)).sum() if balanced else loss.mean()


def training_pairs(points: Tensor, event: Data, radius: float, k_max: int, random_pairs: int,
                   generator: torch.Generator | None = None) -> Tensor:
    """[2, P]: the event's true edges, hard negatives (pairs within ``radius`` of the current embedding ``points``)
    and ``random_pairs`` random pairs per hit."""
    n = event.num_nodes
    rand = torch.randint(n, (2, n * random_pairs), generator=generator).to(points.device)
    return torch.cat([event.true_index, radius_graph(points, radius, k_max), rand], dim=1)


class EmbeddingTask:
    """Metric learning for :func:`hepgraph.train.loop.fit`: batches are single events (PyG batches of one).

    ``validate`` builds the graphs of the validation events: edge efficiency and purity, and edges per hit."""

    def __init__(self, config: EmbeddingConfig, device: torch.device, val_events: list[Data]) -> None:
        self.config, self.device, self.val_events = config, device, val_events
        self.model = HitEmbedding(config).to(device)
        self.models = {"embedding": self.model}
        self.optimizers = {"embedding": torch.optim.AdamW(self.model.parameters(), lr=config.lr)}
        self.margin = config.margin or config.radius

    def train_step(self, event: Data) -> Mapping[str, float]:
        cfg = self.config
        points = self.model(event.x)
        pairs = training_pairs(points.detach(), event, cfg.radius, cfg.k_max, cfg.random_pairs)
        loss = hinge_loss(points[pairs[0]], points[pairs[1]], edge_truth(pairs, event.pid), self.margin)
        self.optimizers["embedding"].zero_grad()
        loss.backward()
        self.optimizers["embedding"].step()
        return {"loss": loss.item()}

    @torch.no_grad()
    def validate(self) -> Mapping[str, float]:
        self.model.eval()
        totals: dict[str, int] = {}
        for event in self.val_events:
            event = event.to(self.device)
            graph = radius_graph(self.model(event.x), self.config.radius, self.config.k_max)
            for k, v in edge_quality(graph, event.pid, event.true_index).items():
                totals[k] = totals.get(k, 0) + v
        self.model.train()
        n_hits = sum(e.num_nodes for e in self.val_events)
        efficiency = totals["true_found"] / max(totals["true_edges"], 1)
        purity = totals["same_particle"] / max(totals["edges"], 1)
        return {"edge_efficiency": efficiency, "edge_purity": purity, "edges_per_hit": totals["edges"] / n_hits,
                "score": efficiency + 0.1 * purity}
