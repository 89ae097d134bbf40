"""Tracking with hierarchical GNNs (Liu et al. 2023): matching and scores by hand, the bipartite matching loss against
brute force, graph construction, edge removal, a real TrackML event, and the family's part of the tiny run."""

import dataclasses
import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml

from hepgraph.data.hit_graphs import event_graph, hit_features, true_edges
from hepgraph.data.trackml import event_arrays, read_event
from hepgraph.evaluation.tracking import (Cuts, drop_edges, efficiency_purity, match_particles, tracking_counts,
                                          trackml_score)
from hepgraph.models.hgnn import (HGNNConfig, Hierarchy, TrackingGNN, augment, balanced_bce, bipartite_matching_loss,
                                  component_labels, edge_features, gmm_cut, wheel_weight)
from hepgraph.models.metric_learning import edge_quality, hinge_loss, radius_graph


def hand_event():
    """Particles 1 (pT 2, 6 hits), 2 (pT 3, 6 hits), 3 (pT 0.5, 5 hits), 4 (pT 2, 4 hits), 5 (pT 5, 5 hits), three
    noise hits, and candidates: 1 found whole; 2 split 3 + 3; 3 and 4 merged (9 hits, 5 of them from 3); a fake of
    the three noise hits; 4 of 5's hits, its last hit alone (a 1-hit candidate, discarded)."""
    pid = np.array([1] * 6 + [2] * 6 + [3] * 5 + [4] * 4 + [5] * 5 + [0] * 3)
    pt = np.select([pid == 1, pid == 2, pid == 3, pid == 4, pid == 5], [2.0, 3.0, 0.5, 2.0, 5.0], 0.0)
    labels = np.array([0] * 6 + [1] * 3 + [2] * 3 + [3] * 9 + [5] * 4 + [6] + [4] * 3)
    return pid, pt, labels


def test_matching_split_merged_noise_and_fakes():
    pid, pt, labels = hand_event()
    match = match_particles(pid, pt, labels, Cuts(pt_min=1.0, min_hits=5, min_candidate_hits=3))
    assert match["particle_id"].tolist() == [1, 2, 3, 4, 5]
    assert match["reconstructable"].tolist() == [True, True, False, False, True]  # 3: pT; 4: 4 hits
    assert match["matched"].tolist() == [True, False, True, False, True]  # 2 split 50/50; 4 is 4/9 of the merge
    assert match["candidates"] == 6  # 0-5; the 1-hit candidate 6 is not one
    counts = tracking_counts([match, match])
    assert counts == {"reconstructable": 6, "matched_reconstructable": 4, "matched_nonreconstructable": 2,
                      "candidates": 12}
    efficiency, purity = efficiency_purity(counts)
    assert efficiency == pytest.approx(2 / 3)
    assert purity == pytest.approx(4 / (12 - 2))
    # candidates need 4 hits: the split halves and the fake go, purity 2 / (3 - 1)
    eff4, pur4 = efficiency_purity(tracking_counts([match_particles(pid, pt, labels, Cuts(1.0, 5, 4))]))
    assert (eff4, pur4) == (pytest.approx(2 / 3), pytest.approx(1.0))


def test_trackml_score_by_hand():
    pid = np.array([1, 1, 1, 1, 2, 2, 2, 0])
    weight = np.array([0.1, 0.1, 0.1, 0.1, 0.2, 0.2, 0.2, 0.0])  # noise weighs nothing
    labels = np.array([0, 0, 0, 1, 1, 1, -1, 0])
    # track 0: 3 hits of 1 + noise (3 > 4/2, 3 > 4/2): 0.3; track 1: 2 of 2's 3 hits + one of 1: 0.4; hit 6 alone: 0
    assert trackml_score(pid, labels, weight) == pytest.approx(0.7)
    assert trackml_score(pid, np.where(pid > 0, pid, -1), weight) == pytest.approx(1.0)  # the particles as tracks
    assert trackml_score(pid, np.full(8, -1), weight) == 0.0


def brute_force_loss(logits, hit, sn, pid, k):
    """Class-balanced BCE (positive and negative targets half each) against the assignment of k distinct particles
    to the k supernodes that maximises the summed sigmoid of the edges it makes positive, found by trying every
    assignment."""
    best, loss = -np.inf, None
    for choice in itertools.permutations(sorted(set(pid.tolist()) - {0}), k):
        target = (pid[hit] == torch.tensor(choice)[sn]) & (pid[hit] != 0)
        expected = float(torch.sigmoid(logits)[target].sum())
        if expected > best:
            bce = F.binary_cross_entropy_with_logits(logits, target.float(), reduction="none")
            best, loss = expected, float(bce[target].mean() / 2 + bce[~target].mean() / 2)
    return loss


def test_balanced_bce_weighs_each_class_half():
    # one true edge at logit 0 (BCE ln 2) and three false ones at logit ln 3 (BCE ln 4): (ln 2 + ln 4) / 2
    target = torch.tensor([True, False, False, False])
    logits = torch.tensor([0.0, np.log(3), np.log(3), np.log(3)])
    assert float(balanced_bce(logits, target)) == pytest.approx(1.5 * np.log(2), rel=1e-6)
    assert float(balanced_bce(torch.zeros(5), torch.zeros(5, dtype=torch.bool))) == pytest.approx(np.log(2) / 2)


def test_hinge_loss_by_hand():
    # a same-particle pair at distance 0.6 (0.36) and three others at 0.2, 0.5 and 1.5 with margin 1 (0.64, 0.25, 0)
    a = torch.zeros(4, 2)
    b = torch.tensor([[0.6, 0.0], [0.0, 0.2], [0.3, 0.4], [1.5, 0.0]])
    same = torch.tensor([True, False, False, False])
    assert float(hinge_loss(a, b, same, 1.0)) == pytest.approx((0.36 + 0.64 + 0.25) / 4, rel=1e-5)
    assert float(hinge_loss(a, b, same, 1.0, balanced=True)) == pytest.approx(0.36 / 2 + 0.89 / 6, rel=1e-5)


@pytest.mark.parametrize("seed", range(5))
def test_bipartite_matching_loss_is_the_best_assignment(seed):
    """No hit in a supernode's cluster: the matching follows the assignment probabilities alone."""
    gen = torch.Generator().manual_seed(seed)
    n, k = 8, 3
    pid = torch.tensor([1, 1, 2, 2, 2, 3, 4, 0])
    hit, sn = torch.arange(n).repeat_interleave(k), torch.arange(k).repeat(n)  # every hit to every supernode
    logits = 3 * torch.randn(n * k, generator=gen)
    hier = Hierarchy(cluster=torch.full((n,), -1), centres=torch.zeros(k, 2), bip_hit=hit, bip_sn=sn,
                     bip_w=torch.ones(n * k), bip_sim=logits, sup_src=hit[:0], sup_dst=hit[:0], sup_w=logits[:0])
    loss = bipartite_matching_loss(logits, hier, pid)
    assert float(loss) == pytest.approx(brute_force_loss(logits, hit, sn, pid, k), rel=1e-6)


def test_radius_graph_finds_known_neighbours():
    points = torch.tensor([[0.0, 0.0], [0.05, 0.0], [1.0, 0.0], [1.05, 0.0], [1.0, 0.08]])
    assert radius_graph(points, 0.1, 10).T.tolist() == [[0, 1], [2, 3], [2, 4], [3, 4]]  # |3 - 4| = 0.094
    assert radius_graph(points, 0.1, 1).T.tolist() == [[0, 1], [2, 3], [2, 4]]  # each point's nearest only
    assert radius_graph(points, 0.04, 10).shape == (2, 0)


def test_edge_quality_and_true_edges():
    pid = np.array([7, 7, 7, 9, 9, 0])
    order = np.array([3.0, 1.0, 2.0, 5.0, 4.0, 0.0])
    assert true_edges(pid, order).T.tolist() == [[1, 2], [2, 0], [4, 3]]  # along each track, noise alone
    built = torch.tensor([[0, 1, 3, 0], [2, 2, 4, 5]])
    quality = edge_quality(built, torch.from_numpy(pid), torch.from_numpy(true_edges(pid, order)))
    assert quality == {"true_found": 3, "true_edges": 3, "same_particle": 3, "edges": 4}


def test_hit_features_are_scaled_cylindrical_coordinates():
    features = hit_features(np.array([0.0, -300.0]), np.array([500.0, 0.0]), np.array([-1000.0, 20.0]))
    assert features == pytest.approx(np.array([[0.5, 0.5, -1.0], [0.3, 1.0, 0.02]]), abs=1e-6)


@pytest.mark.parametrize("fraction", [0.0, 0.2, 0.5])
def test_edge_removal_removes_that_fraction(fraction):
    edges = torch.stack([torch.arange(1000), torch.arange(1000) + 1])
    kept = drop_edges(edges, fraction, torch.Generator().manual_seed(1))
    assert kept.shape == (2, round(1000 * (1 - fraction)))
    assert len(set(kept[0].tolist())) == kept.shape[1] and (kept[1] == kept[0] + 1).all()  # distinct original edges
    with pytest.raises(ValueError, match="fraction"):
        drop_edges(edges, 1.2, torch.Generator())


def test_augment_turns_and_mirrors_the_event_rigidly():
    """A turned (and maybe mirrored) event keeps every hit's r and |z| and every edge's geometry up to the mirror's
    sign on dz, d eta and z0; over many draws the turn spans all of phi and half the events are mirrored."""
    torch.manual_seed(0)
    x = torch.from_numpy(hit_features(np.array([30.0, 70.0, 150.0, -400.0]), np.array([5.0, 12.0, 30.0, -90.0]),
                                      np.array([10.0, 25.0, 52.0, -300.0])))
    edges = torch.tensor([[0, 1, 2, 0], [1, 2, 0, 3]])
    turns, mirrors = [], []
    for _ in range(200):
        y = augment(x)
        assert torch.allclose(y[:, 0], x[:, 0]) and torch.allclose(y[:, 2].abs(), x[:, 2].abs())
        mirror = bool(y[0, 2] < 0)
        flip = torch.tensor([1.0, 1.0, -1.0, -1.0, -1.0, 1.0]) if mirror else torch.ones(6)
        assert torch.allclose(edge_features(y, edges), edge_features(x, edges) * flip, atol=1e-5)
        turns.append(float(torch.remainder(y[0, 1] - x[0, 1], 2)))
        mirrors.append(mirror)
    assert np.histogram(turns, bins=4, range=(0, 2))[0].min() > 25 and 70 < sum(mirrors) < 130


def test_gmm_cut_lies_between_the_two_populations():
    rng = np.random.default_rng(0)
    scores = np.concatenate([rng.normal(-1.0, 0.3, 4000), rng.normal(2.0, 0.3, 4000)])
    cut = gmm_cut(scores)
    assert cut == pytest.approx(0.5, abs=0.1)  # equal weights and widths: the midpoint
    assert gmm_cut(scores, r=3.0) > cut  # a finer granularity cuts higher


def test_cluster_cut_is_a_moving_average_over_training_events():
    """Training sets the cut from the first event's mixture, then averages with momentum; evaluation keeps it."""
    model = TrackingGNN("bc_hgnn", HGNNConfig(hidden=16, dim=4, gmm_r=1.0, cut_momentum=0.9))
    edges = torch.randint(60, (2, 400), generator=torch.Generator().manual_seed(0))
    edges = edges[:, edges[0] != edges[1]]
    events = [F.normalize(torch.randn(60, 4, generator=torch.Generator().manual_seed(s)), dim=1) for s in (1, 2, 3)]
    cuts = [gmm_cut(torch.atanh((n[edges[0]] * n[edges[1]]).sum(1).clamp(-1 + 1e-6, 1 - 1e-6)).numpy(), 1.0)
            for n in events]
    assert cuts[0] != pytest.approx(cuts[1])
    model.hierarchy(events[0], edges)
    assert float(model.cluster_cut) == pytest.approx(cuts[0])
    model.hierarchy(events[1], edges)
    assert float(model.cluster_cut) == pytest.approx(0.9 * cuts[0] + 0.1 * cuts[1])
    model.eval()
    model.hierarchy(events[2], edges)
    assert float(model.cluster_cut) == pytest.approx(0.9 * cuts[0] + 0.1 * cuts[1])


def test_component_labels_drop_small_components():
    edges = torch.tensor([[0, 1, 3, 5], [1, 2, 4, 6]])
    assert component_labels(8, edges, 3).tolist() == [0, 0, 0, -1, -1, -1, -1, -1]
    assert component_labels(8, edges, 2).tolist() == [0, 0, 0, 1, 1, 2, 2, -1]


def test_wheel_weight_fades_out():
    assert [wheel_weight(e, 4) for e in range(6)] == [1.0, 0.75, 0.5, 0.25, 0.0, 0.0]
    assert wheel_weight(0, 0) == 0.0


@pytest.mark.parametrize("kind", ["ec", "emb_in", "emb_hgnn", "bc_hgnn"])
def test_every_model_builds_tracks_and_learns(kind, one_torch_thread):
    """On two straight tracks and a radius graph, a few steps lower each model's training loss."""
    from hepgraph.models.hgnn import TrackingTask

    t = np.linspace(100, 1000, 10)
    x = np.concatenate([t, t * 0.2]), np.concatenate([t * 0.1, t]), np.concatenate([t * 0.5, -t * 0.3])
    event = event_graph(*x, np.repeat([1, 2], 10), np.full(20, 2.0), np.zeros(20))
    event.edge_index = radius_graph(event.x, 0.35, 6)
    def score(events, labels):  # prefers fewer hits in tracks: the highest cut of the grid for ec and bc_hgnn
        return {"n": float(len(labels[0])), "score": -float((labels[0] >= 0).sum())}

    config = HGNNConfig(hidden=16, dim=4, min_supernode_hits=2, wheel_epochs=2, cut_grid=(0.5, 0.9, 1.0))
    task = TrackingTask(kind, config, torch.device("cpu"), [event], score, 1)
    losses = [task.train_step(event)["loss"] for _ in range(30)]
    assert np.mean(losses[-5:]) < np.mean(losses[:5])
    result = task.validate()
    assert result["n"] == 20.0
    if kind in ("ec", "bc_hgnn"):  # the best cut (at 1 no hit is in a track) is kept and builds the tracks
        assert result["score"] == 0.0 and result["cut"] == pytest.approx(float(task.model.cut))
        assert (task.model.tracks(event.x, event.edge_index) == -1).all()
    assert isinstance(task.model, TrackingGNN) and task.model.epochs_done == 30


def test_real_trackml_event_read_and_scored(shared_data):
    """The reference TrackML event in the user's layout: its truth graph's components are its particles (efficiency
    and purity 1), and they score the whole of the event's official weights."""
    tables = read_event(shared_data / "trackml", "event000000001")
    arrays = event_arrays(**tables)
    event = event_graph(arrays["x"], arrays["y"], arrays["z"], arrays["particle_id"], arrays["particle_pt"],
                        arrays["particle_eta"])
    labels = component_labels(event.num_nodes, event.true_index, 2)
    match = match_particles(event.pid.numpy(), event.pt.numpy(), labels, Cuts())
    assert match["reconstructable"].sum() == 53  # of the reference event's 5,527 hits
    assert efficiency_purity(tracking_counts([match])) == (1.0, 1.0)
    weight = tables["truth"].sort_values("hit_id")["weight"].to_numpy()
    assert trackml_score(event.pid.numpy(), labels, weight) == pytest.approx(weight.sum(), rel=1e-9)


def test_tiny_run_scores_every_model(tiny_run):
    hgnn = tiny_run / "results" / "hgnn"
    summary = (hgnn / "summary.md").read_text()
    for name in ("Embedding HGNN", "Embedding IN", "Bipartite HGNN", "Edge Classifier IN", "Truth CC"):
        assert summary.count(f"| {name} ") == 1
    assert "| Edge Classifier IN (cut 0." in summary and "| Bipartite HGNN (cut 0." in summary  # chosen on val
    quality = json.loads((hgnn / "pt1" / "graphs" / "test.json").read_text())
    assert 0 < quality["edge_efficiency"] <= 1 and 0 < quality["edge_purity"] <= 1
    for model in ("ec", "emb_in", "emb_hgnn", "bc_hgnn", "truth_cc"):
        result = json.loads((hgnn / "pt1" / "test" / f"{model}.json").read_text())
        assert result["dropped"]["drop_fraction"] == 0.2
        for scores in (result["full"], result["dropped"]):
            assert scores["matched_reconstructable"] <= scores["reconstructable"]
            assert 0 <= scores["trackml_score"] <= 1 + 1e-9
        assert (hgnn / "pt1" / "test" / f"display_{model}.png").stat().st_size > 10_000
    truth = json.loads((hgnn / "pt1" / "test" / "truth_cc.json").read_text())
    # Truth CC's components are pure; removing edges only splits them, so no particle gets matched that was not
    assert truth["dropped"]["matched_reconstructable"] <= truth["full"]["matched_reconstructable"]
    assert truth["full"]["matched_reconstructable"] > 0


def test_config_schema_accepts_every_model_setting():
    """hgnn.model_overrides in the config schema names exactly the HGNNConfig fields."""
    schema = yaml.safe_load((Path(__file__).parents[1] / "workflow" / "schemas" / "config.schema.yaml").read_text())
    overrides = schema["properties"]["hgnn"]["properties"]["model_overrides"]["additionalProperties"]
    assert set(overrides["propertyNames"]["enum"]) == {f.name for f in dataclasses.fields(HGNNConfig)}
