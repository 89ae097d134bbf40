"""Graph GAN of Kansal et al. 2020 (arXiv:2012.00173): message passing on fully connected graphs.

One message-passing iteration updates every node v of a fully connected graph from all the others:

    m_v = sum_{w != v} f_e(h_v, h_w, d_vw),    h_v' = f_n(m_v, h_v),

with d_vw the Euclidean distance between the first ``coords`` features of h_v and h_w (eta/phi for
jets, x/y for MNIST) and f_e, f_n independent MLPs per iteration. The generator turns per-node Normal
noise into node features (tanh output) in ``gen_iters`` iterations; the discriminator gives one sigmoid
value per node after ``disc_iters`` iterations and averages it over the real (unmasked) nodes. Least-squares
GAN loss, RMSprop with learning rates 1e-5 (D) and 3e-5 (G). The ``jets_mpgan`` configuration adds what
its successor MPGAN (Kansal et al. 2021) changed: masking, global noise, a pooled readout, self-loops.

Dropout (probability ``dropout``; the paper: 0.5 in D, none in G) follows every layer of f_e and f_n.
Where the paper and the MPGAN reference code differ, the paper's configurations follow the paper: no self-loops,
a sigmoid per node before averaging (the code averages, then applies the sigmoid); the last f_n layer
outputs only the features used (the code slices them from 32).

The graphs are small and fully connected, so message passing is dense. The edge network (f_e on all
N^2 edges and the sum over senders) is one autograd Function evaluated in cache-sized chunks of graphs,
in parallel over the torch threads: the first f_e layer, linear in (h_v, h_w, d_vw), is computed per
node and broadcast over the edges instead of on a concatenated [B, N, N, 2F+1] input; LeakyReLU and
dropout act in place, dropout's 1/(1-p) is moved into the next layer's weights and its mask is read back
from the zeros; only the layers' activations are kept for the backward pass. Same function as the
textbook evaluation (tests compare them), in a faster order.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import wasserstein_distance
from torch import Tensor, nn

from hepgraph.device import autocast


@dataclass(frozen=True)
class GraphGANConfig:
    """Every setting of the graph GAN; the defaults are the paper's jet model (Table 1).

    Layer tuples list hidden and output sizes of each MLP; its input size follows from the node sizes.
    The latent node features are Normal(0, ``latent_std``) (MPGAN uses 0.2).
    Four switches give MPGAN's jet model (Kansal et al. 2021; the paper's model has them all off):
    ``gen_mask`` (generator nodes beyond a per-graph particle count are padding, the counts taken from the
    real data), ``global_noise`` (> 0: the latent node features are a linear map of one Normal vector of
    this size per graph, MPGAN's "lfc"), ``disc_pool`` (the discriminator averages its last node features
    over the real nodes, then one linear layer and a sigmoid, MPGAN's "dea"); ``self_loops`` adds the
    v = w edge to every sum (MPGAN's default). ``compile`` and ``amp`` (bfloat16 autocast) take effect on
    CUDA only.
    """

    num_nodes: int = 30
    node_features: int = 3
    coords: int = 2
    latent_size: int = 32
    latent_std: float = 1.0
    hidden_size: int = 32
    gen_iters: int = 2
    disc_iters: int = 2
    edge_layers: tuple[int, ...] = (96, 160, 192)
    node_layers: tuple[int, ...] = (256, 256)
    leaky_slope: float = 0.2
    gen_dropout: float = 0.0
    disc_dropout: float = 0.5
    gen_mask: bool = False
    global_noise: int = 0
    disc_pool: bool = False
    self_loops: bool = False
    lr_d: float = 1e-5
    lr_g: float = 3e-5
    compile: bool = True
    amp: bool = True

    def __post_init__(self) -> None:
        for key in ("num_nodes", "node_features", "latent_size", "hidden_size", "gen_iters", "disc_iters"):
            if getattr(self, key) < 1:
                raise ValueError(f"GraphGANConfig.{key} = {getattr(self, key)} must be >= 1")
        smallest = min(self.node_features, self.latent_size, self.hidden_size)
        if not 1 <= self.coords <= smallest:
            raise ValueError(f"GraphGANConfig.coords = {self.coords} must be between 1 and the smallest "
                             f"node size ({smallest}): the distances use the first `coords` node features")
        if self.global_noise < 0:
            raise ValueError(f"GraphGANConfig.global_noise = {self.global_noise} must be >= 0 (0: per-node noise)")
        if self.latent_std <= 0:
            raise ValueError(f"GraphGANConfig.latent_std = {self.latent_std} must be > 0")
        for key in ("gen_dropout", "disc_dropout"):
            if not 0.0 <= getattr(self, key) < 1.0:
                raise ValueError(f"GraphGANConfig.{key} = {getattr(self, key)} must be in [0, 1)")
        if not self.edge_layers or not self.node_layers:
            raise ValueError("GraphGANConfig.edge_layers and node_layers need at least one layer each")


_JET_MLPS = dict(edge_layers=(96, 160, 192), node_layers=(256, 256))
_SMALL_MLPS = dict(edge_layers=(64, 128), node_layers=(256, 256))

#: Paper Table 1: sparse MNIST digits 2, 3, 4, 5, 7 ("mnist_small") and 0, 1, 6, 8, 9 ("mnist_large") take one
#: iteration, MNIST superpixels (75 nodes, every digit) and jets two. The paper trains superpixel digits 2, 4 and 9
#: with lr_g = 1e-5 (the workflow sets that override per run, in gan_runs.smk).
CONFIGS: dict[str, GraphGANConfig] = {
    "jets": GraphGANConfig(num_nodes=30, gen_iters=2, disc_iters=2, **_JET_MLPS),
    "mnist_small": GraphGANConfig(num_nodes=100, gen_iters=1, disc_iters=1, **_SMALL_MLPS),
    "mnist_large": GraphGANConfig(num_nodes=100, gen_iters=1, disc_iters=1, **_JET_MLPS),
    "mnist_superpixels": GraphGANConfig(num_nodes=75, gen_iters=2, disc_iters=2, **_SMALL_MLPS),
    # MPGAN's gluon-jet model (its final_models/mplfc_g settings): same MLPs, masking, global noise,
    # pooled discriminator, self-loops, latent std 0.2, learning rates 3e-5 (D) and 1e-5 (G).
    "jets_mpgan": GraphGANConfig(num_nodes=30, gen_iters=2, disc_iters=2, **_JET_MLPS, gen_mask=True,
                                 global_noise=128, disc_pool=True, self_loops=True, latent_std=0.2,
                                 lr_d=3e-5, lr_g=1e-5),
}


def graph_gan_config(name: str, **overrides) -> GraphGANConfig:
    """The named paper configuration (see ``CONFIGS``) with ``overrides`` applied."""
    if name not in CONFIGS:
        raise ValueError(f"unknown graph GAN config {name!r}; choose one of {sorted(CONFIGS)}")
    fields = {f.name for f in dataclasses.fields(GraphGANConfig)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ValueError(f"unknown GraphGANConfig key(s) {unknown}; valid keys: {sorted(fields)}")
    return dataclasses.replace(CONFIGS[name], **overrides)


def pairwise_distance(coords: Tensor) -> Tensor:
    """Distances d[b, v, w] = |c_w - c_v| between the nodes' coordinates ``coords`` [B, N, C] -> [B, N, N].

    As in the reference code, 1e-12 is added to each component difference so that the gradient stays
    finite where two nodes coincide.
    """
    return torch.linalg.vector_norm(coords.unsqueeze(1) - coords.unsqueeze(2) + 1e-12, dim=-1)


def edge_weights(mask: Tensor | None, batch: int, num_nodes: int, device: torch.device,
                 dtype: torch.dtype = torch.float32, self_loops: bool = False) -> Tensor:
    """Adjacency a[b, v, w] in {0, 1}, [B, N, N]: w sends to v; v to itself only with ``self_loops``;
    masked-out nodes (``mask`` [B, N] False) neither send nor receive."""
    adj = torch.ones(num_nodes, num_nodes, device=device, dtype=dtype)
    if not self_loops:
        adj = adj - torch.eye(num_nodes, device=device, dtype=dtype)
    if mask is None:
        return adj.expand(batch, num_nodes, num_nodes)
    m = mask.to(dtype)
    return adj * m.unsqueeze(1) * m.unsqueeze(2)


_CHUNK = 1 << 17  # elements per fused elementwise step on CPU (stays in cache)
_CHUNK_EDGES = 2048  # edges per fused edge-network step on CPU: all layers of a chunk stay in cache
_BLOCK_CHUNKS = 8  # chunks per unit of parallel work


def _draw_seed() -> int:
    """A seed for numpy bit generators, drawn from torch's CPU RNG (so torch's seed and state decide)."""
    return int(torch.randint(0, 2**62, ()).item())


class _Dropout:
    """Unscaled in-place dropout on CPU: zero each element with probability ``p``.

    The random bits come from numpy's SFC64 (about 4x faster than torch's MT19937), seeded with ``seed``
    or else a draw from torch's RNG; uniform draws d in [0, 2^31) keep an element iff d >= p 2^31
    (p resolved to 2^-31). For float32 the keep mask is the int32 bit pattern (p 2^31 - 1 - d) >> 31
    (all ones where kept), ANDed onto the float bits.
    """

    def __init__(self, p: float, seed: int | tuple[int, int] | None = None) -> None:
        self.p, self.threshold = p, round(p * 2**31) - 1
        self.bits = np.random.SFC64(_draw_seed() if seed is None else seed)

    def __call__(self, part: Tensor) -> None:
        """Apply to contiguous ``part`` in place."""
        n = part.numel()
        draws = torch.from_numpy(self.bits.random_raw((n + 1) // 2).view(np.int32)[:n])
        draws = draws.bitwise_and_(0x7FFFFFFF).view(part.shape)
        if part.dtype == torch.float32:
            part.view(torch.int32).bitwise_and_(torch.rsub(draws, self.threshold).bitwise_right_shift_(31))
        else:
            part.mul_(draws > self.threshold)


def _leaky_drop_(z: Tensor, drop: _Dropout | None, slope: float) -> None:
    """In place on contiguous ``z``: LeakyReLU (identity for slope 1), then ``drop``."""
    for part in z.view(-1).split(_CHUNK):
        if slope != 1.0:
            F.leaky_relu_(part, slope)
        if drop is not None:
            drop(part)


def _leaky_drop_backward_(grad: Tensor, out: Tensor, p: float, slope: float) -> None:
    """In place: ``grad`` of the output -> grad of the input of :func:`_leaky_drop_`, given its ``out``.

    Dropped elements are exactly the zeros of ``out`` (LeakyReLU is zero only at 0: measure zero).
    """
    if slope != 1.0:
        torch.ops.aten.leaky_relu_backward.grad_input(grad, out, slope, True, grad_input=grad)
    if p > 0.0:
        grad.mul_(out.sign().abs_())


class _LeakyDropout(torch.autograd.Function):
    """:func:`_leaky_drop_` with autograd; saves only its output."""

    @staticmethod
    def forward(ctx, z: Tensor, p: float, slope: float) -> Tensor:
        _leaky_drop_(z, _Dropout(p), slope)
        ctx.mark_dirty(z)
        ctx.save_for_backward(z)
        ctx.p, ctx.slope = p, slope
        return z

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None, None]:
        (out,) = ctx.saved_tensors
        grad = grad.contiguous().clone()
        _leaky_drop_backward_(grad, out, ctx.p, ctx.slope)
        return grad, None, None


def leaky_dropout_(z: Tensor, p: float, slope: float) -> Tensor:
    """LeakyReLU(z) (identity for slope 1) with each element zeroed with probability ``p``; on CPU in
    place on contiguous, non-view ``z``. Survivors are NOT scaled by 1/(1-p): the caller folds that
    factor into the next linear operation."""
    if z.device.type != "cpu":  # plain ops, which torch.compile fuses
        z = z if slope == 1.0 else F.leaky_relu(z, slope)
        return z * torch.empty_like(z).bernoulli_(1.0 - p) if p else z
    if p == 0.0:
        return z if slope == 1.0 else F.leaky_relu_(z, slope)
    if torch.is_grad_enabled() and z.requires_grad:
        return _LeakyDropout.apply(z, p, slope)
    _leaky_drop_(z, _Dropout(p), slope)
    return z


Chunk = tuple[int, slice, slice]  # (index, graphs, receivers)


def _edge_blocks(batch: int, n: int) -> list[list[Chunk]]:
    """Numbered chunks of about ``_CHUNK_EDGES`` edges covering a [B, N, N] edge set (whole graphs when
    one fits, else receiver ranges of one graph, so each is contiguous in [B, N, N, H]), grouped into
    blocks of about ``_BLOCK_CHUNKS`` chunks and whole graphs: the units of parallel work."""
    if n * n <= _CHUNK_EDGES:
        step = _CHUNK_EDGES // (n * n)
        chunks = [(slice(b, min(b + step, batch)), slice(0, n)) for b in range(0, batch, step)]
    else:
        step = max(1, _CHUNK_EDGES // n)
        chunks = [(slice(b, b + 1), slice(v, min(v + step, n))) for b in range(batch) for v in range(0, n, step)]
    blocks: list[list[Chunk]] = [[]]
    for index, (graphs, receivers) in enumerate(chunks):
        if len(blocks[-1]) >= _BLOCK_CHUNKS and receivers.start == 0:
            blocks.append([])
        blocks[-1].append((index, graphs, receivers))
    return blocks


def _in_parallel(work: Callable[[list[Chunk]], Any], blocks: list[list[Chunk]]) -> list[Any]:
    """``work(block)`` for every block, results in block order. With several torch threads the blocks
    go to a thread pool, each thread taking the next block when free, with intra-op parallelism off:
    the many small per-chunk ops then never wait at OpenMP barriers, and a thread that another process
    delays holds up no other. Blocks do not depend on the thread count, so neither do the results."""
    threads = torch.get_num_threads()
    if min(threads, len(blocks)) == 1:
        return [work(block) for block in blocks]

    def run(block: list[Chunk]) -> Any:
        torch.set_num_threads(1)
        with torch.no_grad():  # grad mode is per thread; the chunk work is all hand-differentiated
            return work(block)

    try:
        with ThreadPoolExecutor(min(threads, len(blocks))) as pool:
            return list(pool.map(run, blocks))
    finally:
        torch.set_num_threads(threads)


def _edge_forward(u: Tensor, v: Tensor, d: Tensor, adj: Tensor, w_d: Tensor, params: list[Tensor],
                  p: float, slope: float, save: bool) -> tuple[Tensor, list[Tensor]]:
    """Messages m [B, N, H_L] and, if ``save``, every layer's activations [B, N, N, H_l]."""
    batch, n, _ = u.shape
    keep = 1.0 - p
    weights = [w / keep for w in params[0::2]] if p else params[0::2]
    sizes = [u.shape[-1]] + [w.shape[0] for w in weights]
    acts = [u.new_empty(batch, n, n, s) for s in sizes] if save else []
    m = u.new_empty(batch, n, sizes[-1])
    seed = _draw_seed() if p else None  # seeds (seed, chunk): masks independent of the thread count

    def work(block: list[Chunk]) -> None:
        for index, gs, vs in block:
            shape = (gs.stop - gs.start, vs.stop - vs.start, n)
            bufs = [a[gs, vs] for a in acts] if save else [u.new_empty(*shape, s) for s in sizes]
            drop = _Dropout(p, (seed, index)) if p else None
            z = torch.add(u[gs, vs].unsqueeze(2), v[gs].unsqueeze(1), out=bufs[0])
            z.addcmul_(d[gs, vs].unsqueeze(-1), w_d)
            _leaky_drop_(z, drop, slope)
            x = z.view(-1, sizes[0])
            for w, b, buf in zip(weights, params[1::2], bufs[1:]):
                x = torch.addmm(b, x, w.t(), out=buf.view(-1, w.shape[0]))
                _leaky_drop_(x, drop, slope)
            m[gs, vs] = torch.matmul(adj[gs, vs].unsqueeze(-2), x.view(*shape, -1)).squeeze(-2)

    _in_parallel(work, _edge_blocks(batch, n))
    return (m / keep if p else m), acts


class _EdgeMessages(torch.autograd.Function):
    """m_v = sum_w adj_vw f_e(h_v, h_w, d_vw), evaluated chunk by chunk (see :func:`edge_messages`).

    Only the layer activations are stored; the backward pass recomputes nothing and keeps every
    per-edge gradient in cache, chunk by chunk.
    """

    @staticmethod
    def forward(ctx, u, v, d, adj, w_d, p, slope, *params):
        m, acts = _edge_forward(u, v, d, adj, w_d, list(params), p, slope, save=True)
        ctx.save_for_backward(d, adj, w_d, *params, *acts)
        ctx.p, ctx.slope, ctx.layers = p, slope, len(acts)
        return m

    @staticmethod
    def backward(ctx, grad_m):
        d, adj, w_d, *rest = ctx.saved_tensors
        params, acts = rest[:-ctx.layers], rest[-ctx.layers:]
        p, slope = ctx.p, ctx.slope
        keep = 1.0 - p
        weights = [w / keep for w in params[0::2]] if p else params[0::2]
        need_u, need_v, need_d, _, need_wd, _, _, *need_params = ctx.needs_input_grad
        need_w = any(need_params)
        batch, n, _, h1 = acts[0].shape
        grad_m = (grad_m / keep if p else grad_m).contiguous()
        g_u = grad_m.new_empty(batch, n, h1) if need_u else None
        g_v = grad_m.new_zeros(batch, n, h1) if need_v else None
        g_d = grad_m.new_empty(batch, n, n) if need_d else None

        def work(block: list[Chunk]) -> tuple[list[Tensor], Tensor | None]:
            """Fill this block's slices of g_u, g_v, g_d; return its sums for the weights and w_d."""
            g_params = [torch.zeros_like(t) for t in params] if need_w else []
            g_wd = torch.zeros_like(w_d) if need_wd else None
            for _, gs, vs in block:
                g = (adj[gs, vs].unsqueeze(-1).to(grad_m.dtype) * grad_m[gs, vs].unsqueeze(-2))
                g = g.reshape(-1, acts[-1].shape[-1])
                for layer in range(len(weights), 0, -1):
                    out = acts[layer][gs, vs].view(g.shape)
                    _leaky_drop_backward_(g, out, p, slope)
                    if need_w:
                        x = acts[layer - 1][gs, vs].view(-1, acts[layer - 1].shape[-1])
                        g_params[2 * layer - 2].addmm_(g.t(), x)
                        g_params[2 * layer - 1].add_(g.sum(dim=0))
                    g = g @ weights[layer - 1]
                first = acts[0][gs, vs]
                g = g.view(first.shape)
                _leaky_drop_backward_(g, first, p, slope)
                if need_u:
                    g_u[gs, vs] = g.sum(dim=2)
                if need_v:
                    g_v[gs] += g.sum(dim=1)
                if need_d:
                    g_d[gs, vs] = g @ w_d
                if need_wd:
                    g_wd += g.reshape(-1, h1).t() @ d[gs, vs].reshape(-1)
            return g_params, g_wd

        partial = _in_parallel(work, _edge_blocks(batch, n))
        g_params = [sum(ps) for ps in zip(*(g for g, _ in partial))] if need_w else [None] * len(params)
        if need_w and p:
            for g_w in g_params[0::2]:
                g_w /= keep
        g_wd = sum(g for _, g in partial) if need_wd else None
        return (g_u, g_v, g_d, None, g_wd, None, None, *g_params)


def _edge_messages_autograd(u: Tensor, v: Tensor, d: Tensor, adj: Tensor, w_d: Tensor,
                            params: list[Tensor], p: float, slope: float) -> Tensor:
    """:func:`edge_messages` in plain autograd ops on [B, N, N, H] tensors (for GPUs: torch.compile
    fuses the elementwise work)."""
    a = F.dropout(F.leaky_relu(u.unsqueeze(2) + v.unsqueeze(1) + d.unsqueeze(-1) * w_d, slope), p)
    for w, b in zip(params[0::2], params[1::2]):
        a = F.dropout(F.leaky_relu(F.linear(a, w, b), slope), p)
    return torch.einsum("bvw,bvwh->bvh", adj.to(a.dtype), a)


def edge_messages(u: Tensor, v: Tensor, d: Tensor, adj: Tensor, w_d: Tensor, params: list[Tensor],
                  p: float, slope: float) -> Tensor:
    """Aggregated edge-network output m_v = sum_w adj_vw a_L(v, w) [B, N, H_L].

    The first f_e layer is z1_vw = u_v + v_w + d_vw w_d with u = W_recv h + b [B, N, H1] and
    v = W_send h [B, N, H1] computed per node, d [B, N, N]; then a_l = drop(LeakyReLU(z_l)) and
    z_(l+1) = W a_l + b for ``params`` = [W2, b2, W3, b3, ...]. Dropout (probability ``p``, survivors
    scaled by 1/(1-p)) follows every layer. ``adj`` [B, N, N] weighs receiver v, sender w.
    On CPU evaluated in cache-sized chunks of graphs in parallel, storing only the activations for the
    backward pass; elsewhere in plain autograd ops.
    """
    if u.device.type != "cpu":
        return _edge_messages_autograd(u, v, d, adj, w_d, params, p, slope)
    if torch.is_autocast_enabled("cpu"):  # run in the autocast dtype: the out= ops need one dtype
        dtype = torch.get_autocast_dtype("cpu")
        with torch.autocast("cpu", enabled=False):
            return edge_messages(*(t.to(dtype) for t in (u, v, d, adj, w_d)), [t.to(dtype) for t in params],
                                 p, slope)
    if torch.is_grad_enabled() and any(t.requires_grad for t in (u, v, d, w_d, *params)):
        return _EdgeMessages.apply(u, v, d, adj, w_d, p, slope, *params)
    return _edge_forward(u, v, d, adj, w_d, params, p, slope, save=False)[0]


class DenseMPLayer(nn.Module):
    """One message-passing iteration on a fully connected graph, evaluated on dense tensors.

    f_e: Linear(2 F_in + 1 -> edge_layers...) with LeakyReLU after every layer.
    f_n: Linear(edge_layers[-1] + F_in -> node_layers... -> F_out), LeakyReLU after every layer but the
    last. Dropout with probability ``dropout`` after every layer of both (active in training mode).
    The first f_e layer's weight columns act on (h_v, h_w, d_vw) in that order, v receiving.
    """

    def __init__(self, in_size: int, out_size: int, edge_layers: tuple[int, ...],
                 node_layers: tuple[int, ...], coords: int = 2, slope: float = 0.2,
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.in_size, self.coords, self.slope, self.dropout = in_size, coords, slope, dropout
        sizes = [2 * in_size + 1, *edge_layers]
        self.edge_mlp = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, sizes[1:]))
        sizes = [edge_layers[-1] + in_size, *node_layers, out_size]
        self.node_mlp = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, sizes[1:]))

    def messages(self, h: Tensor, adj: Tensor) -> Tensor:
        """Aggregated messages m [B, N, H] of node features ``h`` [B, N, F_in] along ``adj`` [B, N, N]."""
        first = self.edge_mlp[0]
        w_recv, w_send, w_dist = first.weight.split([self.in_size, self.in_size, 1], dim=1)
        params = [t for layer in self.edge_mlp[1:] for t in (layer.weight, layer.bias)]
        return edge_messages(F.linear(h, w_recv, first.bias), F.linear(h, w_send),
                             pairwise_distance(h[..., :self.coords]), adj, w_dist.squeeze(1), params,
                             self.dropout if self.training else 0.0, self.slope)

    def forward(self, h: Tensor, adj: Tensor) -> Tensor:
        """New node features [B, N, F_out] from ``h`` [B, N, F_in] and adjacency ``adj`` [B, N, N]."""
        p = self.dropout if self.training else 0.0
        keep = 1.0 - p
        x = torch.cat((self.messages(h, adj), h), dim=-1).view(-1, self.node_mlp[0].in_features)
        last = len(self.node_mlp) - 1
        for i, layer in enumerate(self.node_mlp):
            weight = layer.weight / keep if p and i else layer.weight
            x = leaky_dropout_(torch.addmm(layer.bias, x, weight.t()), p, self.slope if i < last else 1.0)
        x = x.view(*h.shape[:2], -1)
        return x / keep if p else x


class MPNet(nn.Module):
    """``iters`` message-passing iterations: node size in_size -> hidden_size ... -> out_size."""

    def __init__(self, in_size: int, out_size: int, iters: int, config: GraphGANConfig,
                 dropout: float) -> None:
        super().__init__()
        self.self_loops = config.self_loops
        sizes = [in_size] + [config.hidden_size] * (iters - 1) + [out_size]
        self.layers = nn.ModuleList(
            DenseMPLayer(a, b, config.edge_layers, config.node_layers, config.coords,
                         config.leaky_slope, dropout) for a, b in zip(sizes, sizes[1:]))

    def forward(self, h: Tensor, mask: Tensor | None = None) -> Tensor:
        """Node features [B, N, out_size] from ``h`` [B, N, in_size] and optional node ``mask`` [B, N]."""
        adj = edge_weights(mask, h.shape[0], h.shape[1], h.device, h.dtype, self.self_loops)
        for layer in self.layers:
            h = layer(h, adj)
        return h


class Generator(nn.Module):
    """Latent noise z (and optional mask [B, N]) -> node features [B, N, F] in (-1, 1).

    z is per-node noise [B, N, latent_size], or with ``config.global_noise`` one vector [B, global_noise]
    per graph that a linear layer maps to the latent node features.
    """

    def __init__(self, config: GraphGANConfig) -> None:
        super().__init__()
        self.noise_shape = (config.global_noise,) if config.global_noise else (config.num_nodes, config.latent_size)
        self.latent_map = (nn.Linear(config.global_noise, config.num_nodes * config.latent_size)
                           if config.global_noise else None)
        self.net = MPNet(config.latent_size, config.node_features, config.gen_iters, config,
                         config.gen_dropout)

    def latent_nodes(self, z: Tensor) -> Tensor:
        """The latent node features [B, N, latent_size] of noise ``z``."""
        if self.latent_map is None:
            return z
        return self.latent_map(z).view(z.shape[0], -1, self.net.layers[0].in_size)

    def forward(self, z: Tensor, mask: Tensor | None = None) -> Tensor:
        x = torch.tanh(self.net(self.latent_nodes(z), mask))
        return x if mask is None else x * mask.unsqueeze(-1).to(x.dtype)


class Discriminator(nn.Module):
    """Node features [B, N, F] (and optional mask [B, N]) -> probability of being real [B].

    The paper's readout: one sigmoid per node, averaged over the real nodes. With ``config.disc_pool``
    (MPGAN): hidden_size features per node, LeakyReLU, averaged over the real nodes, a linear layer, sigmoid.
    """

    def __init__(self, config: GraphGANConfig) -> None:
        super().__init__()
        out = config.hidden_size if config.disc_pool else 1
        self.net = MPNet(config.node_features, out, config.disc_iters, config, config.disc_dropout)
        self.slope = config.leaky_slope
        self.readout = nn.Linear(config.hidden_size, 1) if config.disc_pool else None

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        h = self.net(x, mask)
        if self.readout is None:
            return masked_mean(torch.sigmoid(h[..., 0]), mask)
        pooled = masked_mean(F.leaky_relu(h, self.slope), mask)
        return torch.sigmoid(self.readout(pooled)[..., 0])


def masked_mean(values: Tensor, mask: Tensor | None) -> Tensor:
    """Mean of ``values`` [B, N, ...] over the nodes where ``mask`` [B, N] is True (all if None) -> [B, ...]."""
    if mask is None:
        return values.mean(dim=1)
    m = mask.to(values.dtype).view(*mask.shape, *(1,) * (values.dim() - 2))
    return (values * m).sum(dim=1) / m.sum(dim=1).clamp_min(1.0)


def count_mask(z: Tensor, counts: Tensor) -> Tensor:
    """MPGAN's generator mask [B, N] bool: node v of graph b is real iff the rank of z[b, v, 0] among
    the graph's nodes is below ``counts`` [B] (permutation-equivariant)."""
    rank = z[..., 0].argsort(dim=1).argsort(dim=1)
    return rank < counts.unsqueeze(1)


def lsgan_d_loss(d_real: Tensor, d_fake: Tensor) -> Tensor:
    """Least-squares discriminator loss: mean (D(real) - 1)^2 + mean D(fake)^2."""
    return ((d_real - 1.0) ** 2).mean() + (d_fake ** 2).mean()


def lsgan_g_loss(d_fake: Tensor) -> Tensor:
    """Least-squares generator loss: mean (D(fake) - 1)^2."""
    return ((d_fake - 1.0) ** 2).mean()


def node_feature_w1(real: np.ndarray, fake: np.ndarray) -> np.ndarray:
    """1-Wasserstein distance per feature between node sets ``real`` [n, F] and ``fake`` [m, F] -> [F]."""
    return np.array([wasserstein_distance(real[:, i], fake[:, i]) for i in range(real.shape[1])])


MetricsFn = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], Mapping[str, float]]


class GraphGANTask:
    """The graph GAN family for :func:`hepgraph.train.loop.fit`: per batch one D step, then one G step.

    Batches are (nodes [B, N, F] float, mask [B, N] bool). The mask is used only with
    ``config.gen_mask``; otherwise every node is real (padding is generated as zeros, as in the paper).
    ``validate`` compares ``val_nodes``/``val_mask`` with as many generated graphs: LSGAN losses, the
    per-feature node W1 (mean ``w1_nodes``) and whatever ``metrics(real, real_mask, fake, fake_mask)``
    (numpy arrays) returns.
    """

    def __init__(self, config: GraphGANConfig, device: torch.device, val_nodes: Tensor | None = None,
                 val_mask: Tensor | None = None, metrics: MetricsFn | None = None,
                 eval_batch: int = 256) -> None:
        self.config, self.device, self.metrics, self.eval_batch = config, device, metrics, eval_batch
        self.generator = Generator(config).to(device)
        self.discriminator = Discriminator(config).to(device)
        self.models = {"generator": self.generator, "discriminator": self.discriminator}
        self.optimizers = {
            "generator": torch.optim.RMSprop(self.generator.parameters(), lr=config.lr_g),
            "discriminator": torch.optim.RMSprop(self.discriminator.parameters(), lr=config.lr_d),
        }
        if device.type == "cuda" and config.compile:
            self.generator.compile()
            self.discriminator.compile()
        self.val = None
        if val_nodes is not None:
            if val_mask is None:
                val_mask = torch.ones(val_nodes.shape[:2], dtype=torch.bool)
            self.val = (val_nodes.to(device, torch.float32), val_mask.to(device, torch.bool))

    def _autocast(self) -> contextlib.AbstractContextManager:
        return autocast(self.device, self.config.amp)

    def sample(self, n: int, counts: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """Generate ``n`` graphs -> (nodes [n, N, F] float32, mask [n, N] bool or None).

        With ``config.gen_mask`` the real-node ``counts`` [n] are required.
        """
        cfg = self.config
        z = cfg.latent_std * torch.randn(n, *self.generator.noise_shape, device=self.device)
        mask = None
        if cfg.gen_mask:
            if counts is None:
                raise ValueError("GraphGANTask.sample needs `counts` (real nodes per graph) with gen_mask")
            mask = count_mask(self.generator.latent_nodes(z), counts.to(self.device))
        with self._autocast():
            x = self.generator(z, mask)
        return x.float(), mask

    def _fake_counts(self, mask: Tensor) -> Tensor | None:
        """Real-node counts for generated graphs: the real batch's counts, shuffled."""
        if not self.config.gen_mask:
            return None
        return mask.sum(dim=1)[torch.randperm(mask.shape[0], device=mask.device)]

    def train_step(self, batch: tuple[Tensor, Tensor]) -> dict[str, float]:
        real, mask = batch
        n = real.shape[0]
        real_mask = mask if self.config.gen_mask else None
        counts = self._fake_counts(mask)
        d_opt, g_opt = self.optimizers["discriminator"], self.optimizers["generator"]
        self.generator.train()
        self.discriminator.train()

        with torch.no_grad():
            fake, fake_mask = self.sample(n, counts)
        both_mask = None if real_mask is None else torch.cat((real_mask, fake_mask))
        d_opt.zero_grad(set_to_none=True)
        with self._autocast():
            d_out = self.discriminator(torch.cat((real, fake)), both_mask).float()
            loss_d = lsgan_d_loss(d_out[:n], d_out[n:])
        loss_d.backward()
        d_opt.step()

        g_opt.zero_grad(set_to_none=True)
        self.discriminator.requires_grad_(False)
        try:
            fake, fake_mask = self.sample(n, counts)
            with self._autocast():
                loss_g = lsgan_g_loss(self.discriminator(fake, fake_mask).float())
            loss_g.backward()
        finally:
            self.discriminator.requires_grad_(True)
        g_opt.step()
        return {"loss_d": loss_d.item(), "loss_g": loss_g.item()}

    @torch.no_grad()
    def _discriminate(self, x: Tensor, mask: Tensor | None) -> Tensor:
        """D(x) [n] in chunks of ``eval_batch`` graphs (bounded memory)."""
        parts = []
        for i in range(0, x.shape[0], self.eval_batch):
            m = None if mask is None else mask[i:i + self.eval_batch]
            with self._autocast():
                parts.append(self.discriminator(x[i:i + self.eval_batch], m).float())
        return torch.cat(parts)

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        if self.val is None:
            return {}
        self.generator.eval()
        self.discriminator.eval()
        real, real_mask = self.val
        masked = self.config.gen_mask
        if not masked:
            real_mask = torch.ones_like(real_mask)
        counts = self._fake_counts(real_mask)
        parts = [self.sample(min(self.eval_batch, len(real) - i),
                             None if counts is None else counts[i:i + self.eval_batch])
                 for i in range(0, len(real), self.eval_batch)]
        fake = torch.cat([x for x, _ in parts])
        fake_mask = torch.cat([m for _, m in parts]) if masked else torch.ones_like(real_mask)
        d_real = self._discriminate(real, real_mask if masked else None)
        d_fake = self._discriminate(fake, fake_mask if masked else None)
        arrays = [t.cpu().numpy() for t in (real, real_mask, fake, fake_mask)]
        out = {
            "loss_d": lsgan_d_loss(d_real, d_fake).item(),
            "loss_g": lsgan_g_loss(d_fake).item(),
            "w1_nodes": float(node_feature_w1(arrays[0][arrays[1]], arrays[2][arrays[3]]).mean()),
        }
        if self.metrics is not None:
            out.update({k: float(v) for k, v in self.metrics(*arrays).items()})
        return out
