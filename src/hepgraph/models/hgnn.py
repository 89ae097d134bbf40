"""Track-finding GNNs of Liu et al. 2023, "Hierarchical Graph Neural Networks for Particle Track Reconstruction".

Every model reads an event's hits (features ``x`` [N, F]) and its constructed graph (``edge_index`` [2, E], each
undirected edge once; edges start from their hits' states and geometric features, see :func:`edge_features`),
encodes them with an interaction network (Battaglia et al. 2016: residual edge updates
e_ij <- e_ij + phi_e(e_ij, h_i, h_j), then node updates h_i <- h_i + phi_n(h_i, sum of e over i's edges)), and
builds track candidates, one label per hit (-1: no track):

- ``ec``: edge classifier, trained with class-balanced BCE (true and false edges weigh half each, as in the reference
  code); edges scoring above the cut are kept, connected components are the tracks.
- ``emb_in``: L2-normalised node embeddings trained with a class-balanced hinge loss on the true edges against the
  hard negatives (other particles' hits within the margin) and random pairs; HDBSCAN clusters are the tracks.
- ``emb_hgnn``: the flat IN's normalised embeddings n_i score each edge by s_ij = atanh(n_i . n_j); a two-component
  Gaussian mixture of the scores sets the cut (where ln p_in - ln p_out = ``gmm_r``; an exponential moving average
  over the training events, momentum ``cut_momentum``, fixed in evaluation, as in the reference code); connected
  components of the edges above it with >= ``min_supernode_hits`` hits become supernodes X_a = normalise(mean n_i),
  whose states start as their hits' mean state. Each hit is linked
  to its ``k_bipartite`` nearest supernodes (weights softmax of BatchNorm(n_i . X_a), i.e. f = exp), each supernode
  to its ``k_super`` nearest (symmetrised; weights sigmoid(BatchNorm(X_a . X_b)), normalised), and
  ``hier_layers`` rounds of hierarchical message passing update supernodes, superedges, nodes and edges in turn.
  Its final node embeddings are clustered by HDBSCAN as for ``emb_in``.
- ``bc_hgnn``: the same hierarchy, ending in a bipartite classifier that scores each (hit, supernode) edge from
  their states and the similarity n_i . X_a; a hit joins its best supernode if that scores above the cut. It
  trains with the bipartite matching loss (each supernode matched to a distinct particle by a minimum-weight full
  bipartite matching that maximises the particles' summed assignment probability, the clusters as prior; then
  class-balanced BCE against the matched targets) plus a squared-hinge "training wheel" loss on the intermediate
  embeddings whose weight falls linearly from 1 to 0 over the first ``wheel_epochs`` epochs.

The score cut of ``ec`` and ``bc_hgnn`` (a buffer, ``edge_cut`` at first) is the one of ``cut_grid`` whose tracks
score best on the validation events after each epoch: class-balanced training calibrates the scores to equal
priors, so the best cut lies well above 1/2 (0.9-0.95 for ``ec`` on the default events, not the reference's 0.7).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from scipy.sparse.csgraph import connected_components, min_weight_full_bipartite_matching
from sklearn.cluster import HDBSCAN
from torch import Tensor, nn
from torch_geometric.data import Data

from hepgraph.models.metric_learning import balanced_weights, edge_truth, hinge_loss, mlp, training_pairs

MODELS = ("ec", "emb_in", "emb_hgnn", "bc_hgnn")
CUT_MODELS = ("ec", "bc_hgnn")  # the models whose tracks depend on a score cut


@dataclass(frozen=True)
class HGNNConfig:
    """Settings of the four models (those of the hierarchy are ignored by ``ec`` and ``emb_in``)."""

    in_features: int = 3
    hidden: int = 64
    layers: int = 4               # flat interaction-network iterations
    hier_layers: int = 2          # hierarchical message-passing iterations
    dim: int = 12                 # embedding dimension (unit sphere S^(dim-1))
    margin: float = 1.0           # hinge margin on embedding distances (the reference code's train_r)
    hard_negatives: int = 100     # emb_in, emb_hgnn: each hit's nearest embedded hits within the margin (knn)
    random_pairs: int = 2         # random pairs per hit added to the embedding losses
    edge_cut: float = 0.7         # ec: edge score cut; bc_hgnn: assignment score cut, until validation picks one
    cut_grid: tuple[float, ...] = (0.5, 0.7, 0.8, 0.9, 0.95, 0.97, 0.98, 0.99)  # the cuts validation chooses from
    gmm_r: float = 5.0            # clustering granularity r of the Gaussian-mixture cut (the reference code's 5)
    cut_momentum: float = 0.95    # the cut is a moving average over training events (the reference code's 0.95)
    min_supernode_hits: int = 3
    k_bipartite: int = 8          # supernodes per hit
    k_super: int = 8              # neighbours per supernode
    min_cluster_size: int = 5     # HDBSCAN (the reference code's inference value; 3 splits tracks into fragments)
    wheel_epochs: int = 10        # training-wheel loss fades out over these epochs
    augment: bool = True          # train on each event turned by a random phi and mirrored in z half the time
    lr: float = 1e-3


class InteractionNetwork(nn.Module):
    """``layers`` residual edge and node updates of node states h [N, H] and edge states e [E, H]."""

    def __init__(self, hidden: int, layers: int) -> None:
        super().__init__()
        self.edge_nets = nn.ModuleList(mlp([3 * hidden, hidden, hidden]) for _ in range(layers))
        self.node_nets = nn.ModuleList(mlp([2 * hidden, hidden, hidden]) for _ in range(layers))

    def forward(self, h: Tensor, e: Tensor, edge_index: Tensor) -> tuple[Tensor, Tensor]:
        i, j = edge_index
        for edge_net, node_net in zip(self.edge_nets, self.node_nets):
            e = e + edge_net(torch.cat([e, h[i], h[j]], dim=1))
            h = h + node_net(torch.cat([h, incident_sum(e, edge_index, len(h))], dim=1))
        return h, e


EDGE_FEATURES = 6


def edge_features(x: Tensor, edge_index: Tensor) -> Tensor:
    """[E, 6] geometric features of each edge from its hits' scaled (r, phi, z) ``x``, oriented outwards (from the
    hit of smaller r): dr, dphi (wrapped into [-1, 1)), dz, d eta, the z at r = 0 of the line through both hits
    (/ 1000 mm, clipped to +-10) and dphi / dr (clipped to +-10): small for tracks of high pT from the origin."""
    a, b = x[edge_index[0]], x[edge_index[1]]
    d = b - a
    sign = torch.where(d[:, 0] < 0, -1.0, 1.0).unsqueeze(1)
    d = d * sign
    dphi = torch.remainder(d[:, 1] + 1, 2) - 1
    inner = torch.where(sign > 0, a, b)
    dr = d[:, 0].clamp_min(1e-6)
    eta = torch.asinh(x[:, 2] / x[:, 0].clamp_min(1e-6))
    deta = (eta[edge_index[1]] - eta[edge_index[0]]) * sign.squeeze(1)
    z0 = (inner[:, 2] - inner[:, 0] * d[:, 2] / dr).clamp(-10, 10)
    return torch.stack([d[:, 0], dphi, d[:, 2], deta, z0, (dphi / dr).clamp(-10, 10)], dim=1)


def incident_sum(e: Tensor, edge_index: Tensor, n: int) -> Tensor:
    """[n, H]: the sum of the edge states e [E, H] over the (undirected) edges of each node."""
    out = e.new_zeros(n, e.shape[1])
    return out.index_add(0, edge_index[0], e).index_add(0, edge_index[1], e)


@dataclass
class Hierarchy:
    """An event's supernodes and the graphs linking them: ``cluster`` [N] (supernode of each hit, -1: none),
    ``centres`` X [K, D], bipartite edges (``bip_hit``, ``bip_sn``, weight ``bip_w``, similarity ``bip_sim`` =
    n_i . X_a) [B] and super edges (``sup_src``, ``sup_dst``, ``sup_w``) [S]."""

    cluster: Tensor
    centres: Tensor
    bip_hit: Tensor
    bip_sn: Tensor
    bip_w: Tensor
    bip_sim: Tensor
    sup_src: Tensor
    sup_dst: Tensor
    sup_w: Tensor


def gaussian_mixture(values: np.ndarray, iterations: int = 100, tol: float = 1e-6) -> tuple[np.ndarray, ...]:
    """Two-component 1-D Gaussian mixture fitted by expectation-maximisation, started from the lower and upper
    quartiles: (weights, means, standard deviations), each [2], means ascending."""
    x = np.asarray(values, np.float64)
    mean = np.quantile(x, [0.25, 0.75])
    std = np.full(2, x.std() / 2 + 1e-6)
    weight = np.full(2, 0.5)
    last = -np.inf
    for _ in range(iterations):
        log_p = np.log(weight) - np.log(std) - 0.5 * ((x[:, None] - mean) / std) ** 2
        top = log_p.max(axis=1, keepdims=True)
        log_total = top + np.log(np.exp(log_p - top).sum(axis=1, keepdims=True))
        resp = np.exp(log_p - log_total)
        n = resp.sum(axis=0) + 1e-12
        weight, mean = n / len(x), (resp * x[:, None]).sum(axis=0) / n
        std = np.sqrt((resp * (x[:, None] - mean) ** 2).sum(axis=0) / n) + 1e-6
        likelihood = log_total.sum()
        if likelihood - last < tol * len(x):
            break
        last = likelihood
    order = np.argsort(mean)
    return weight[order], mean[order], std[order]


def gmm_cut(scores: np.ndarray, r: float = 0.0, max_samples: int = 5000, seed: int = 0) -> float:
    """The score where ln p_in(s) - ln p_out(s) = ``r`` for a two-component Gaussian mixture of ``scores`` (p_in the
    component of higher mean; densities weighted by the mixture weights), searched between the two means (a random
    ``max_samples`` of the scores are fitted)."""
    scores = np.asarray(scores, np.float64).ravel()
    if len(scores) > max_samples:
        scores = np.random.default_rng(seed).choice(scores, max_samples, replace=False)
    if len(scores) < 2 or np.ptp(scores) == 0:
        return float(scores.mean()) if len(scores) else 0.0
    weight, mean, std = gaussian_mixture(scores)
    grid = np.linspace(mean[0], mean[1], 1001)
    log_p = np.log(weight) - np.log(std) - 0.5 * ((grid[:, None] - mean) / std) ** 2
    above = np.nonzero(log_p[:, 1] - log_p[:, 0] >= r)[0]
    return float(grid[above[0]] if len(above) else mean.mean())


def component_labels(n: int, edges: Tensor, min_size: int) -> np.ndarray:
    """int64 [n]: the connected component of each of n nodes joined by ``edges`` [2, E], numbered 0.. in order of
    first hit, or -1 for components of fewer than ``min_size`` nodes."""
    edges = edges.cpu().numpy()
    graph = sp.coo_matrix((np.ones(edges.shape[1]), (edges[0], edges[1])), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    _, first, inverse, counts = np.unique(labels, return_index=True, return_inverse=True, return_counts=True)
    keep = counts >= min_size
    order = np.argsort(first[keep])  # number components by their first node, for stable labels
    new = np.full(len(counts), -1)
    new[np.nonzero(keep)[0][order]] = np.arange(keep.sum())
    return new[inverse]


def knn_dot(query: Tensor, keys: Tensor, k: int, block: int = 8192) -> Tensor:
    """int64 [Q, k]: indices of the ``k`` keys [K, D] with the largest dot product with each query [Q, D]
    (blocks of ``block`` queries, so memory stays at block x K)."""
    k = min(k, len(keys))
    with torch.no_grad():
        return torch.cat([(query[a:a + block] @ keys.T).topk(k, dim=1).indices
                          for a in range(0, len(query), block)]) if len(query) else query.new_zeros(0, k).long()


def scatter_mean(values: Tensor, index: Tensor, n: int) -> Tensor:
    """[n, H]: the mean of values [M, H] over rows with the same ``index`` [M] (0 where none)."""
    total = values.new_zeros(n, values.shape[1]).index_add(0, index, values)
    count = values.new_zeros(n).index_add(0, index, torch.ones_like(index, dtype=values.dtype))
    return total / count.clamp_min(1).unsqueeze(1)


def batch_norm(norm: nn.BatchNorm1d, values: Tensor) -> Tensor:
    """``norm`` applied to values [M] (training mode needs M > 1: fewer pass through unchanged)."""
    if norm.training and len(values) < 2:
        return values
    return norm(values.unsqueeze(1)).squeeze(1)


def group_normalise(w: Tensor, index: Tensor, n: int) -> Tensor:
    """w [M] divided by the sum of w over rows with the same ``index`` [M]."""
    return w / w.new_zeros(n).index_add(0, index, w)[index].clamp_min(1e-12)


class HierarchicalLayer(nn.Module):
    """One round of hierarchical message passing (supernode, superedge, node, then edge update, all residual)."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.supernode, self.superedge = mlp([3 * hidden, hidden, hidden]), mlp([3 * hidden, hidden, hidden])
        self.node, self.edge = mlp([3 * hidden, hidden, hidden]), mlp([3 * hidden, hidden, hidden])

    def forward(self, h: Tensor, e: Tensor, s: Tensor, es: Tensor, edge_index: Tensor,
                hier: Hierarchy) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        k = len(s)
        w_b, w_s = hier.bip_w.unsqueeze(1), hier.sup_w.unsqueeze(1)
        from_hits = s.new_zeros(k, s.shape[1]).index_add(0, hier.bip_sn, w_b * h[hier.bip_hit])
        from_super = s.new_zeros(k, s.shape[1]).index_add(0, hier.sup_src, w_s * es)
        s = s + self.supernode(torch.cat([s, from_hits, from_super], dim=1))
        es = es + self.superedge(torch.cat([es, s[hier.sup_src], s[hier.sup_dst]], dim=1))
        from_sn = h.new_zeros(h.shape).index_add(0, hier.bip_hit, w_b * s[hier.bip_sn])
        h = h + self.node(torch.cat([h, from_sn, incident_sum(e, edge_index, len(h))], dim=1))
        e = e + self.edge(torch.cat([e, h[edge_index[0]], h[edge_index[1]]], dim=1))
        return h, e, s, es


class TrackingGNN(nn.Module):
    """One of :data:`MODELS`. ``forward(x, edge_index)`` returns a dict of tensors:
    ``edge_logits`` [E] (ec), ``embedding`` [N, dim] (emb_in, emb_hgnn: unit vectors), ``flat_embedding`` [N, dim]
    and ``hierarchy`` (hierarchical models), ``bip_logits`` [B] (bc_hgnn)."""

    def __init__(self, kind: str, config: HGNNConfig) -> None:
        super().__init__()
        if kind not in MODELS:
            raise ValueError(f"unknown tracking model {kind!r}; models: {', '.join(MODELS)}")
        self.kind, self.config = kind, config
        hidden = config.hidden
        self.node_encoder = mlp([config.in_features, hidden, hidden], last_activation=True)
        self.edge_encoder = mlp([2 * hidden + EDGE_FEATURES, hidden, hidden], last_activation=True)
        self.flat = InteractionNetwork(hidden, config.layers)
        self.hierarchical = kind in ("emb_hgnn", "bc_hgnn")
        if kind == "ec":
            self.head = mlp([hidden, hidden, 1])
        elif kind == "emb_in" or self.hierarchical:
            self.head = mlp([hidden, hidden, config.dim])
        if self.hierarchical:
            self.bip_norm, self.sup_norm = nn.BatchNorm1d(1), nn.BatchNorm1d(1)
            self.superedge_encoder = mlp([2 * hidden, hidden, hidden], last_activation=True)
            self.register_buffer("cluster_cut", torch.tensor(float("nan")))  # moving average of the GMM cut
            self.layers = nn.ModuleList(HierarchicalLayer(hidden) for _ in range(config.hier_layers))
            self.out = (mlp([hidden, hidden, config.dim]) if kind == "emb_hgnn" else mlp([2 * hidden + 1, hidden, 1]))
        self.register_buffer("epochs_done", torch.zeros((), dtype=torch.long))  # for the training-wheel schedule
        self.register_buffer("cut", torch.tensor(config.edge_cut))  # ec, bc_hgnn: chosen on the validation events

    def forward(self, x: Tensor, edge_index: Tensor) -> dict[str, Tensor | Hierarchy]:
        h = self.node_encoder(x)
        e = self.edge_encoder(torch.cat([h[edge_index[0]], h[edge_index[1]], edge_features(x, edge_index)], dim=1))
        h, e = self.flat(h, e, edge_index)
        if self.kind == "ec":
            return {"edge_logits": self.head(e).squeeze(1)}
        embedding = F.normalize(self.head(h), dim=1)
        if not self.hierarchical:
            return {"embedding": embedding}
        hier = self.hierarchy(embedding, edge_index)
        members = hier.cluster >= 0
        s = scatter_mean(h[members], hier.cluster[members], len(hier.centres))
        es = self.superedge_encoder(torch.cat([s[hier.sup_src], s[hier.sup_dst]], dim=1))
        for layer in self.layers:
            h, e, s, es = layer(h, e, s, es, edge_index, hier)
        out = {"flat_embedding": embedding, "hierarchy": hier}
        if self.kind == "emb_hgnn":
            out["embedding"] = F.normalize(self.out(h), dim=1)
        else:
            out["bip_logits"] = self.out(torch.cat([h[hier.bip_hit], s[hier.bip_sn], hier.bip_sim.unsqueeze(1)],
                                                   dim=1)).squeeze(1)
        return out

    def hierarchy(self, n: Tensor, edge_index: Tensor) -> Hierarchy:
        """Supernodes and the bipartite and super graphs from unit embeddings n [N, D] (module docstring)."""
        cfg, dev = self.config, n.device
        with torch.no_grad():
            cos = (n[edge_index[0]] * n[edge_index[1]]).sum(1).clamp(-1 + 1e-6, 1 - 1e-6)
            scores = torch.atanh(cos)
            if self.training:  # the first training event sets the average
                momentum = 0.0 if self.cluster_cut.isnan() else cfg.cut_momentum
                cut = gmm_cut(scores.cpu().numpy(), cfg.gmm_r)
                self.cluster_cut.copy_(momentum * self.cluster_cut.nan_to_num() + (1 - momentum) * cut)
            cut = gmm_cut(scores.cpu().numpy(), cfg.gmm_r) if self.cluster_cut.isnan() else self.cluster_cut
            kept = edge_index[:, scores > cut]
        cluster = torch.from_numpy(component_labels(len(n), kept, cfg.min_supernode_hits)).to(dev)
        k = int(cluster.max()) + 1 if len(cluster) else 0
        if k == 0:
            empty, none = n.new_zeros(0), torch.zeros(0, dtype=torch.long, device=dev)
            return Hierarchy(cluster, n.new_zeros(0, n.shape[1]), none, none, empty, empty, none, none, empty)
        members = cluster >= 0
        centres = F.normalize(scatter_mean(n[members], cluster[members], k), dim=1)
        nearest = knn_dot(n, centres, cfg.k_bipartite)
        bip_hit = torch.arange(len(n), device=dev).repeat_interleave(nearest.shape[1])
        bip_sn = nearest.reshape(-1)
        sim = (n[bip_hit] * centres[bip_sn]).sum(1)
        dots = batch_norm(self.bip_norm, sim)
        bip_w = torch.softmax(dots.view(len(n), -1), dim=1).reshape(-1)  # f = exp, normalised over each hit's k
        near = knn_dot(centres, centres, cfg.k_super + 1)
        src = torch.arange(k, device=dev).repeat_interleave(near.shape[1])
        pairs = torch.stack([src, near.reshape(-1)])
        pairs = pairs[:, pairs[0] != pairs[1]]
        pairs = torch.unique(torch.cat([pairs, pairs.flip(0)], dim=1), dim=1)  # symmetrised
        similarity = (centres[pairs[0]] * centres[pairs[1]]).sum(1)
        sup_w = group_normalise(torch.sigmoid(batch_norm(self.sup_norm, similarity)), pairs[0], k)
        return Hierarchy(cluster, centres, bip_hit, bip_sn, bip_w, sim, pairs[0], pairs[1], sup_w)

    @torch.no_grad()
    def tracks(self, x: Tensor, edge_index: Tensor) -> np.ndarray:
        """int64 [N]: the track candidate of each hit (-1: none) built from this model's output."""
        return self.candidates(self(x, edge_index), len(x), edge_index, float(self.cut))

    def candidates(self, out: Mapping[str, Tensor | Hierarchy], n: int, edge_index: Tensor, cut: float) -> np.ndarray:
        """int64 [n]: the track candidate of each of n hits (-1: none) from this model's ``forward`` output ``out``
        on the graph ``edge_index``, with the score ``cut`` (ec, bc_hgnn)."""
        if self.kind == "ec":
            return component_labels(n, edge_index[:, torch.sigmoid(out["edge_logits"]) > cut], 2)
        if self.kind == "bc_hgnn":
            return best_assignment(out["bip_logits"], out["hierarchy"], n, cut)
        return cluster_embeddings(out["embedding"], self.config.min_cluster_size)


def best_assignment(logits: Tensor, hier: Hierarchy, n: int, cut: float) -> np.ndarray:
    """int64 [n]: each hit's highest-scoring supernode if its score (sigmoid) exceeds ``cut``, else -1."""
    labels = np.full(n, -1, dtype=np.int64)
    if len(logits) == 0:
        return labels
    prob = torch.sigmoid(logits).view(n, -1)
    best, arg = prob.max(dim=1)
    sn = hier.bip_sn.view(n, -1).gather(1, arg.unsqueeze(1)).squeeze(1)
    labels[(best > cut).cpu().numpy()] = sn[best > cut].cpu().numpy()
    return labels


def cluster_embeddings(embedding: Tensor, min_cluster_size: int) -> np.ndarray:
    """int64 [N]: HDBSCAN cluster of each embedded hit (-1: noise)."""
    points = embedding.detach().cpu().numpy().astype(np.float64)
    if len(points) < max(min_cluster_size, 2):
        return np.full(len(points), -1, dtype=np.int64)
    return HDBSCAN(min_cluster_size=min_cluster_size, copy=True).fit_predict(points).astype(np.int64)


def matched_particles(logits: Tensor, bip_hit: Tensor, bip_sn: Tensor, pid: Tensor, k: int,
                      member: Tensor | None = None) -> Tensor:
    """int64 [k]: the particle matched to each of k supernodes (0: none) by the bipartite matching loss.

    The cost of assigning particle p to supernode a is minus the summed assignment probability sigmoid(l_ia) of
    p's hits i over their edges (i, a), plus 1 for each of these hits in a's own cluster (``member`` [B] bool):
    minus the expected number of p's hits the model assigns to a, with the clusters as prior. Supernodes
    and particles linked by an edge are matched one to one, as many as possible and among those at the smallest
    total cost (a minimum-weight full bipartite matching in which each supernode may instead take its own "no
    particle" node, weighted above any set of real pairs)."""
    with torch.no_grad():
        prior = 0 if member is None else member.double()
        delta = -(torch.sigmoid(logits).double() + prior).cpu().numpy()
        hit_pid = pid[bip_hit].cpu().numpy()
        real = hit_pid != 0
        particles, row = np.unique(hit_pid[real], return_inverse=True)
        cost = sp.coo_matrix((delta[real], (row, bip_sn.cpu().numpy()[real])), shape=(len(particles), k)).tocsr()
        cost.sum_duplicates()
        cost.data += 1.0 - min(cost.data.min(initial=0.0), 0.0)  # every weight >= 1
        dummy = sp.identity(k, format="csr") * (k * cost.data.max(initial=1.0) + 1)
        rows, cols = min_weight_full_bipartite_matching(sp.vstack([cost, dummy]).tocsr())
        match = np.zeros(k, dtype=np.int64)
        real_rows = rows < len(particles)
        match[cols[real_rows]] = particles[rows[real_rows]]
    return torch.from_numpy(match).to(pid.device)


def balanced_bce(logits: Tensor, target: Tensor) -> Tensor:
    """Binary cross entropy in which the positive and the negative targets [M] (bool) weigh half each."""
    bce = F.binary_cross_entropy_with_logits(logits, target.float(), reduction="none")
    return (bce * balanced_weights(target)).sum()


def bipartite_matching_loss(logits: Tensor, hier: Hierarchy, pid: Tensor) -> Tensor:
    """Balanced BCE of the bipartite edge logits [B] against targets "the hit's particle is its supernode's match"."""
    match = matched_particles(logits, hier.bip_hit, hier.bip_sn, pid, len(hier.centres),
                              hier.cluster[hier.bip_hit] == hier.bip_sn)
    target = (pid[hier.bip_hit] == match[hier.bip_sn]) & (pid[hier.bip_hit] != 0)
    return balanced_bce(logits, target)


def embedding_pairs(event: Data, random_pairs: int) -> Tensor:
    """[2, P]: the event's graph edges, true edges and ``random_pairs`` random pairs per hit."""
    n = event.num_nodes
    rand = torch.randint(n, (2, n * random_pairs), device=event.x.device)
    return torch.cat([event.edge_index, event.true_index, rand], dim=1)


def augment(x: Tensor) -> Tensor:
    """Hit features [N, F] (scaled r, phi, z first) of an event turned about the beam by a random angle and
    mirrored in z with probability 1/2: the same physics (the detector is close to symmetric under both) in new
    places, so that a model cannot learn where the few training events' tracks lie."""
    x = x.clone()
    x[:, 1] = torch.remainder(x[:, 1] + 2 * torch.rand((), device=x.device), 2) - 1
    if torch.rand(()) < 0.5:
        x[:, 2] = -x[:, 2]
    return x


def wheel_weight(epochs_done: int, wheel_epochs: int) -> float:
    """Training-wheel weight in an epoch after ``epochs_done`` epochs: 1 - epochs_done / wheel_epochs, at least 0."""
    return max(0.0, 1.0 - epochs_done / wheel_epochs) if wheel_epochs > 0 else 0.0


class TrackingTask:
    """A :data:`MODELS` model for :func:`hepgraph.train.loop.fit`; batches are single events with ``edge_index``.

    ``validate`` builds the tracks of ``val_events`` and returns ``score(events, labels)``'s metrics."""

    def __init__(self, kind: str, config: HGNNConfig, device: torch.device, val_events: list[Data],
                 score: Callable[[list[Data], list[np.ndarray]], Mapping[str, float]],
                 steps_per_epoch: int) -> None:
        self.config, self.device, self.val_events, self.score = config, device, val_events, score
        self.model = TrackingGNN(kind, config).to(device)
        self.models = {kind: self.model}
        self.optimizers = {kind: torch.optim.AdamW(self.model.parameters(), lr=config.lr)}
        self.steps_per_epoch, self.steps = steps_per_epoch, 0

    def loss(self, event: Data) -> dict[str, Tensor]:
        cfg, model = self.config, self.model
        out = model(augment(event.x) if cfg.augment else event.x, event.edge_index)
        if model.kind == "ec":
            return {"bce": balanced_bce(out["edge_logits"], edge_truth(event.edge_index, event.pid))}
        losses = {}
        if "embedding" in out:  # true edges against the hard negatives that clustering would see
            emb = out["embedding"]
            pairs = training_pairs(emb.detach(), event, cfg.margin, cfg.hard_negatives, cfg.random_pairs)
            losses["hinge"] = hinge_loss(emb[pairs[0]], emb[pairs[1]], edge_truth(pairs, event.pid), cfg.margin,
                                         balanced=True)
        if model.hierarchical:
            weight = wheel_weight(int(model.epochs_done), cfg.wheel_epochs)
            pairs = embedding_pairs(event, cfg.random_pairs)
            flat = out["flat_embedding"]
            losses["wheel"] = weight * hinge_loss(flat[pairs[0]], flat[pairs[1]], edge_truth(pairs, event.pid),
                                                  cfg.margin, balanced=True)
        if "bip_logits" in out and len(out["bip_logits"]):
            losses["matching"] = bipartite_matching_loss(out["bip_logits"], out["hierarchy"], event.pid)
        return losses

    def train_step(self, event: Data) -> Mapping[str, float]:
        losses = self.loss(event)
        total = sum(losses.values())
        self.optimizers[self.model.kind].zero_grad()
        if total.requires_grad:
            total.backward()
            self.optimizers[self.model.kind].step()
        self.steps += 1
        if self.steps % self.steps_per_epoch == 0:
            self.model.epochs_done += 1
        return {"loss": total.item(), **{k: v.item() for k, v in losses.items()}}

    def validate(self) -> Mapping[str, float]:
        """The validation events' scores; ec and bc_hgnn: with the best cut of ``cut_grid``, which the model keeps."""
        model = self.model
        model.eval()
        graphs = [(e.num_nodes, e.edge_index.to(self.device)) for e in self.val_events]
        with torch.no_grad():
            outs = [model(e.x.to(self.device), edges) for e, (_, edges) in zip(self.val_events, graphs)]
        model.train()

        def score(cut: float) -> dict[str, float]:
            return dict(self.score(self.val_events, [model.candidates(out, n, edges, cut)
                                                     for out, (n, edges) in zip(outs, graphs)]))

        if model.kind not in CUT_MODELS:
            return score(float(model.cut))
        scores = {cut: score(cut) for cut in self.config.cut_grid}
        best = max(scores, key=lambda cut: scores[cut]["score"])
        model.cut.fill_(best)
        return {**scores[best], "cut": best}
