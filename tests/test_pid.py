"""The quark/gluon family: stratified disjoint splits, scores worked out by hand, model shapes, training."""

import numpy as np
import pytest

from hepgraph.data.tables import node_feature_names, read_arrays, write_table
from hepgraph.stages import split


def test_stratified_split_is_disjoint_and_keeps_the_quark_fraction():
    labels = np.r_[np.ones(700, int), np.zeros(300, int)]  # 70 % quark
    parts = split.split_indices(1000, (0.7, 0.15, 0.15), seed=5, labels=labels)
    assert [len(p) for p in parts] == [700, 150, 150]
    assert len(np.unique(np.concatenate(parts))) == 1000  # every jet in exactly one split
    # per class: 700 quarks -> 490/105/105, 300 gluons -> 210/45/45
    assert [int(labels[p].sum()) for p in parts] == [490, 105, 105]
    unstratified = split.split_indices(1000, (0.7, 0.15, 0.15), seed=5)
    assert [len(p) for p in unstratified] == [700, 150, 150]


def test_split_stage_stratifies_calo_images_by_y(tmp_path):
    rng = np.random.default_rng(0)
    for shard, y in (("q", 1), ("g", 0)):  # one shard per class, as simulated: 40 quark then 60 gluon jets
        n = 40 if y else 60
        write_table(tmp_path / f"{shard}.parquet", "calo_images",
                    {"X_jets": rng.exponential(size=(n, 3, 2, 2)).astype(np.float32),
                     "pt": np.full(n, 100.0, np.float32), "m0": np.arange(n, dtype=np.float32) + 100 * y,
                     "y": np.full(n, y)}, {"shard": shard})
    out = {name: tmp_path / f"{name}.parquet" for name in split.SPLITS}
    split.main(["--kind", "calo_images", "--inputs", str(tmp_path / "q.parquet"), str(tmp_path / "g.parquet"),
                "--fractions", "0.5", "0.25", "0.25", "--stratify", "y",
                *(f"--{name}={path}" for name, path in out.items())])
    read = {name: read_arrays(path, "calo_images", ["m0", "y"]) for name, path in out.items()}
    assert [int(read[name]["y"].sum()) for name in split.SPLITS] == [20, 10, 10]
    assert [int((read[name]["y"] == 0).sum()) for name in split.SPLITS] == [30, 15, 15]
    jets = np.concatenate([read[name]["m0"] for name in split.SPLITS])  # m0 identifies a jet here
    assert sorted(jets.tolist()) == sorted([*range(100, 140), *range(60)])  # no jet lost, none in two splits
    assert node_feature_names(out["test"]) is None  # these shards have no particles


def test_split_tables_name_the_node_features_of_their_shards(tmp_path):
    names = ["delta_eta", "delta_phi", "log_pt"]
    for shard in ("a", "b"):
        write_table(tmp_path / f"{shard}.parquet", "jets",
                    {"nodes": np.zeros((4, 2, 3), np.float32), "mask": np.ones((4, 2), bool),
                     "label": np.arange(4) % 2, "jet_pt": np.ones(4, np.float32), "jet_eta": np.zeros(4, np.float32),
                     "jet_mass": np.ones(4, np.float32), "n_constituents": np.full(4, 2, np.int32)},
                    {"node_features": names})
    out = {name: tmp_path / f"{name}.parquet" for name in split.SPLITS}
    split.main(["--kind", "jets", "--inputs", str(tmp_path / "a.parquet"), str(tmp_path / "b.parquet"),
                "--stratify", "label", *(f"--{name}={path}" for name, path in out.items())])
    assert node_feature_names(out["train"]) == names


# ------------------------------------------------------------------------------------------ scores by hand
from hepgraph.evaluation import pid as scores  # noqa: E402

QUARK_SCORES, GLUON_SCORES = [0.9, 0.4, 0.6], [0.5, 0.1, 0.6]


def hand_sample():
    return np.array(QUARK_SCORES + GLUON_SCORES), np.array([True] * 3 + [False] * 3)


def test_auc_of_a_known_score_counts_pairs_and_half_ties():
    # quark 0.9 beats 3 gluons, 0.4 beats 1, 0.6 beats 2 and ties 1 (1/2): 6.5 of 9 pairs
    assert scores.roc_auc(*hand_sample()) == pytest.approx(6.5 / 9)
    score, is_quark = hand_sample()
    assert scores.roc_auc(-score, is_quark) == pytest.approx(1 - 6.5 / 9)


def test_roc_rejection_and_accuracy_by_hand():
    eff_q, eff_g = scores.roc_curve(*hand_sample())  # cuts at 0.9, 0.6, 0.5, 0.4, 0.1
    np.testing.assert_allclose(eff_q, [0, 1 / 3, 2 / 3, 2 / 3, 1, 1])
    np.testing.assert_allclose(eff_g, [0, 0, 1 / 3, 2 / 3, 2 / 3, 1])
    # at 50 % quark efficiency: halfway between (1/3, 0) and (2/3, 1/3) -> gluon efficiency 1/6
    assert scores.background_rejection(*hand_sample(), 0.5) == pytest.approx(6.0)
    assert scores.background_rejection(*hand_sample(), 0.3) == float("inf")  # no gluon above 0.9
    assert scores.accuracy(*hand_sample()) == pytest.approx(4 / 6)  # 0.4 quark and 0.6 gluon wrong
    stats = scores.mean_std([{"auc": 0.6}, {"auc": 0.8}])
    assert stats["auc"]["mean"] == pytest.approx(0.7) and stats["auc"]["std"] == pytest.approx(np.sqrt(0.02))


def test_roc_needs_both_classes():
    with pytest.raises(ValueError, match="quark and gluon"):
        scores.roc_auc(np.ones(3), np.ones(3, bool))


def test_baseline_variables_by_hand():
    # two particles: pT 1 at dR 0.1 and pT 3 at dR 0.3 (0.18, 0.24) -> width (0.1 + 0.9) / 4
    eta, phi = np.array([[0.1, 0.18]]), np.array([[0.0, 0.24]])
    assert scores.particle_width(eta, phi, np.array([[1.0, 3.0]]), np.ones((1, 2), bool))[0] == pytest.approx(0.25)
    image = np.zeros((1, 3, 5, 5))
    image[0, 1, 2, 2] = 4.0  # the centre pixel: dR 0
    image[0, 0, 2, 4] = 1.0  # two pixels along phi: dR 2 crystals
    assert scores.image_width(image)[0] == pytest.approx(2 * scores.ECAL_CRYSTAL / 5)
    assert scores.track_multiplicity(image)[0] == 1
    # quarks: light, few, narrow -> the baselines score them by the negative value
    values = {"jet mass": np.array([10.0, 30.0]), "jet width": np.array([0.1, 0.2])}
    assert all(v["auc"] == 1.0 for v in scores.baseline_scores(values, np.array([True, False])).values())


# ------------------------------------------------------------------------------------------------- models
import torch  # noqa: E402

from hepgraph.data import pid_inputs  # noqa: E402
from hepgraph.models import pid as models  # noqa: E402

SMALL = {"cnn": {"filters": 4}, "resnet15": {"width": 4},
         "image_gnn": {"k": 4, "blocks": [[8, 8], [16, 16]], "dense": 16, "n_nodes": 16},
         "particlenet": {"k": 4, "blocks": [[8, 8], [16, 16]], "dense": 16}}


def image_batch(n=4, seed=0):
    gen = torch.Generator().manual_seed(seed)
    image = torch.rand(n, 3, 125, 125, generator=gen) * (torch.rand(n, 3, 125, 125, generator=gen) < 0.01)
    return {"image": image, "scalars": torch.randn(n, 2, generator=gen)}


def particle_batch(n=4, nodes=10, features=13, seed=0):
    gen = torch.Generator().manual_seed(seed)
    mask = torch.arange(nodes) < torch.randint(2, nodes + 1, (n, 1), generator=gen)
    return {"points": torch.randn(n, nodes, 2, generator=gen) * mask[..., None],
            "features": torch.randn(n, nodes, features, generator=gen) * mask[..., None], "mask": mask}


@pytest.mark.parametrize("name", models.MODELS)
def test_models_give_one_logit_per_jet(name):
    torch.manual_seed(0)
    model = models.build_model(name, models.model_config(name, **SMALL[name]), n_features=13)
    batch = particle_batch() if name == "particlenet" else image_batch()
    model.eval()
    assert model(batch).shape == (4,)


def test_model_settings_are_checked():
    with pytest.raises(ValueError, match="no settings \\['depth'\\]"):
        models.model_config("resnet15", depth=3)
    assert models.model_config("particlenet", blocks=[[8, 8]]).blocks == ((8, 8),)


def test_pixel_cloud_keeps_the_brightest_nonzero_pixels():
    image = torch.zeros(1, 3, 5, 5)
    image[0, 0, 2, 2], image[0, 1, 2, 2] = 1.0, 2.0  # centre pixel, total 3
    image[0, 2, 0, 4] = 5.0  # eta row 0, phi column 4, total 5
    points, features, mask = models.pixel_cloud(image, n_nodes=4, pixel_size=0.1)
    assert mask.tolist() == [[True, True, False, False]]
    # pixel centres relative to the image centre: row 0 -> eta (0.5 - 2.5) 0.1 = -0.2, column 4 -> phi +0.2
    torch.testing.assert_close(points[0, :2], torch.tensor([[-0.2, 0.2], [0.0, 0.0]]))
    torch.testing.assert_close(features[0, 0, 2:], torch.tensor([0.0, 0.0, 5.0]))
    torch.testing.assert_close(features[0, 1, 2:], torch.tensor([1.0, 2.0, 0.0]))
    assert features[0, 2:].abs().sum() == 0


def test_knn_finds_the_nearest_real_nodes():
    points = torch.tensor([[[0.0, 0], [1, 0], [3, 0], [10, 0]]])
    mask = torch.tensor([[True, True, True, False]])
    idx = models.knn(points, mask, k=2)
    assert idx[0, :3].sort(-1).values.tolist() == [[1, 2], [0, 2], [0, 1]]  # never itself, never the padding


def test_particlenet_ignores_the_order_of_particles():
    torch.manual_seed(0)
    model = models.build_model("particlenet", models.model_config("particlenet", **SMALL["particlenet"]), 13).eval()
    batch = particle_batch(n=2)
    perm = torch.randperm(10)
    permuted = {k: v[:, perm] for k, v in batch.items()}
    torch.testing.assert_close(model(batch), model(permuted), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name", ["resnet15", "particlenet"])
def test_a_few_training_steps_reduce_the_loss(name):
    torch.manual_seed(1)
    batch = particle_batch(n=32, seed=1) if name == "particlenet" else image_batch(n=16, seed=1)
    label = torch.arange(len(next(iter(batch.values())))) % 2
    if name == "particlenet":  # quark particles: a shifted feature
        batch["features"][label == 1, :, 0] += 2.0 * batch["mask"][label == 1]
    else:  # quarks: a brighter core; small images keep the test fast (the network is size-agnostic)
        batch["image"] = batch["image"][:, :, :40, :40]
        batch["image"][label == 1, :, 18:22, 18:22] += 1.0
    task = models.ClassifierTask(models.build_model(name, models.model_config(name, **SMALL[name]), 13),
                                 torch.device("cpu"), lr=3e-3)
    batch["label"] = label
    losses = [task.train_step(batch)["loss"] for _ in range(20)]
    assert losses[0] > 0.6  # ~ln 2 at the start
    assert np.mean(losses[-3:]) < 0.75 * losses[0]


# ------------------------------------------------------------------------------------------------- inputs
def test_image_preprocessing_is_chosen_on_the_training_jets():
    train = np.zeros((2, 3, 2, 2), np.float32)
    train[0, 0, 0, 0], train[1, 0, 1, 1], train[0, 2, 0, 1] = 2.0, 4.0, 5.0  # channel 0: mean of non-zero 3
    prep = pid_inputs.fit_images(train, pt=np.array([100.0, 100.0 * np.e]), m0=np.array([10.0, 20.0]))
    assert prep.channel_scale == (3.0, 1.0, 5.0)  # channel 1 empty: scale 1
    test = np.full((1, 3, 2, 2), 3.0, np.float32)
    out = pid_inputs.image_batch(test, np.array([100.0]), np.array([20.0]), prep)
    torch.testing.assert_close(out["image"][0, :, 0, 0], torch.log1p(torch.tensor([1.0, 3.0, 0.6])))
    torch.testing.assert_close(out["scalars"][0], torch.tensor([-1.0, 1.0]))  # (log pT, m0) standardised


def test_particle_inputs_by_feature_name():
    names = ["eta_rel", "phi_rel", "pt_rel"]
    nodes = np.array([[[0.3, 0.4, 0.5], [0.0, 0.0, 0.0]]], np.float32)
    mask = np.array([[True, False]])
    points, features = pid_inputs.particle_arrays(nodes, mask, names)
    np.testing.assert_allclose(points[0, 0], [0.3, 0.4], rtol=1e-6)
    np.testing.assert_allclose(features[0, 0], [0.3, 0.4, np.log(0.5), 0.5], rtol=1e-6)  # log pt_rel, delta_r
    assert not features[0, 1].any()
    with pytest.raises(ValueError, match="no coordinates"):
        pid_inputs.particle_arrays(nodes, mask, ["a", "b", "c"])


# --------------------------------------------------------------------------------------- the tiny workflow
def test_tiny_run_trains_scores_and_plots_the_quark_gluon_taggers(tiny_run):
    import json

    import pyarrow.parquet as pq

    pid_dir = tiny_run / "results" / "pid"
    result = json.loads((pid_dir / "metrics.json").read_text())
    assert result["seeds"] == [0, 1] and result["label_convention"].startswith("1 = quark")
    runs = {"calo": {"cnn_calo", "resnet15_calo", "image_gnn_calo", "particlenet_calo"}, "qg": {"particlenet_qg"}}
    for dataset, names in runs.items():
        entry = result["datasets"][dataset]
        test = read_arrays(tiny_run / "results" / "graphs" / dataset / "test.parquet",
                           "calo_images" if dataset == "calo" else "jets", ["y" if dataset == "calo" else "label"])
        labels = next(iter(test.values()))
        assert entry["n_test"] == len(labels) and entry["n_quark"] == int((labels == 1).sum()) > 0
        assert set(entry["models"]) == names
        assert set(entry["baselines"]) == {"jet mass", "constituent multiplicity", "jet width"}
        for run in names:
            assert len(entry["models"][run]["per_seed"]) == 2
            assert 0 <= entry["models"][run]["auc"]["mean"] <= 1
            scores_table = pq.read_table(pid_dir / run / "seed_0" / "scores.parquet")
            # the label convention end to end: a quark in the test table is a quark in the scores
            assert scores_table["is_quark"].to_numpy().tolist() == (labels == 1).tolist()
            assert ((scores_table["quark_probability"].to_numpy() >= 0)
                    & (scores_table["quark_probability"].to_numpy() <= 1)).all()
    summary = (pid_dir / "summary.md").read_text()
    assert "| ParticleNet |" in summary and "published: ParticleNet" in summary and "0.9116" in summary
    for name in ("roc_calo", "roc_qg", "training_curves", "scores", "mean_images"):
        assert (pid_dir / "plots" / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
