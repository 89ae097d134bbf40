"""MoNet (Monti et al. 2017, arXiv:1611.08402) classifier of MNIST graphs: the feature network of the GFD.

The architecture is the seed paper's GFD classifier (Kansal et al. 2020; rkansal47/mnist_graph_gan,
``mnist_tg_superpixels/conv_classifier.py`` and ``mnist_superpixels/evaluation.py``, class ``MoNet``):

    GMMConv(1 -> 32) - ELU - graclus max-pool - GMMConv(32 -> 64) - ELU - graclus max-pool -
    GMMConv(64 -> 64) - ELU - mean over nodes - fc1 (64 -> 128) - ELU - dropout 0.5 - fc2 (128 -> 10)

with 25 Gaussian kernels per layer, node input feature intensity + 0.5, Cartesian pseudo-coordinates
``(pos_target - pos_source) / (2 * 0.32178) + 0.5`` (0.32178: its edge cutoff radius in the [-0.5, 0.5)
position units), trained with Adam (lr 1e-4, weight decay 5e-4). The GFD uses fc1's output before the ELU.

Differences, because torch-cluster is not available: the input graph links every node to its ``k`` nearest
nodes (the seed code used all nodes within the cutoff radius), and graclus' randomised greedy matching is
replaced by its deterministic heaviest-edge-first form (:func:`match_clusters`), so that the GFD features
of a graph do not depend on a random draw. The matching weights are graclus' normalised cut of the
Euclidean edge lengths, ``d_ij (1/deg_i + 1/deg_j)``, as in the seed code (PyTorch Geometric's
``mnist_graclus`` example).

The GMMConv layers are PyTorch Geometric's, evaluated on dense batches (:class:`DenseGMMConv`: same
parameters and outputs, several times faster on CPU). Graphs are dense batches: nodes [B, n, 3] = (x, y,
intensity) in [-0.5, 0.5), mask [B, n] bool (False = padding). Adjacency matrices ``adj`` [B, n, n] bool
have ``adj[b, i, j]`` True for an edge j -> i (i receives j's message). Padding never becomes a neighbour,
so it does not change the outputs for the real nodes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import GMMConv

from hepgraph.train.checkpoint import load_checkpoint, load_states

CUTOFF = 0.32178  # the seed code's edge cutoff radius, which scales its pseudo-coordinates
MODEL_NAME = "classifier"  # the model's name in checkpoints
META_KEY = "monet"  # checkpoint meta key holding the MoNetConfig


@dataclass(frozen=True)
class MoNetConfig:
    """Every setting of the MoNet classifier; the defaults are the seed paper's, except ``k`` (see module doc).

    ``channels``: output sizes of the GMMConv layers, with a graclus max-pool between consecutive ones.
    ``scale``: length (position units) that maps neighbour offsets to pseudo-coordinates.
    """

    k: int = 16
    kernel_size: int = 25
    channels: tuple[int, ...] = (32, 64, 64)
    fc_size: int = 128
    n_classes: int = 10
    dropout: float = 0.5
    scale: float = CUTOFF
    lr: float = 1e-4
    weight_decay: float = 5e-4

    def __post_init__(self) -> None:
        for key in ("k", "kernel_size", "fc_size"):
            if getattr(self, key) < 1:
                raise ValueError(f"MoNetConfig.{key} = {getattr(self, key)} must be >= 1")
        if self.n_classes < 2:
            raise ValueError(f"MoNetConfig.n_classes = {self.n_classes} must be >= 2")
        if not self.channels or min(self.channels) < 1:
            raise ValueError(f"MoNetConfig.channels = {self.channels} needs at least one size, all >= 1")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"MoNetConfig.dropout = {self.dropout} must be in [0, 1)")
        if self.scale <= 0 or self.lr <= 0 or self.weight_decay < 0:
            raise ValueError(f"MoNetConfig: scale ({self.scale}) and lr ({self.lr}) must be > 0 and "
                             f"weight_decay ({self.weight_decay}) >= 0")

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> MoNetConfig:
        """The config saved as ``dataclasses.asdict`` (JSON turns its tuples into lists)."""
        return cls(**{**values, "channels": tuple(values["channels"])})


def knn_adjacency(pos: Tensor, mask: Tensor, k: int) -> Tensor:
    """Directed k-nearest-neighbour graph: adj [B, n, n] bool, ``adj[b, i, j]`` iff j is among i's k nearest.

    pos [B, n, 2], mask [B, n] bool. Only real nodes are linked, never a node to itself; a graph with fewer
    than k + 1 real nodes links each to all others. Equal distances are ordered by node index.
    """
    n = pos.shape[1]
    dist = torch.cdist(pos, pos, compute_mode="donot_use_mm_for_euclid_dist")
    invalid = ~(mask[:, :, None] & mask[:, None, :]) | torch.eye(n, dtype=torch.bool, device=pos.device)
    dist = dist.masked_fill(invalid, torch.inf)
    nearest = dist.argsort(dim=-1, stable=True)[..., :k]
    found = torch.gather(dist, -1, nearest).isfinite()
    return torch.zeros_like(invalid).scatter_(-1, nearest, found)


def match_clusters(pos: Tensor, adj: Tensor, mask: Tensor) -> Tensor:
    """Graclus matching of neighbours into pairs: cluster [B, n] int64, each node's cluster id in [0, n).

    Weights are the normalised cut ``w_ij = |pos_i - pos_j| (1/deg_i + 1/deg_j)`` on the undirected graph
    ``adj | adj^T`` (deg: its degrees). Pairs are taken heaviest edge first (ties: lower node index), which
    is graclus' greedy matching without its random node order, found in parallel: every unmatched node
    points at its heaviest unmatched neighbour, mutual pointers are matched, repeat. A pair's id is its
    lower node index; unmatched and padding nodes keep their own index.
    """
    b, n = mask.shape
    both = adj | adj.transpose(1, 2)
    deg = both.sum(-1).clamp(min=1).to(pos.dtype)
    weight = torch.cdist(pos, pos, compute_mode="donot_use_mm_for_euclid_dist") * (
        1 / deg[:, :, None] + 1 / deg[:, None, :])
    weight = weight.masked_fill(~both, -torch.inf)
    index = torch.arange(n, device=pos.device).expand(b, n)
    partner, free = index.clone(), mask.clone()
    while True:  # each round matches the heaviest remaining edge at least, so it ends within n / 2 rounds
        open_weight = weight.masked_fill(~(free[:, :, None] & free[:, None, :]), -torch.inf)
        best = open_weight.argmax(-1)  # first maximum: ties go to the lower index
        mutual = torch.gather(open_weight, -1, best[..., None])[..., 0].isfinite()
        mutual &= torch.gather(best, 1, best) == index
        if not mutual.any():
            return torch.minimum(partner, index)
        partner = torch.where(mutual, best, partner)
        free &= ~mutual


def max_pool(x: Tensor, pos: Tensor, adj: Tensor, mask: Tensor,
             cluster: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Pool nodes by ``cluster`` [B, n] (ids in [0, n), a cluster's id is one of its nodes), like PyTorch
    Geometric's ``max_pool``.

    x [B, n, F], pos [B, n, 2], adj [B, n, n], mask [B, n]. A cluster gets the elementwise maximum of its
    real members' features, their mean position, and an edge from another cluster whenever one of that
    cluster's members sends to one of its members (no self-loops). Returns (x [B, m, F], pos [B, m, 2],
    adj [B, m, m], mask [B, m]), clusters in the order of their ids, m the largest cluster count in the batch;
    graphs with fewer clusters are padded (mask False, zeros).
    """
    n = mask.shape[1]
    is_id = mask & (cluster == torch.arange(n, device=mask.device))
    rank = (is_id.cumsum(1) - 1).clamp(min=0)
    m = max(int(is_id.sum(1).max()), 1) if is_id.numel() else 1
    slot = torch.gather(rank, 1, cluster)  # each node's cluster position in 0..m-1 (garbage for padding)
    member = F.one_hot(slot, m).to(x.dtype) * mask[..., None]  # [B, n, m]
    size = member.sum(1)
    pooled_mask = size > 0
    pooled_pos = (member.transpose(1, 2) @ pos) / size.clamp(min=1)[..., None]
    source = x.masked_fill(~mask[..., None], -torch.inf)
    pooled_x = x.new_full((x.shape[0], m, x.shape[2]), -torch.inf)
    pooled_x = pooled_x.scatter_reduce(1, slot[..., None].expand_as(x), source, "amax")
    pooled_x = pooled_x.masked_fill(~pooled_mask[..., None], 0.0)
    links = member.transpose(1, 2) @ adj.to(x.dtype) @ member
    pooled_adj = (links > 0) & ~torch.eye(m, dtype=torch.bool, device=x.device)
    return pooled_x, pooled_pos, pooled_adj, pooled_mask


def neighbour_lists(adj: Tensor) -> tuple[Tensor, Tensor]:
    """Each node's senders in ``adj`` [B, n, n] as index [B, n, d] and valid [B, n, d] bool, d = max in-degree.

    Row i lists the j with ``adj[b, i, j]`` in increasing order, then padding (index 0, valid False).
    """
    count = adj.sum(-1)
    width = max(int(count.max()), 1) if count.numel() else 1
    column = torch.where(adj, adj.cumsum(-1) - 1, width)  # position in the row's list; non-edges to a spare column
    senders = torch.arange(adj.shape[-1], device=adj.device).expand_as(column)
    index = torch.zeros(*adj.shape[:2], width + 1, dtype=torch.long, device=adj.device)
    index = index.scatter_(-1, column, senders)[..., :width]
    return index, torch.arange(width, device=adj.device) < count[..., None]


def gather_nodes(values: Tensor, index: Tensor) -> Tensor:
    """values [B, n, F] at neighbour indices [B, n, d] -> [B, n, d, F]."""
    b, n, d = index.shape
    flat = index.reshape(b, n * d, 1).expand(-1, -1, values.shape[-1])
    return torch.gather(values, 1, flat).reshape(b, n, d, -1)


class DenseGMMConv(GMMConv):
    """PyTorch Geometric's GMMConv (its parameters, initialisation and function) on dense batches.

    ``x_i' = root(x_i) + bias + mean_j sum_k w_k(u_ij) (x_j @ g_k)`` with Gaussian kernels
    ``w_k(u) = exp(-0.5 sum_d (u_d - mu_kd)^2 / sigma_kd^2)``. GMMConv evaluates ``x_j @ g`` per edge,
    [E, K, F_out] values; the weights are scalars, so the same sum is ``sum_k (mean_j w_k(u_ij) x_j) @ g_k``:
    one [K, d] x [d, F_in] product per node, then one matrix product, with nothing of size E x K x F stored.
    Only GMMConv's default form (shared Gaussians, mean aggregation, root weight, bias) is supported.
    """

    def __init__(self, in_channels: int, out_channels: int, dim: int, kernel_size: int) -> None:
        super().__init__(in_channels, out_channels, dim=dim, kernel_size=kernel_size)

    def _log_kernels(self, pseudo: Tensor) -> Tensor:
        """``log w_k(u) = sum_d c_kd (u_d - mu_kd)^2``, c = -1 / (2 sigma^2): pseudo [..., dim] -> [..., K].

        Expanded into ``[u^2, u, 1] @ [c; -2 c mu; sum_d c mu^2]``, one small matrix product instead of a
        dozen passes over [..., K, dim] tensors; in float64, so that the expansion loses no precision.
        """
        c = -0.5 / (1e-15 + self.sigma.double().pow(2))  # [K, dim]
        mu = self.mu.double()
        u = pseudo.double()
        terms = torch.cat((u.square(), u, torch.ones_like(u[..., :1])), dim=-1)  # [..., 2 dim + 1]
        coefficients = torch.cat((c.T, (-2 * c * mu).T, (c * mu.square()).sum(-1, keepdim=True).T))
        return (terms @ coefficients).to(pseudo.dtype)

    def forward(self, x: Tensor, index: Tensor, valid: Tensor, pseudo: Tensor) -> Tensor:
        """x [B, n, F_in]; senders index, valid [B, n, d] (:func:`neighbour_lists`); pseudo [B, n, d, dim]
        -> [B, n, F_out]."""
        k, f_in, f_out = self.kernel_size, self.in_channels, self.out_channels
        gaussian = torch.exp(self._log_kernels(pseudo)) * valid[..., None]  # [B, n, d, K]
        mixed = gaussian.transpose(-1, -2) @ gather_nodes(x, index)  # [B, n, K, F_in]
        mixed = mixed / valid.sum(-1).clamp(min=1)[..., None, None]
        weight = self.g.view(f_in, k, f_out).transpose(0, 1).reshape(k * f_in, f_out)
        return mixed.flatten(2) @ weight + self.root(x) + self.bias


def pseudo_coordinates(pos_target: Tensor, pos_source: Tensor, scale: float) -> Tensor:
    """The seed code's Cartesian pseudo-coordinates ``(pos_target - pos_source) / (2 scale) + 0.5`` [..., 2]."""
    return (pos_target - pos_source) / (2 * scale) + 0.5


class MoNet(nn.Module):
    """The seed paper's MoNet graph classifier on dense batches (see the module docstring)."""

    def __init__(self, config: MoNetConfig) -> None:
        super().__init__()
        self.config = config
        sizes = (1, *config.channels)
        self.convs = nn.ModuleList(DenseGMMConv(a, b, dim=2, kernel_size=config.kernel_size)
                                   for a, b in zip(sizes[:-1], sizes[1:]))
        self.fc1 = nn.Linear(config.channels[-1], config.fc_size)
        self.fc2 = nn.Linear(config.fc_size, config.n_classes)

    def fc1_activations(self, nodes: Tensor, mask: Tensor) -> Tensor:
        """The first fully connected layer's output (before its ELU), the GFD features: [B, fc_size]."""
        if nodes.dim() != 3 or nodes.shape[-1] < 3 or mask.shape != nodes.shape[:2]:
            raise ValueError(f"MoNet needs nodes [B, n, 3] = (x, y, intensity) and mask [B, n]; got nodes "
                             f"{tuple(nodes.shape)} and mask {tuple(mask.shape)}")
        mask = mask.bool()
        pos = nodes[..., :2]
        x = (nodes[..., 2:3] + 0.5).masked_fill(~mask[..., None], 0.0)
        adj = knn_adjacency(pos, mask, self.config.k)
        for layer, conv in enumerate(self.convs):
            if layer:
                x, pos, adj, mask = max_pool(x, pos, adj, mask, match_clusters(pos, adj, mask))
            index, valid = neighbour_lists(adj)
            pseudo = pseudo_coordinates(pos[:, :, None, :], gather_nodes(pos, index), self.config.scale)
            x = F.elu(conv(x, index, valid, pseudo)).masked_fill(~mask[..., None], 0.0)
        pooled = x.sum(1) / mask.sum(1, keepdim=True).clamp(min=1)
        return self.fc1(pooled)

    def forward(self, nodes: Tensor, mask: Tensor) -> Tensor:
        """Class logits [B, n_classes] of graphs nodes [B, n, 3], mask [B, n]."""
        hidden = F.dropout(F.elu(self.fc1_activations(nodes, mask)), self.config.dropout, self.training)
        return self.fc2(hidden)


@torch.no_grad()
def apply_batched(fn: Callable[[Tensor, Tensor], Tensor], model: nn.Module, nodes: Tensor, mask: Tensor,
                  batch_size: int = 256) -> Tensor:
    """``fn(nodes, mask)`` (a method of ``model``) in eval mode over batches on the model's device -> CPU tensor."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        parts = [fn(nodes[i:i + batch_size].to(device, torch.float32), mask[i:i + batch_size].to(device)).cpu()
                 for i in range(0, len(nodes), batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(parts)


def accuracy(logits: Tensor, labels: Tensor, n_classes: int) -> tuple[float, list[float]]:
    """Fraction of argmax(logits [N, C]) equal to labels [N], overall and per true class (NaN if absent)."""
    correct = (logits.argmax(1) == labels).double()
    per_class = [correct[labels == c].mean().item() if (labels == c).any() else float("nan")
                 for c in range(n_classes)]
    return correct.mean().item(), per_class


class MoNetTask:
    """The MoNet classifier for :func:`hepgraph.train.loop.fit`: Adam on the cross entropy.

    Batches are (nodes [B, n, 3], mask [B, n] bool, label [B] int64). ``validate`` returns the cross entropy
    ``loss`` and ``accuracy`` on ``val`` = (nodes, mask, label); use ``best_metric="accuracy"``,
    ``best_mode="max"``.
    """

    def __init__(self, config: MoNetConfig, device: torch.device,
                 val: tuple[Tensor, Tensor, Tensor] | None = None, eval_batch: int = 256) -> None:
        self.config, self.eval_batch, self.val = config, eval_batch, val
        self.model = MoNet(config).to(device)
        self.models = {MODEL_NAME: self.model}
        self.optimizers = {MODEL_NAME: torch.optim.Adam(self.model.parameters(), lr=config.lr,
                                                        weight_decay=config.weight_decay)}

    def train_step(self, batch: tuple[Tensor, Tensor, Tensor]) -> dict[str, float]:
        nodes, mask, labels = batch
        self.model.train()
        optimizer = self.optimizers[MODEL_NAME]
        optimizer.zero_grad(set_to_none=True)
        logits = self.model(nodes, mask)
        loss = F.cross_entropy(logits, labels)
        loss.backward()
        optimizer.step()
        return {"loss": loss.item(), "accuracy": (logits.argmax(1) == labels).float().mean().item()}

    def validate(self) -> dict[str, float]:
        if self.val is None:
            return {}
        nodes, mask, labels = self.val
        logits = apply_batched(self.model, self.model, nodes, mask, self.eval_batch)
        return {"loss": F.cross_entropy(logits, labels).item(),
                "accuracy": accuracy(logits, labels, self.config.n_classes)[0]}


def load_classifier(path: str | Path, device: str | torch.device = "cpu") -> MoNet:
    """The MoNet saved in a :mod:`hepgraph.train.checkpoint` file (``best.pt`` or ``last.pt``), in eval mode."""
    ckpt = load_checkpoint(path, device)
    if META_KEY not in ckpt.get("meta", {}):
        raise ValueError(f"checkpoint {path} holds no MoNet classifier (no '{META_KEY}' settings in its meta); "
                         "give the model.pt written by python -m hepgraph.stages.train_gfd_classifier")
    model = MoNet(MoNetConfig.from_dict(ckpt["meta"][META_KEY])).to(device)
    load_states(path, ckpt["models"], {MODEL_NAME: model})
    return model.eval()


def checkpoint_meta(config: MoNetConfig, **settings: Any) -> dict[str, Any]:
    """The ``meta`` to give :func:`hepgraph.train.loop.fit`: the config (read by :func:`load_classifier`) and
    the other ``settings`` that define the run."""
    return {META_KEY: dataclasses.asdict(config), **settings}
