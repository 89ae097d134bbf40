"""MoNet classifier (the GFD's feature network) and the graph Frechet distance, on real MNIST digits."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_limits
from torch_geometric.nn import GMMConv

from hepgraph.data import mnist
from hepgraph.data.tables import write_table
from hepgraph.metrics.distances import frechet_distance
from hepgraph.metrics.gfd import activation_statistics, gfd, gfd_from_model
from hepgraph.models.monet import (CUTOFF, DenseGMMConv, MoNet, MoNetConfig, gather_nodes, knn_adjacency,
                                   load_classifier, match_clusters, max_pool, neighbour_lists,
                                   pseudo_coordinates)
from hepgraph.stages import train_gfd_classifier
from hepgraph.train.checkpoint import save_checkpoint

N_NODES = 100
SPLIT = {"train": 600, "val": 100, "test": 400}  # held-out digits: val and test
EPOCHS = 7  # 525 steps of 8 digits
K = 16


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Single-threaded torch and BLAS: on two cores shared with other jobs, two threads mostly wait."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(1, user_api="blas"):
        yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def digits() -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Sparse MNIST graphs (100 brightest pixels) of real bundled digits, split at random: (nodes, mask, label)."""
    images, labels = mnist.load_bundled()
    order = np.random.default_rng(3).permutation(len(labels))
    nodes, mask = mnist.sparse_graphs(images[order[:sum(SPLIT.values())]], N_NODES)
    labels, out, start = labels[order], {}, 0
    for name, size in SPLIT.items():
        out[name] = nodes[start:start + size], mask[start:start + size], labels[start:start + size]
        start += size
    return out


def brute_force_knn(pos: np.ndarray, mask: np.ndarray, k: int) -> np.ndarray:
    """adj[b, i, j]: j among the k real nodes nearest to real node i, nearest first, ties to the lower index."""
    adj = np.zeros(mask.shape + mask.shape[1:], dtype=bool)
    for b, i in zip(*np.nonzero(mask)):
        others = [j for j in np.flatnonzero(mask[b]) if j != i]
        dist = [np.sqrt(((pos[b, j] - pos[b, i]) ** 2).sum()) for j in others]
        for _, j in sorted(zip(dist, others))[:k]:
            adj[b, i, j] = True
    return adj


def random_graphs(rng: np.random.Generator, batch: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Continuous positions [batch, n, 2] (no equal distances) and masks: random, one with 3 real nodes, one empty."""
    mask = rng.random((batch, n)) < 0.7
    mask[1] = False
    mask[1, [2, 5, 11]] = True
    mask[2] = False
    return rng.random((batch, n, 2)) - 0.5, mask


@pytest.mark.parametrize("grid", [False, True], ids=["continuous", "pixel-grid-ties"])
def test_knn_graph_matches_brute_force(grid: bool) -> None:
    rng = np.random.default_rng(0)
    pos, mask = random_graphs(rng, 5, 24)
    if grid:  # integer pixel positions: many equal distances, ordered by node index
        pos = rng.integers(0, 5, size=pos.shape).astype(np.float64)
    adj = knn_adjacency(torch.from_numpy(pos), torch.from_numpy(mask), 5).numpy()
    np.testing.assert_array_equal(adj, brute_force_knn(pos, mask, 5))
    assert adj.sum(-1)[1].tolist() == [2 if m else 0 for m in mask[1]]  # 3 real nodes: linked to the other 2
    assert not adj[2].any() and not adj[:, np.arange(24), np.arange(24)].any()


def greedy_matching(pos: np.ndarray, adj: np.ndarray) -> np.ndarray:
    """Graclus' matching, heaviest normalised-cut edge first, one graph at a time: cluster id = lower index."""
    both = adj | adj.transpose(0, 2, 1)
    deg = np.maximum(both.sum(-1), 1)
    cluster = np.tile(np.arange(adj.shape[1]), (adj.shape[0], 1))
    for b in range(adj.shape[0]):
        edges = sorted(((np.linalg.norm(pos[b, i] - pos[b, j]) * (1 / deg[b, i] + 1 / deg[b, j]), i, j)
                        for i, j in zip(*np.nonzero(np.triu(both[b])))), reverse=True)
        free = np.ones(adj.shape[1], dtype=bool)
        for _, i, j in edges:
            if free[i] and free[j]:
                free[[i, j]] = False
                cluster[b, [i, j]] = min(i, j)
    return cluster


def test_matching_is_graclus_greedy_matching() -> None:
    pos, mask = random_graphs(np.random.default_rng(1), 6, 30)
    adj = knn_adjacency(torch.from_numpy(pos), torch.from_numpy(mask), 4)
    cluster = match_clusters(torch.from_numpy(pos), adj, torch.from_numpy(mask)).numpy()
    np.testing.assert_array_equal(cluster, greedy_matching(pos, adj.numpy()))
    assert (cluster[~mask] == np.nonzero(~mask)[1]).all()  # padding stays alone
    assert (np.bincount((cluster + 30 * np.arange(6)[:, None]).ravel()) <= 2).all()


def test_max_pool_by_hand() -> None:
    # graph 0: a path 0 - 1 - 3 - 4 with padding at slot 2; clusters {0, 1} and {3, 4}. graph 1: one node.
    x = torch.tensor([[[1., 5], [2, 4], [9, 9], [3, 0], [0, 7]],
                      [[6., 1], [9, 9], [9, 9], [9, 9], [9, 9]]])
    pos = torch.tensor([[[0., 0], [1, 0], [9, 9], [3, 0], [4, 0]], [[2., 2], *[[9, 9]] * 4]])
    mask = torch.tensor([[True, True, False, True, True], [True, False, False, False, False]])
    adj = torch.zeros(2, 5, 5, dtype=torch.bool)
    for i, j in [(0, 1), (1, 3), (3, 4)]:
        adj[0, i, j] = adj[0, j, i] = True
    cluster = torch.tensor([[0, 0, 2, 3, 3], [0, 1, 2, 3, 4]])
    px, ppos, padj, pmask = max_pool(x, pos, adj, mask, cluster)
    assert px.tolist() == [[[2, 5], [3, 7]], [[6, 1], [0, 0]]]
    assert ppos.tolist() == [[[0.5, 0], [3.5, 0]], [[2, 2], [0, 0]]]
    assert padj.tolist() == [[[False, True], [True, False]], [[False, False], [False, False]]]
    assert pmask.tolist() == [[True, True], [True, False]]


def test_dense_gmm_conv_equals_pyg_gmm_conv() -> None:
    torch.manual_seed(0)
    pos, mask = (torch.from_numpy(a) for a in random_graphs(np.random.default_rng(2), 4, 20))
    pos = pos.float()
    adj = knn_adjacency(pos, mask, 6)
    x = torch.randn(4, 20, 3)
    pyg, dense = GMMConv(3, 8, dim=2, kernel_size=5), DenseGMMConv(3, 8, dim=2, kernel_size=5)
    with torch.no_grad():
        pyg.bias.normal_()
    dense.load_state_dict(pyg.state_dict())
    index, valid = neighbour_lists(adj)
    out = dense(x, index, valid, pseudo_coordinates(pos[:, :, None], gather_nodes(pos, index), CUTOFF))
    graph, target, source = adj.nonzero(as_tuple=True)
    edges = torch.stack((graph * 20 + source, graph * 20 + target))
    flat = pos.reshape(-1, 2)
    ref = pyg(x.reshape(80, 3), edges, pseudo_coordinates(flat[edges[1]], flat[edges[0]], CUTOFF))
    torch.testing.assert_close(out.reshape(80, 8), ref, atol=1e-5, rtol=1e-5)


def test_padding_never_changes_real_graphs(digits) -> None:
    nodes, mask, _ = digits["test"]
    nodes, mask = torch.from_numpy(nodes[:16, :60]), torch.from_numpy(mask[:16, :60])
    assert mask.all()
    # the same 60 real nodes (same order) spread over 100 slots; the 40 padding slots hold garbage
    slots = torch.from_numpy(np.sort(np.random.default_rng(4).choice(N_NODES, 60, replace=False)))
    padded = torch.rand(16, N_NODES, 3) * 4 - 2
    padded[:, slots] = nodes
    padded_mask = torch.zeros(16, N_NODES, dtype=torch.bool)
    padded_mask[:, slots] = True
    torch.manual_seed(0)
    model = MoNet(MoNetConfig(k=K, kernel_size=8)).eval()
    with torch.no_grad():
        torch.testing.assert_close(model.fc1_activations(padded, padded_mask), model.fc1_activations(nodes, mask),
                                   atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(model(padded, padded_mask), model(nodes, mask), atol=1e-5, rtol=1e-5)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, digits) -> Path:
    """The train_gfd_classifier stage run on real digit tables (600 training digits); returns its output dir."""
    out = tmp_path_factory.mktemp("classifier")
    for name, (nodes, mask, label) in digits.items():
        write_table(out / f"{name}.parquet", "image_graphs", {"nodes": nodes, "mask": mask, "label": label},
                    {"source": "bundled", "graph": "sparse", "split": name})
    train_gfd_classifier.main([
        "--train", str(out / "train.parquet"), "--val", str(out / "val.parquet"),
        "--test", str(out / "test.parquet"), "--epochs", str(EPOCHS), "--batch-size", "8", "--seed", "0",
        "--k", str(K), "--lr", "3e-3", "--state-dir", str(out / "ckpt"), "--model", str(out / "model.pt"),
        "--metrics-csv", str(out / "metrics.csv"), "--output-json", str(out / "accuracy.json"), "--device", "cpu"])
    return out


def test_training_beats_chance_on_held_out_digits(trained: Path, digits) -> None:
    report = json.loads((trained / "accuracy.json").read_text())
    assert report["accuracy"] > 0.5, report  # chance: 0.1 (sd 0.015 for 400 digits); this run gives ~0.6
    assert report["n_test"] == SPLIT["test"] and sorted(report["per_digit"]) == [str(d) for d in range(10)]
    with open(trained / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == list(range(1, EPOCHS + 1))
    val = [float(r["val_accuracy"]) for r in rows]
    assert report["val_accuracy"] == max(val) and report["best_epoch"] == 1 + val.index(max(val))
    counts = np.bincount(digits["test"][2], minlength=10)  # overall = per-digit accuracies weighted by counts
    assert np.dot(counts, [report["per_digit"][str(d)] for d in range(10)]) / counts.sum() == pytest.approx(
        report["accuracy"])


@pytest.fixture(scope="module")
def features(trained: Path, digits) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Activation statistics of held-out real digits (two halves of 200) and of noisy copies of the first half."""
    model = load_classifier(trained / "model.pt")
    nodes, mask, _ = digits["test"]
    noise = np.random.default_rng(5).standard_normal(nodes[:200].shape) * [1, 1, 0]  # on x and y of real nodes
    sets = {"a": (nodes[:200], mask[:200]), "b": (nodes[200:], mask[200:]),
            **{f"noise{s}": (np.where(mask[:200, :, None], nodes[:200] + s * noise, 0), mask[:200])
               for s in (0.02, 0.1)}}  # position units: 28 pixels
    return {name: activation_statistics(model, *graphs) for name, graphs in sets.items()}


def test_gfd_of_a_set_with_itself_is_zero(trained: Path, digits, features) -> None:
    nodes, mask, _ = digits["test"]
    same = gfd(nodes[:200], mask[:200], nodes[:200], mask[:200], trained / "model.pt")
    assert abs(same) < 1e-4 * frechet_distance(*features["a"], *features["b"])


def test_gfd_grows_with_noise_and_is_symmetric(features) -> None:
    scale = max(np.trace(sigma) for _, sigma in features.values())  # GFD of two sets with no overlap ~ 2 x this
    pairs = [("a", "b"), *(("a", f"noise{s}") for s in (0.02, 0.1))]
    fd = {(p, q): frechet_distance(*features[p], *features[q]) for pair in pairs for p, q in (pair, pair[::-1])}
    real_real, *noisy = (fd[pair] for pair in pairs)
    assert 0 < real_real < noisy[-1] and noisy == sorted(noisy), (real_real, noisy)
    for (p, q), value in fd.items():
        assert value >= -1e-6 * scale
        assert value == pytest.approx(fd[q, p], rel=1e-4, abs=1e-6 * scale)


def test_bad_inputs_are_named(digits, tmp_path: Path) -> None:
    nodes, mask, _ = digits["test"]
    model = MoNet(MoNetConfig(k=K, kernel_size=8))
    with pytest.raises(ValueError, match="generated graphs need nodes"):
        gfd_from_model(model, nodes, mask, nodes[..., :2], mask)
    bad = nodes[:10].copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="real graphs have NaN"):
        gfd_from_model(model, bad, mask[:10], nodes[:10], mask[:10])
    save_checkpoint(tmp_path / "other.pt", {"epoch": 1, "step": 1, "models": {}, "meta": {}, "best": None})
    with pytest.raises(ValueError, match="holds no MoNet classifier"):
        load_classifier(tmp_path / "other.pt")
    with pytest.raises(FileNotFoundError):
        gfd(nodes, mask, nodes, mask, tmp_path / "missing.pt")
    nodes, mask = np.zeros((2, 4, 3), np.float32), np.ones((2, 4), bool)
    write_table(tmp_path / "bad.parquet", "image_graphs", {"nodes": nodes, "mask": mask, "label": [3, 10]}, {})
    with pytest.raises(ValueError, match=r"bad.parquet: labels must be digits 0..9, found 3..10"):
        train_gfd_classifier.load_graphs(tmp_path / "bad.parquet", 10)
