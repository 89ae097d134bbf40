"""Graph GAN (Kansal et al. 2020): architecture, symmetries, masks, fast-vs-reference equality, training."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hepgraph.data import mnist
from hepgraph.data.tables import read_arrays, read_meta
from hepgraph.models import graph_gan as gg
from hepgraph.stages import generate_gan, train_gan
from hepgraph.train.checkpoint import load_checkpoint, load_states
from jet_samples import toy_jets, write_jets

TINY = dict(latent_size=8, hidden_size=8, edge_layers=(16, 12), node_layers=(24,))


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def sevens() -> tuple[torch.Tensor, torch.Tensor]:
    """Sparse MNIST graphs (12 brightest pixels) of 256 real handwritten sevens."""
    images, labels = mnist.load_bundled()
    nodes, mask = mnist.sparse_graphs(images[labels == 7][:256], n_nodes=12)
    return torch.from_numpy(nodes), torch.from_numpy(mask)


@pytest.fixture
def pretend_threads(monkeypatch: pytest.MonkeyPatch):
    """Make the edge network see ``n`` torch threads (thread-pool blocks); the real setting is restored."""
    real = torch.get_num_threads()
    yield lambda n: monkeypatch.setattr(torch, "get_num_threads", lambda: n)
    torch.set_num_threads(real)


def reference_layer(layer: gg.DenseMPLayer, h: torch.Tensor, mask: torch.Tensor | None,
                    self_loops: bool = False) -> torch.Tensor:
    """The textbook evaluation: concatenate (h_v, h_w, d_vw) for every edge, run f_e, masked sum, f_n."""
    b, n, f = h.shape
    h_v, h_w = h.unsqueeze(2).expand(b, n, n, f), h.unsqueeze(1).expand(b, n, n, f)
    d = torch.linalg.vector_norm(h_w[..., :layer.coords] - h_v[..., :layer.coords] + 1e-12, dim=-1, keepdim=True)
    e = torch.cat((h_v, h_w, d), dim=-1)
    for lin in layer.edge_mlp:
        e = F.leaky_relu(lin(e), layer.slope)
    real = torch.ones(b, n, dtype=h.dtype) if mask is None else mask.to(h.dtype)
    adj = real.unsqueeze(1) * real.unsqueeze(2) * (1 - (0 if self_loops else torch.eye(n, dtype=h.dtype)))
    x = torch.cat(((e * adj.unsqueeze(-1)).sum(dim=2), h), dim=-1)
    for i, lin in enumerate(layer.node_mlp):
        x = lin(x)
        if i < len(layer.node_mlp) - 1:
            x = F.leaky_relu(x, layer.slope)
    return x


def reference_generator(g: gg.Generator, z: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    h = z if g.latent_map is None else g.latent_map(z).view(z.shape[0], -1, g.net.layers[0].in_size)
    for layer in g.net.layers:
        h = reference_layer(layer, h, mask, g.net.self_loops)
    return torch.tanh(h) if mask is None else torch.tanh(h) * mask.unsqueeze(-1)


def reference_discriminator(d: gg.Discriminator, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    h = x
    for layer in d.net.layers:
        h = reference_layer(layer, h, mask, d.net.self_loops)
    real = torch.ones(h.shape[:2], dtype=h.dtype) if mask is None else mask.to(h.dtype)
    if d.readout is None:
        return (torch.sigmoid(h[..., 0]) * real).sum(1) / real.sum(1)
    pooled = (F.leaky_relu(h, 0.2) * real.unsqueeze(-1)).sum(1) / real.sum(1, keepdim=True)
    return torch.sigmoid(d.readout(pooled)[..., 0])


def layer_sizes(net: gg.MPNet) -> list[tuple[list[int], list[int]]]:
    return [([layer.edge_mlp[0].in_features] + [m.out_features for m in layer.edge_mlp],
             [layer.node_mlp[0].in_features] + [m.out_features for m in layer.node_mlp]) for layer in net.layers]


#: Kansal et al. 2020, Table 1 as printed: T_g = T_d, f_e neurons (In, 1, 2, Out; None for "—"), f_n neurons
#: (In, 1, 2, Out) and |h| per configuration.
PAPER_TABLE_1 = {
    "mnist_small": (1, (65, 64, None, 128), (160, 256, 256, 32), 32),  # sparse MNIST, digits 2, 3, 4, 5, 7
    "mnist_large": (1, (65, 96, 160, 192), (224, 256, 256, 32), 32),  # sparse MNIST, digits 0, 1, 6, 8, 9
    "mnist_superpixels": (2, (65, 64, None, 128), (160, 256, 256, 32), 32),  # superpixels, all digits
    "jets": (2, (65, 96, 160, 192), (224, 256, 256, 32), 32),
}


def expected_sizes(fe: tuple, fn: tuple, h: int, node_sizes: list[int]) -> list[tuple[list[int], list[int]]]:
    """Layer sizes of iterations with input/output node sizes ``node_sizes`` from a Table 1 row: an iteration on
    |h|-sized nodes takes the row's In columns; on F-sized nodes f_e reads 2F + 1 and f_n (f_e Out) + F inputs."""
    hidden = [s for s in fe[1:] if s is not None]
    sizes = []
    for f_in, f_out in zip(node_sizes, node_sizes[1:]):
        sizes.append(([fe[0] if f_in == h else 2 * f_in + 1, *hidden],
                      [fn[0] if f_in == h else hidden[-1] + f_in, *fn[1:-1], f_out]))
    return sizes


@pytest.mark.parametrize("name", sorted(PAPER_TABLE_1))
def test_named_configs_are_the_paper_table_1(name: str) -> None:
    """Layer sizes against Table 1: T iterations of |h|-sized nodes, except where the paper's model ends: the generator
    reads |h|-sized latent nodes and outputs the 3 node features, the discriminator reads 3 and outputs 1 per node.
    Training settings of section 4: RMSprop 1e-5 (D) and 3e-5 (G), LeakyReLU slope 0.2, dropout 0.5 in D only."""
    iters, fe, fn, h = PAPER_TABLE_1[name]
    task = gg.GraphGANTask(gg.CONFIGS[name], torch.device("cpu"))
    gen, disc = task.generator, task.discriminator
    assert layer_sizes(gen.net) == expected_sizes(fe, fn, h, [h] * iters + [3])
    assert layer_sizes(disc.net) == expected_sizes(fe, fn, h, [3] + [h] * (iters - 1) + [1])
    assert [task.optimizers[m].param_groups[0]["lr"] for m in ("discriminator", "generator")] == [1e-5, 3e-5]
    assert all(isinstance(o, torch.optim.RMSprop) for o in task.optimizers.values())
    assert {layer.slope for layer in (*gen.net.layers, *disc.net.layers)} == {0.2}
    assert {layer.dropout for layer in gen.net.layers} == {0.0}
    assert {layer.dropout for layer in disc.net.layers} == {0.5}
    assert gen.latent_map is None and disc.readout is None and not gen.net.self_loops


#: MPGAN's trained gluon model, trained_models/mplfc_g/args.txt of github.com/rkansal47/MPGAN (the keys used here).
MPGAN_ARGS = {"num_hits": 30, "node_feat_size": 3, "hidden_node_size": 32, "latent_node_size": 32, "fe": [96, 160, 192],
              "fn": [256, 256], "mp_iters_gen": 2, "mp_iters_disc": 2, "leaky_relu_alpha": 0.2, "lfc": True,
              "lfc_latent_size": 128, "dea": True, "mask_c": True, "sd": 0.2, "lr_disc": 3e-5, "lr_gen": 1e-5,
              "disc_dropout": 0.5, "gen_dropout": 0}


def test_mpgan_config_is_its_gluon_model() -> None:
    """jets_mpgan against MPGAN's args: f_e/f_n sizes, a 128-d global noise mapped to 30 latent nodes of 32,
    the pooled readout ("dea") over 32 hidden features, latent std 0.2 and the learning rates. Self-loops are
    MPGAN's default (no args key)."""
    a = MPGAN_ARGS
    task = gg.GraphGANTask(gg.CONFIGS["jets_mpgan"], torch.device("cpu"))
    gen, disc = task.generator, task.discriminator
    h, f = a["hidden_node_size"], a["node_feat_size"]
    fe, fn = (2 * h + 1, *a["fe"]), (a["fe"][-1] + h, *a["fn"], h)
    assert layer_sizes(gen.net) == expected_sizes(fe, fn, h, [a["latent_node_size"]] * a["mp_iters_gen"] + [f])
    assert layer_sizes(disc.net) == expected_sizes(fe, fn, h, [f] + [h] * a["mp_iters_disc"])
    assert (gen.latent_map.in_features, gen.latent_map.out_features) == (a["lfc_latent_size"],
                                                                         a["num_hits"] * a["latent_node_size"])
    assert (disc.readout.in_features, disc.readout.out_features) == (h, 1)
    assert [task.optimizers[m].param_groups[0]["lr"] for m in ("discriminator", "generator")] == [a["lr_disc"],
                                                                                                   a["lr_gen"]]
    assert {layer.dropout for layer in disc.net.layers} == {a["disc_dropout"]}
    assert {layer.dropout for layer in gen.net.layers} == {a["gen_dropout"]}
    assert {layer.slope for layer in (*gen.net.layers, *disc.net.layers)} == {a["leaky_relu_alpha"]}
    torch.manual_seed(0)
    z = torch.randn(50, a["lfc_latent_size"])
    torch.manual_seed(0)
    _, mask = task.sample(50, torch.full((50,), 7))
    assert torch.equal(mask, gg.count_mask(gen.latent_nodes(a["sd"] * z), torch.full((50,), 7)))  # noise of std sd
    assert gen.net.self_loops and disc.net.self_loops and task.config.gen_mask == a["mask_c"]


def test_config_errors_name_the_key() -> None:
    with pytest.raises(ValueError, match="unknown graph GAN config 'jet'.*jets"):
        gg.graph_gan_config("jet")
    with pytest.raises(ValueError, match=r"unknown GraphGANConfig key\(s\) \['layers'\]"):
        gg.graph_gan_config("jets", layers=3)
    with pytest.raises(ValueError, match="coords = 4"):
        gg.graph_gan_config("jets", coords=4)
    with pytest.raises(ValueError, match="disc_dropout = 1.0"):
        gg.graph_gan_config("jets", disc_dropout=1.0)
    with pytest.raises(ValueError, match="global_noise = -1"):
        gg.graph_gan_config("jets", global_noise=-1)


@pytest.mark.parametrize("name", ["jets", "mnist_small", "jets_mpgan"])
def test_sample_is_the_generator_on_normal_noise(name: str) -> None:
    """sample(n, counts) = generator(latent_std x N(0, 1) noise), masked by count_mask when the model masks:
    exactly counts[b] real nodes per graph and zero padding; D gives one value per graph."""
    cfg = gg.graph_gan_config(name)
    task = gg.GraphGANTask(cfg, torch.device("cpu"))
    counts = torch.tensor([30, 12, 1]) if cfg.gen_mask else None
    torch.manual_seed(0)
    x, mask = task.sample(3, counts)
    torch.manual_seed(0)
    z = cfg.latent_std * torch.randn(3, *task.generator.noise_shape)
    expected_mask = None if counts is None else gg.count_mask(task.generator.latent_nodes(z), counts)
    with torch.no_grad():
        torch.testing.assert_close(x, task.generator(z, expected_mask), atol=1e-6, rtol=0)
    assert x.shape == (3, cfg.num_nodes, 3)
    if counts is None:
        assert mask is None
    else:
        assert mask.sum(1).tolist() == counts.tolist() and (x[~mask] == 0).all() and (x[mask] != 0).all()
    assert x.std(dim=1).min() > 1e-3  # nodes of one graph differ
    assert task.discriminator(x, mask).shape == (3,)


def test_count_mask_keeps_the_lowest_first_latent_features() -> None:
    z = torch.tensor([[[0.3], [-1.0], [2.0], [0.1]], [[5.0], [4.0], [3.0], [2.0]]])
    mask = gg.count_mask(z, torch.tensor([2, 1]))
    assert mask.tolist() == [[False, True, False, True], [False, False, False, True]]


def test_lsgan_losses_hand_values() -> None:
    d_real, d_fake = torch.tensor([1.0, 0.5]), torch.tensor([0.0, 0.5])
    assert gg.lsgan_d_loss(d_real, d_fake).item() == pytest.approx(0.25)  # (0 + .25)/2 + (0 + .25)/2
    assert gg.lsgan_g_loss(d_fake).item() == pytest.approx(0.625)  # (1 + .25)/2


def test_pairwise_distance_and_adjacency() -> None:
    coords = torch.tensor([[[0.0, 0.0], [3.0, 4.0], [0.0, 1.0]]])
    d = gg.pairwise_distance(coords)
    np.testing.assert_allclose(d[0].numpy(), [[0, 5, 1], [5, 0, np.sqrt(18)], [1, np.sqrt(18), 0]], atol=1e-6)
    adj = gg.edge_weights(torch.tensor([[True, True, False]]), 1, 3, torch.device("cpu"))
    assert adj[0].tolist() == [[0, 1, 0], [1, 0, 0], [0, 0, 0]]
    loops = gg.edge_weights(torch.tensor([[True, True, False]]), 1, 3, torch.device("cpu"), self_loops=True)
    assert loops[0].tolist() == [[1, 1, 0], [1, 1, 0], [0, 0, 0]]


@pytest.mark.parametrize("dtype,atol", [(torch.float32, 1e-5), (torch.float64, 1e-12)])
@pytest.mark.parametrize("chunk_edges", [2048, 5])  # whole graphs per chunk; receiver ranges of one graph
@pytest.mark.parametrize("name", ["jets", "jets_mpgan"])
def test_fast_dense_evaluation_equals_reference(dtype: torch.dtype, atol: float, chunk_edges: int, name: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gg, "_CHUNK_EDGES", chunk_edges)
    torch.manual_seed(1)
    cfg = gg.graph_gan_config(name, num_nodes=7)
    gen, disc = gg.Generator(cfg).to(dtype).eval(), gg.Discriminator(cfg).to(dtype).eval()
    z = torch.randn(3, *gen.noise_shape, dtype=dtype, requires_grad=True)
    mask = torch.tensor([[1, 1, 1, 1, 1, 1, 1], [1, 1, 0, 1, 0, 1, 1], [1, 0, 0, 0, 0, 0, 1]], dtype=torch.bool)
    for m in (None, mask):
        fast, ref = gen(z, m), reference_generator(gen, z, m)
        torch.testing.assert_close(fast, ref, atol=atol, rtol=0)
        p_fast, p_ref = disc(fast, m), reference_discriminator(disc, ref, m)
        torch.testing.assert_close(p_fast, p_ref, atol=atol, rtol=0)
        params = [z, *gen.parameters(), *disc.parameters()]
        g_fast = torch.autograd.grad((p_fast ** 2).sum() + fast.sum(), params)
        g_ref = torch.autograd.grad((p_ref ** 2).sum() + ref.sum(), params)
        for a, b in zip(g_fast, g_ref):
            torch.testing.assert_close(a, b, atol=atol, rtol=1e-4)


@pytest.mark.parametrize("chunk_edges", [2048, 5])
def test_dropout_gradients_match_finite_differences(chunk_edges: int, monkeypatch: pytest.MonkeyPatch,
                                                    pretend_threads) -> None:
    """The fused edge network and LeakyReLU+dropout with dropout on (same masks in every call)."""
    monkeypatch.setattr(gg, "_CHUNK_EDGES", chunk_edges)
    monkeypatch.setattr(gg, "_BLOCK_CHUNKS", 2)
    pretend_threads(2)  # one block per graph on a thread pool when chunked
    torch.manual_seed(2)
    kw = dict(dtype=torch.float64, requires_grad=True)
    u, v, d = torch.randn(2, 4, 3, **kw), torch.randn(2, 4, 3, **kw), torch.rand(2, 4, 4, **kw)
    w_d = torch.randn(3, **kw)
    w2, b2 = torch.randn(5, 3, **kw), torch.randn(5, **kw)
    adj = gg.edge_weights(torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]], dtype=torch.bool), 2, 4,
                          torch.device("cpu"), torch.float64)

    def messages(*inputs: torch.Tensor) -> torch.Tensor:
        torch.manual_seed(3)
        u, v, d, w_d, w2, b2 = inputs
        return gg.edge_messages(u, v, d, adj, w_d, [w2, b2], 0.5, 0.2)

    assert messages(u, v, d, w_d, w2, b2).ne(0).any()
    assert torch.autograd.gradcheck(messages, (u, v, d, w_d, w2, b2))

    def activation(z: torch.Tensor) -> torch.Tensor:
        torch.manual_seed(4)
        return gg.leaky_dropout_(z.clone(), 0.3, 0.2)

    assert torch.autograd.gradcheck(activation, (torch.randn(64, **kw),))


def test_results_do_not_depend_on_the_thread_count(monkeypatch: pytest.MonkeyPatch, pretend_threads) -> None:
    """Per-chunk dropout seeds and blocks independent of the threads: 1 or 3 threads drop the same edge activations
    (exactly) and give the same outputs and gradients up to float32 rounding. Matrix products on a pool thread may
    take other kernels or block sizes than on the main thread (MKL/oneDNN promise no bitwise equality across
    partitions or processors), so values are compared to 1e-5 of each tensor's largest magnitude: a different
    dropout mask would move them by O(1) relative."""
    monkeypatch.setattr(gg, "_CHUNK_EDGES", 100)
    cfg = gg.graph_gan_config("jets", num_nodes=6, **TINY)
    disc = gg.Discriminator(cfg).train()
    layer = disc.net.layers[0]
    x = torch.rand(40, 6, 3, requires_grad=True)
    adj = gg.edge_weights(None, 40, 6, torch.device("cpu"))
    first = layer.edge_mlp[0]
    w_recv, w_send, w_dist = (w.detach() for w in first.weight.split([3, 3, 1], dim=1))
    params = [t.detach() for lin in layer.edge_mlp[1:] for t in (lin.weight, lin.bias)]
    dropped, results = [], []
    for threads in (1, 3):
        pretend_threads(threads)
        torch.manual_seed(10)
        with torch.no_grad():
            _, acts = gg._edge_forward(F.linear(x, w_recv, first.bias), F.linear(x, w_send),
                                       gg.pairwise_distance(x[..., :2]), adj, w_dist.squeeze(1), params, 0.5, 0.2,
                                       save=True)
        dropped.append([a == 0 for a in acts])
        torch.manual_seed(10)
        out = disc(x)
        results.append((out, *torch.autograd.grad(out.sum(), [x, *disc.parameters()])))
    assert len(gg._edge_blocks(40, 6)) == 3  # 20 chunks of 2 graphs, blocks of 8 chunks: 3 pool tasks
    for one, three in zip(*dropped):
        assert 0.4 < one.float().mean() < 0.6 and torch.equal(one, three)  # dropout 0.5, same elements dropped
    for one, three in zip(*results):
        torch.testing.assert_close(three, one, rtol=0, atol=1e-5 * one.abs().max().item())


def test_plain_autograd_path_for_gpus_equals_the_fused_cpu_path() -> None:
    torch.manual_seed(13)
    kw = dict(dtype=torch.float64, requires_grad=True)
    inputs = [torch.randn(3, 5, 4, **kw), torch.randn(3, 5, 4, **kw), torch.rand(3, 5, 5, **kw), torch.randn(4, **kw),
              torch.randn(6, 4, **kw), torch.randn(6, **kw)]
    adj = gg.edge_weights(torch.rand(3, 5) < 0.8, 3, 5, torch.device("cpu"), torch.float64)
    u, v, d, w_d, w2, b2 = inputs
    fused = gg.edge_messages(u, v, d, adj, w_d, [w2, b2], 0.0, 0.2)
    plain = gg._edge_messages_autograd(u, v, d, adj, w_d, [w2, b2], 0.0, 0.2)
    torch.testing.assert_close(fused, plain, atol=1e-12, rtol=0)
    for a, b in zip(torch.autograd.grad(fused.square().sum(), inputs),
                    torch.autograd.grad(plain.square().sum(), inputs)):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=1e-10)


def test_autocast_runs_in_bfloat16_with_float32_gradients() -> None:
    """What the CUDA path does under AMP, exercised with CPU autocast."""
    torch.manual_seed(12)
    cfg = gg.graph_gan_config("jets", num_nodes=8, **TINY)
    gen, disc = gg.Generator(cfg), gg.Discriminator(cfg).eval()
    z = torch.randn(4, 8, cfg.latent_size)
    exact = disc(gen(z))
    with torch.autocast("cpu", torch.bfloat16):
        p = disc(gen(z))
    assert p.dtype == torch.bfloat16
    torch.testing.assert_close(p.float(), exact, atol=2e-2, rtol=0)
    disc.train()
    with torch.autocast("cpu", torch.bfloat16):
        disc(gen(z)).float().sum().backward()
    grads = [q.grad for q in (*gen.parameters(), *disc.parameters())]
    assert all(g is not None and g.dtype == torch.float32 and torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("p", [0.5, 0.2])
def test_dropout_rate_and_seeding(p: float) -> None:
    torch.manual_seed(5)
    x = gg.leaky_dropout_(torch.ones(400_000), p, 0.2)
    n_dropped = (x == 0).sum().item()
    assert abs(n_dropped - p * x.numel()) < 5 * np.sqrt(p * (1 - p) * x.numel())
    assert set(x.unique().tolist()) == {0.0, 1.0}  # survivors unscaled: the next layer takes 1/(1-p)
    torch.manual_seed(5)
    assert torch.equal(gg.leaky_dropout_(torch.ones(400_000), p, 0.2), x)


def test_dropout_keeps_the_expected_message() -> None:
    """With one f_e layer, training-mode messages (dropout 0.5, survivors scaled by 2) average to the
    eval-mode message."""
    torch.manual_seed(6)
    layer = gg.DenseMPLayer(3, 1, (8,), (4,), dropout=0.5)
    h = torch.randn(1, 5, 3)
    adj = gg.edge_weights(None, 1, 5, torch.device("cpu"))
    with torch.no_grad():
        exact = layer.eval().messages(h, adj)
        mean = torch.stack([layer.train().messages(h, adj) for _ in range(4000)]).mean(0)
    torch.testing.assert_close(mean, exact, atol=0.05 * exact.abs().max().item(), rtol=0)


def permute(x: torch.Tensor | None, perm: torch.Tensor) -> torch.Tensor | None:
    return None if x is None else x[:, perm]


@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("variant", [{}, {"self_loops": True, "disc_pool": True}])
def test_generator_equivariant_and_discriminator_invariant(masked: bool, variant: dict) -> None:
    torch.manual_seed(7)
    cfg = gg.graph_gan_config("jets", num_nodes=9, **TINY, **variant)
    gen, disc = gg.Generator(cfg).eval(), gg.Discriminator(cfg).eval()
    z = torch.randn(4, 9, cfg.latent_size)
    mask = (torch.rand(4, 9) < 0.7) if masked else None
    perm = torch.randperm(9)
    x = gen(z, mask)
    torch.testing.assert_close(gen(z[:, perm], permute(mask, perm)), x[:, perm], atol=1e-6, rtol=0)
    torch.testing.assert_close(disc(x[:, perm], permute(mask, perm)), disc(x, mask), atol=1e-6, rtol=0)
    assert x.std(dim=1).min() > 1e-3  # nodes differ: the symmetry is not trivial


@pytest.mark.parametrize("variant", [{}, {"self_loops": True, "disc_pool": True}])
def test_padded_nodes_change_nothing(variant: dict) -> None:
    """5 real nodes padded to 8 with junk give the same real-node outputs as the 5 nodes alone."""
    torch.manual_seed(8)
    cfg = gg.graph_gan_config("jets", num_nodes=8, **TINY, **variant)
    gen, disc = gg.Generator(cfg).eval(), gg.Discriminator(cfg).eval()
    z5, x5 = torch.randn(2, 5, cfg.latent_size), torch.rand(2, 5, 3) - 0.5
    z8 = torch.cat((z5, 10 * torch.randn(2, 3, cfg.latent_size)), dim=1)
    x8 = torch.cat((x5, 10 * torch.randn(2, 3, 3)), dim=1)
    mask = torch.arange(8).expand(2, 8) < 5
    out = gen(z8, mask)
    torch.testing.assert_close(out[:, :5], gen(z5), atol=1e-6, rtol=0)
    assert (out[:, 5:] == 0).all()
    torch.testing.assert_close(disc(x8, mask), disc(x5), atol=1e-6, rtol=0)


def test_training_brings_generated_nodes_closer_to_real_mnist(sevens: tuple[torch.Tensor, torch.Tensor]) -> None:
    nodes, mask = sevens
    torch.manual_seed(0)
    cfg = gg.graph_gan_config("mnist_small", num_nodes=12, **TINY, lr_d=1e-3, lr_g=1e-3)
    task = gg.GraphGANTask(cfg, torch.device("cpu"), val_nodes=nodes[:64], val_mask=mask[:64])
    before = task.validate()
    for i in range(40):
        rows = slice(32 * i % 256, 32 * i % 256 + 32)
        losses = task.train_step((nodes[rows], mask[rows]))
        assert set(losses) == {"loss_d", "loss_g"} and all(np.isfinite(list(losses.values())))
    after = task.validate()
    assert after["w1_nodes"] < 0.5 * before["w1_nodes"]


def test_gen_mask_variant_uses_the_real_particle_counts() -> None:
    torch.manual_seed(9)
    counts = torch.tensor([3, 6, 4, 6])
    mask = torch.arange(6).expand(4, 6) < counts.unsqueeze(1)
    real = (torch.rand(4, 6, 3) - 0.5) * mask.unsqueeze(-1)
    task = gg.GraphGANTask(gg.graph_gan_config("jets", num_nodes=6, gen_mask=True, **TINY), torch.device("cpu"),
                           val_nodes=real, val_mask=mask,
                           metrics=lambda real, real_mask, fake, fake_mask: {"n_fake": fake_mask.sum()})
    losses = task.train_step((real, mask))
    assert np.isfinite(list(losses.values())).all()
    x, fake_mask = task.sample(4, counts)
    assert fake_mask.sum(1).tolist() == counts.tolist()
    assert (x[~fake_mask] == 0).all() and (x[fake_mask] != 0).all()
    val = task.validate()
    assert val["n_fake"] == counts.sum().item() and np.isfinite(val["w1_nodes"])
    with pytest.raises(ValueError, match="needs `counts`"):
        task.sample(2)


def test_global_noise_masks_by_the_rank_of_the_mapped_latent_nodes() -> None:
    """With MPGAN's global noise the count mask ranks the first feature of the mapped latent nodes."""
    torch.manual_seed(11)
    cfg = gg.graph_gan_config("jets", num_nodes=6, gen_mask=True, global_noise=5, **TINY)
    task = gg.GraphGANTask(cfg, torch.device("cpu"))
    torch.manual_seed(12)
    x, mask = task.sample(3, torch.tensor([2, 6, 4]))
    torch.manual_seed(12)
    z = torch.randn(3, 5)
    latent = task.generator.latent_nodes(z)
    assert latent.shape == (3, 6, 8)
    assert torch.equal(mask, gg.count_mask(latent, torch.tensor([2, 6, 4])))
    torch.testing.assert_close(x, task.generator(z, mask))


def test_feature_range_maps_the_training_range_onto_the_tanh_range() -> None:
    nodes = torch.tensor([[[0.0, -2.0], [1.0, 2.0]], [[0.5, 0.0], [0.25, 1.0]]])
    shift, scale = train_gan.feature_range(nodes)
    assert shift.tolist() == [0.5, 0.0] and scale.tolist() == [0.5, 2.0]
    normed = (nodes - shift) / scale
    assert normed.amin(dim=(0, 1)).tolist() == [-1.0, -1.0] and normed.amax(dim=(0, 1)).tolist() == [1.0, 1.0]


@pytest.mark.parametrize("gen_mask", [True, False])
def test_generate_stage_writes_the_generator_output_in_physical_units(tmp_path, gen_mask: bool) -> None:
    """One epoch on toy jets, then 50 generated jets: the table holds the generator's output mapped onto the training
    range, (x + 1) (max - min) / 2 + min per feature over every node (padding included; no clipping, no filter).
    A masking generator keeps real multiplicities and zero padding; one without a mask keeps all 20 nodes and says
    so in the table's meta (fixed_size), which the evaluation reads."""
    jets, mask = toy_jets(96, np.random.default_rng(0), n_nodes=20, min_particles=10)
    table = write_jets(tmp_path / "jets.parquet", jets, mask, generated=False)
    model = tmp_path / "model.pt"
    train_gan.main(["--kind", "jets", "--train", str(table), "--val", str(table), "--model", "jets",
                    "--set", json.dumps({"gen_mask": gen_mask, **TINY}), "--epochs", "1", "--batch-size", "32",
                    "--n-val", "32", "--state-dir", str(tmp_path / "state"), "--checkpoint", str(model),
                    "--metrics-csv", str(tmp_path / "metrics.csv")])
    generated = tmp_path / "generated.parquet"
    generate_gan.main(["--checkpoint", str(model), "--n", "50", "--label", "0", "--counts-from", str(table),
                       "--seed", "3", "--output", str(generated)])
    out = read_arrays(generated, "jets")
    nodes, gen_mask_out = out["nodes"], out["mask"]
    assert read_meta(generated)["fixed_size"] is (not gen_mask)

    ckpt = load_checkpoint(model)
    task = gg.GraphGANTask(gg.GraphGANConfig(**{k: tuple(v) if isinstance(v, list) else v
                                               for k, v in ckpt["meta"]["config"].items()}), torch.device("cpu"))
    load_states(model, ckpt["models"], task.models)
    task.generator.eval()
    torch.manual_seed(3)
    with torch.no_grad():
        x, m = task.sample(50, torch.from_numpy(gen_mask_out.sum(1)) if gen_mask else None)
    low, high = jets.min(axis=(0, 1)), jets.max(axis=(0, 1))
    expected = (x.numpy() + 1) * (high - low) / 2 + low
    if gen_mask:
        assert set(gen_mask_out.sum(1).tolist()) <= set(mask.sum(1).tolist())
        np.testing.assert_array_equal(gen_mask_out, m.numpy())
        expected = expected * gen_mask_out[..., None]
    else:
        assert gen_mask_out.all()
    np.testing.assert_allclose(nodes, expected, rtol=0, atol=1e-5)
