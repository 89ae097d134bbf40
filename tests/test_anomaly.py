"""Anomaly family (Kluettermann 2021): inputs, normalisations, GAE losses and layers, oneoff networks, scoring."""

import json
import math

import numpy as np
import pytest
import torch
from scipy.stats import norm

from hepgraph.evaluation import anomaly
from hepgraph.models.anomaly_inputs import InputNormalisation, invariant_normalise, particle_inputs
from hepgraph.models.gae import (GAEConfig, GAETask, GraphAutoencoder, compress, decompress, image_loss, knn_graph,
                                 l2_loss, ln_loss, sort_by_lpt)
from hepgraph.models.oneoff import OneoffConfig, OneoffEnsemble
from hepgraph.train import loop

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_particle_inputs_flag_angles_and_safe_lpt():
    nodes = torch.tensor([[[0.1, -0.2, 0.5], [0.3, 0.4, 0.25], [0.0, 0.0, 0.0]]])
    mask = torch.tensor([[True, True, False]])
    x = particle_inputs(nodes, mask, 4)  # one more slot than the table has: zero-padded
    expected = [[1, 0.1, -0.2, math.log(2)], [1, 0.3, 0.4, math.log(4)], [0, 0, 0, 0], [0, 0, 0, 0]]
    assert torch.allclose(x[0], torch.tensor(expected), atol=1e-6)


def test_invariant_normalisation_by_hand():
    # x = (1, 2, 3, 6): y = x - 3 = (-2, -1, 0, 3); mean|y| = 1.5, z = (-3.5, -2.5, -1.5, 1.5);
    # max|z| = 3.5, mean|z| = 2.25, n = 2 z / (5.75 + 0.001)
    x = torch.tensor([[[1.0], [2.0], [3.0], [6.0]]])
    n = invariant_normalise(x, torch.ones(1, 4))
    assert torch.allclose(n[0, :, 0], 2 * torch.tensor([-3.5, -2.5, -1.5, 1.5]) / 5.751, atol=1e-6)


def test_invariant_normalisation_is_translation_and_scale_invariant_and_ignores_padding():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(5, 6, 3, generator=g)
    flag = torch.ones(5, 6)
    flag[:, 4:] = 0
    x = x * flag[..., None]
    moved = (3.0 + 7.0 * x) * flag[..., None]  # a + b x on the real particles, padding still 0
    a, b = invariant_normalise(x, flag), invariant_normalise(moved, flag)
    assert torch.allclose(a, b, atol=2e-3)  # the 0.001 in the denominator breaks exact scale invariance
    assert torch.equal(a[:, 4:], torch.zeros_like(a[:, 4:]))
    # a padding particle changes nothing about the real ones
    assert torch.allclose(invariant_normalise(x[:, :4], flag[:, :4]), a[:, :4], atol=1e-6)


def test_standard_normalisation_is_fixed_on_the_training_set():
    train = torch.zeros(2, 2, 4)
    train[..., 0] = 1
    train[:, :, 1:] = torch.tensor([[[0.0, 1.0, 2.0], [2.0, 3.0, 4.0]], [[4.0, 5.0, 6.0], [6.0, 7.0, 8.0]]])
    normalise = InputNormalisation("standard").fit(train)
    assert torch.allclose(normalise.mean, torch.tensor([3.0, 4.0, 5.0]))
    assert torch.allclose(normalise.std, torch.full((3,), math.sqrt(20 / 3)))
    jet = train[:1]
    assert torch.allclose(normalise(jet), normalise(train)[:1])  # a jet's inputs do not depend on its batch
    assert torch.allclose(normalise(jet)[0, 0, 1:], (torch.tensor([0.0, 1.0, 2.0]) - 3 - torch.arange(3.0)) /
                          math.sqrt(20 / 3))
    assert torch.equal(InputNormalisation("none")(train), train)


def test_losses_by_hand():
    x = torch.tensor([[[1.0, 0.0, 0.0, 1.0], [1.0, 0.3, 0.4, 2.0]]])
    y = torch.tensor([[[1.0, 0.0, 0.0, 1.5], [1.0, 0.0, 0.0, 3.0]]])
    # differences: 0.5 (lpt of particle 1); 0.3, 0.4, 1.0 (particle 2); 8 elements
    assert l2_loss(x, y).item() == pytest.approx((0.25 + 0.09 + 0.16 + 1.0) / 8)
    assert ln_loss(x, y, 1.0).item() == pytest.approx((0.5 + 0.3 + 0.4 + 1.0) / 8)
    assert ln_loss(x, y, 0.5).item() == pytest.approx(sum(math.sqrt(d + 1) - 1 for d in (0.5, 0.3, 0.4, 1.0)) / 8)
    # image loss: particle 1 at distance 0: f = 1, loss |1 - 1.5| = 0.5; particle 2 at d = 0.5 with alpha 2, k 0.1:
    # f = (0.1 + e^-1) / 1.1, loss (1 - f) c + 1.0 f with c = 3
    f = (0.1 + math.exp(-1)) / 1.1
    expected = (0.5 + (1 - f) * 3 + 1.0 * f) / 2
    assert image_loss(x, y, alpha=2.0, k=0.1, c=3.0).item() == pytest.approx(expected, rel=1e-5)


def test_sort_by_lpt_and_knn_graph_rows():
    x = torch.tensor([[[1.0, 0, 0, 3.0], [1.0, 1, 1, 1.0], [1.0, 2, 2, 2.0]]])
    assert sort_by_lpt(x)[0, :, 3].tolist() == [1.0, 2.0, 3.0]
    points = torch.tensor([[[0.0], [1.0], [3.0], [10.0]]])
    a = knn_graph(points, torch.ones(1), k=2)
    assert torch.allclose(a.sum(-1), torch.full((1, 4), 2.0))
    assert (a[0].diagonal() == 0).all()
    assert (a[0] > 0).tolist() == [[False, True, True, False], [True, False, True, False],
                                   [True, True, False, False], [False, True, True, False]]
    # node 0's neighbours at squared distances 1 and 9: weights 2 softmax(-1, -9)
    assert a[0, 0, 1].item() == pytest.approx(2 / (1 + math.exp(-8)), rel=1e-6)


def test_compression_and_decompression_shapes_and_order():
    x = torch.tensor([[[1.0, 3.0], [2.0, 1.0], [3.0, 4.0], [4.0, 2.0]]])  # sorted by the last feature: 2, 4, 1, 3
    linear = torch.nn.Linear(4, 4, bias=False)
    torch.nn.init.eye_(linear.weight)
    assert compress(x, 2, linear).tolist() == [[[2.0, 1.0, 4.0, 2.0], [1.0, 3.0, 3.0, 4.0]]]
    assert decompress(torch.randn(5, 3, 7), 3, torch.nn.Linear(7, 3 * 2, bias=False)).shape == (5, 9, 2)
    for n, factors, latent in ((4, (4,), 9), (9, (3, 3), 20), (16, (4, 4), 36)):
        model = GraphAutoencoder(GAEConfig(n_nodes=n, compression=factors, latent=latent))
        x = torch.rand(6, n, 4)
        x[..., 0] = 1
        reconstruction, target, z = model(x)
        assert reconstruction.shape == target.shape == (6, n, 4) and z.shape == (6, latent)
        assert (reconstruction[..., 3].diff(dim=1) >= 0).all()  # output sorted by lpt
    with pytest.raises(ValueError, match="multiplies to 8"):
        GAEConfig(n_nodes=9, compression=(4, 2))


def test_layers_have_no_biases():
    model = GraphAutoencoder(GAEConfig(n_nodes=9, compression=(3, 3), latent=20))
    assert not [name for name, _ in model.named_parameters() if "bias" in name]
    assert not [name for name, _ in OneoffEnsemble(OneoffConfig(inputs=5)).named_parameters() if "bias" in name]


def test_sixteen_node_gae_trains_without_nan_from_a_hostile_start(tmp_path):
    g = torch.Generator().manual_seed(1)
    nodes = torch.randn(64, 16, 3, generator=g) * 0.3
    nodes[..., 2] = torch.rand(64, 16, generator=g) * 1e-9  # vanishing pT: lpt near 20
    mask = torch.rand(64, 16, generator=g) > 0.3
    mask[:, :2] = True
    x = particle_inputs(nodes, mask, 16)
    x[:8] = 0  # empty jets: every particle padding
    x[8:16, :, 1:] = x[8:9, :1, 1:]  # jets of identical particles: zero spread in the normalisation's divisions
    config = GAEConfig(n_nodes=16, compression=(4, 4), latent=36, lr=0.05)

    def hostile(device):
        task = GAETask(config, device, x, x)
        with torch.no_grad():
            for name, p in task.model.named_parameters():
                p.mul_(1e4 if "metrics" in name else 2)  # weights doubled, kNN metrics 10^4x too sharp
        return task

    result = loop.fit(hostile, torch.utils.data.DataLoader(x, batch_size=16), epochs=2, checkpoint_dir=tmp_path,
                      metrics_path=tmp_path / "metrics.csv", grad_clip_norm=1.0, best_metric="loss", device="cpu")
    assert math.isfinite(result.best_value)


def test_oneoff_loss_score_and_homogeneity():
    model = OneoffEnsemble(OneoffConfig(inputs=3, members=4, hidden=(8,)))
    x = torch.rand(10, 3) + 0.1
    assert torch.allclose(model(2.5 * x), 2.5 * model(x), atol=1e-5)  # bias-free ReLU: positively homogeneous
    f = model(x)
    assert torch.allclose(model.loss(x), ((f - 1) ** 2).mean(0), atol=1e-6)  # the thesis's MSE to 1 ...
    assert torch.allclose(model.loss(x), (f.mean(0) - 1) ** 2 + f.var(0, unbiased=False), atol=1e-6)  # ... is this
    q = model.calibrate(x)
    assert torch.allclose(q, f.mean(0), atol=1e-6)
    assert torch.allclose(model.score(x), ((f - q) ** 2).mean(1).sqrt(), atol=1e-6)
    bagged = OneoffEnsemble(OneoffConfig(inputs=10, members=3, feature_fraction=0.3))
    assert bagged.bags.sum(1).tolist() == [3.0, 3.0, 3.0]


def test_auc_of_known_scores():
    assert anomaly.auc([0, 1, 2], [3, 4]) == 1.0
    assert anomaly.auc([3, 4], [0, 1, 2]) == 0.0
    assert anomaly.auc([0, 1], [1, 2]) == pytest.approx((1 + 1 + 0.5 + 1) / 4)  # one tie counts 1/2
    rng = np.random.default_rng(0)
    b, s = rng.normal(0, 1, 20000), rng.normal(1, 1, 20000)
    assert anomaly.auc(b, s) == pytest.approx(norm.cdf(1 / math.sqrt(2)), abs=0.01)  # Phi(d / sqrt 2)
    tpr, fpr = anomaly.roc(b, s)
    assert tpr[0] == fpr[0] == 0 and tpr[-1] == fpr[-1] == 1
    assert np.trapezoid(tpr, fpr) == pytest.approx(anomaly.auc(b, s), abs=1e-3)
    # at 30 % signal efficiency the threshold is 1 + 0.524 sigma: FPR = 1 - Phi(1.524)
    assert anomaly.rejection(b, s) == pytest.approx(1 / norm.sf(1 + norm.isf(0.3)), rel=0.1)


def test_auc_map_and_thesis_cross_matrix_count():
    b = np.zeros((4, 2, 4))
    s = np.ones((3, 2, 4))
    s[:, 1, 2] = -1
    m = anomaly.auc_map(b, s)
    assert m.shape == (2, 4) and m[1, 2] == 0.0 and (np.delete(m.ravel(), 6) == 1.0).all()
    assert anomaly.above_chance(anomaly.THESIS_CROSS) == (52, 56)
    assert anomaly.invertible_pairs(anomaly.THESIS_CROSS) == (46, 56)  # 4 entries below 0.5 spoil 8, ldm-gluon 2
    assert anomaly.mean_std([1.0, 2.0, 3.0]) == (2.0, 1.0)
    assert anomaly.mean_std([np.inf, np.inf])[0] == np.inf  # no background jet passed: infinite rejection


def test_tiny_run_evaluates_the_anomaly_family(tiny_run):
    out = tiny_run / "results" / "anomaly"
    metrics = json.loads((out / "metrics.json").read_text())
    pairs = {(p["method"], p["background"], p["anomaly"]) for p in metrics["pairs"]}
    for method in ("gae4", "oneoff_raw", "oneoff_gae4", "width", "multiplicity", "knn_raw", "ocsvm_gae4"):
        assert {(method, "qcd", "top"), (method, "top", "qcd")} <= pairs
    assert all(0 <= a <= 1 for p in metrics["pairs"] for a in p["auc"])
    cross = metrics["cross"]["oneoff_raw"]  # config.yaml's anomaly.cross_inputs
    assert len(cross["matrix"]) == len(metrics["datasets"]) == 8 and cross["invertible"][1] == 56
    summary = (out / "summary.md").read_text()
    assert "0.635" in summary and "| oneoff_gae4 | " in summary and "## Cross matrix: oneoff_raw" in summary
    for name in ("roc", "scores", "auc_maps", "cross_matrix", "training_curves"):
        assert (out / "plots" / f"{name}.png").stat().st_size > 10_000
