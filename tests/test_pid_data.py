"""The data side of the quark/gluon family: label convention, particle features with identity, the calo_images
table's optional constituents, E2E layout traps and the detector model of the simulated images."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import ndtr

from hepgraph.data.jet_formats import QGJets, qg_charge, qg_to_graphs
from hepgraph.data.jet_graphs import PARTICLE_FEATURES, particle_features, pid_flags
from hepgraph.data.labels import GLUON, QUARK, class_name, table_labels
from hepgraph.data.tables import iter_batches, read_arrays, read_graphs, read_header, write_table

F = {name: i for i, name in enumerate(PARTICLE_FEATURES)}


def test_labels_speak_of_quark_and_gluon_and_map_the_raw_convention():
    assert (QUARK, GLUON) == (1, 0) and class_name(1) == "quark" and class_name(np.int64(0)) == "gluon"
    np.testing.assert_array_equal(table_labels(np.array([0.0, 1.0, 0.0]), quark_label=0), [QUARK, GLUON, QUARK])
    np.testing.assert_array_equal(table_labels(np.array([0, 1, 1]), quark_label=1), [GLUON, QUARK, QUARK])
    with pytest.raises(ValueError, match="quark_label must be 0 or 1"):
        table_labels(np.array([0, 1]), quark_label=2)
    with pytest.raises(ValueError, match=r"found \[0, 2\]"):
        table_labels(np.array([0, 2]), quark_label=1)
    with pytest.raises(ValueError, match="neither"):
        class_name(3)


def test_pid_flags_are_one_hot_particlenet_classes():
    pdgid = np.array([211, -321, 2212, 2112, 130, 22, 11, -11, 13, 0])
    charge = np.array([1, -1, 1, 0, 0, 0, -1, 1, -1, 0])
    flags = pid_flags(pdgid, charge)  # charged hadron, neutral hadron, photon, electron, muon
    expected = [0, 0, 0, 1, 1, 2, 3, 3, 4]
    np.testing.assert_array_equal(flags[:-1].argmax(axis=1), expected)
    np.testing.assert_array_equal(flags.sum(axis=1), [1] * 9 + [0])


def test_particle_features_of_a_hand_made_jet():
    # one jet of two particles along (eta, phi) = (0.5, 0.2) and (0.3, 0.0), massless: E = pT cosh(eta)
    pt, eta, phi = np.array([30.0, 10.0]), np.array([0.5, 0.3]), np.array([0.2, 0.0])
    p4 = np.stack([pt * np.cosh(eta), pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)], axis=-1)[None]
    pdgid, charge = np.array([[22, -211]]), np.array([[0.0, -1.0]])
    jet = p4.sum(axis=1)
    jet_pt, jet_e = np.hypot(jet[0, 1], jet[0, 2]), jet[0, 0]
    jet_eta, jet_phi = np.arcsinh(jet[0, 3] / jet_pt), np.arctan2(jet[0, 2], jet[0, 1])
    nodes, mask = particle_features(p4, pdgid, charge, jet, n_nodes=3)
    assert nodes.shape == (1, 3, len(PARTICLE_FEATURES)) == (1, 3, 13) and mask.tolist() == [[True, True, False]]
    photon, pion = nodes[0, 0], nodes[0, 1]
    np.testing.assert_allclose(photon[[F["delta_eta"], F["delta_phi"]]], [0.5 - jet_eta, 0.2 - jet_phi], atol=1e-6)
    np.testing.assert_allclose(photon[F["delta_r"]], np.hypot(0.5 - jet_eta, 0.2 - jet_phi), atol=1e-6)
    np.testing.assert_allclose([photon[F["log_pt"]], photon[F["log_e"]]], [np.log(30), np.log(30 * np.cosh(0.5))],
                               rtol=1e-6)
    np.testing.assert_allclose([pion[F["log_pt_rel"]], pion[F["log_e_rel"]]],
                               [np.log(10 / jet_pt), np.log(10 * np.cosh(0.3) / jet_e)], rtol=1e-6)
    assert photon[F["is_photon"]] == 1 and photon[F["charge"]] == 0 and photon[F["is_charged_hadron"]] == 0
    assert pion[F["is_charged_hadron"]] == 1 and pion[F["charge"]] == -1
    assert not nodes[0, 2].any()  # padding is all zeros


def test_qg_files_give_particle_features_with_charge_from_the_signed_pdgid():
    X = np.array([[[50.0, 0.1, 1.0, -211.0], [20.0, 0.0, 1.1, 11.0], [10.0, 0.2, 0.9, -2112.0],
                   [0, 0, 0, 0]]])
    np.testing.assert_array_equal(qg_charge(X), [[-1, -1, 0, 0]])
    graphs = qg_to_graphs(QGJets(X=X, y=np.array([1.0])), n_nodes=4)
    assert graphs.nodes.shape == (1, 4, 13) and graphs.label.tolist() == [QUARK]
    np.testing.assert_array_equal(graphs.nodes[0, :3, F["charge"]], [-1, -1, 0])
    np.testing.assert_array_equal(graphs.nodes[0, :3, F["is_charged_hadron"]:], [[1, 0, 0, 0, 0], [0, 0, 0, 1, 0],
                                                                                  [0, 1, 0, 0, 0]])
    np.testing.assert_allclose(graphs.nodes[0, :3, F["log_pt"]], np.log([50, 20, 10]), rtol=1e-6)


def calo_columns(n: int, with_nodes: bool, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    columns = {"X_jets": rng.random((n, 3, 125, 125), dtype=np.float32), "pt": rng.random(n, dtype=np.float32),
               "m0": rng.random(n, dtype=np.float32), "y": rng.integers(0, 2, n)}
    if with_nodes:
        columns |= {"nodes": rng.random((n, 7, 13), dtype=np.float32), "mask": rng.random((n, 7)) < 0.5}
    return columns


def test_calo_images_tables_hold_constituents_or_not(tmp_path):
    with_nodes, without = calo_columns(4, True), calo_columns(3, False, seed=1)
    write_table(tmp_path / "sim.parquet", "calo_images", with_nodes, {"node_features": list(PARTICLE_FEATURES)})
    write_table(tmp_path / "real.parquet", "calo_images", without, {})
    back = read_arrays(tmp_path / "sim.parquet", "calo_images")
    assert sorted(back) == sorted(with_nodes)
    for name, values in with_nodes.items():
        np.testing.assert_array_equal(back[name], values)
    assert read_header(tmp_path / "sim.parquet")["meta"]["node_features"][-1] == "is_muon"
    assert sorted(read_arrays(tmp_path / "real.parquet", "calo_images")) == ["X_jets", "m0", "pt", "y"]
    with pytest.raises(ValueError, match="calo_images tables are images, not graphs"):
        read_graphs(tmp_path / "sim.parquet", "calo_images")
    with pytest.raises(ValueError, match=r"real\.parquet has no column\(s\) \['nodes'\]"):
        next(iter_batches(tmp_path / "real.parquet", "calo_images", ["nodes", "y"]))
    with pytest.raises(ValueError, match="'nodes' and 'mask' go together"):
        write_table(tmp_path / "bad.parquet", "calo_images", {**without, "nodes": np.zeros((3, 7, 13))}, {})
    with pytest.raises(ValueError, match="all batches need the same columns"):
        write_table(tmp_path / "bad.parquet", "calo_images", [with_nodes, without], {})
    assert not (tmp_path / "bad.parquet").exists()


# ----------------------------------------------------------------------------------------------- detector model
def single_particles(pdgid: int, energy: float, n: int, mass: float = 0.0) -> tuple[np.ndarray, ...]:
    """n jets of one particle each at the jet axis (eta = phi = 0, the centre of pixel 12 of 25), [n, 1, ...]."""
    p4 = np.tile([energy, np.sqrt(energy**2 - mass**2), 0.0, 0.0], (n, 1, 1))
    return p4, np.full((n, 1), pdgid), np.zeros((n, 1)), p4[:, 0]


def images_of(p4, pdgid, charge, jet_p4, detector, seed=0):
    from hepgraph.data.calo import jet_images

    return jet_images(p4, pdgid, charge, jet_p4, n_pixels=25, detector=detector,
                      rng=np.random.default_rng(seed)).astype(np.float64)


@pytest.mark.parametrize("pdgid, mass, energy, channel", [(22, 0.0, 5.0, 1), (22, 0.0, 40.0, 1),
                                                          (2112, 0.93957, 50.0, 2)])
def test_measured_energy_resolution_matches_the_configured_terms(pdgid, mass, energy, channel):
    from hepgraph.data.calo import IDEAL

    terms = dict(ecal_stochastic=0.1, ecal_constant=0.05, ecal_spread=0.69) if channel == 1 else dict(
        hcal_stochastic=0.847, hcal_constant=0.074, hcal_spread=2.2)
    detector = type(IDEAL)(**{**vars(IDEAL), **terms})
    n = 4000
    sums = images_of(*single_particles(pdgid, energy, n, mass), detector)[:, channel].sum(axis=(1, 2))
    stochastic, constant = (terms[k] for k in terms if not k.endswith("spread"))
    expected = np.sqrt(stochastic**2 / energy + constant**2)  # sigma / E
    # the standard deviation of n Gaussian draws is known to ~1 / sqrt(2 n) = 1.1 % of itself
    np.testing.assert_allclose(sums.std() / energy, expected, rtol=0.05)
    np.testing.assert_allclose(sums.mean(), energy, rtol=4 * expected / np.sqrt(n))  # no energy lost to the spread


def test_noise_per_crystal_and_per_tower_and_zero_suppression_of_noise():
    from hepgraph.data.calo import IDEAL, Detector

    nothing = (np.zeros((300, 1, 4)), np.zeros((300, 1), int), np.zeros((300, 1)), np.tile([10.0, 10, 0, 0], (300, 1)))
    noisy = images_of(*nothing, Detector(**{**vars(IDEAL), "ecal_noise": 0.05, "hcal_noise": 0.3}))
    np.testing.assert_allclose(noisy[:, 1].std(), 0.05, rtol=0.02)  # 187,500 crystals
    towers = noisy[:, 2, ::5, ::5] * 25  # each tower is spread over its 5 x 5 pixels
    np.testing.assert_allclose(towers.std(), 0.3, rtol=0.05)  # 7,500 towers
    np.testing.assert_array_equal(noisy[:, 2], towers.repeat(5, 1).repeat(5, 2) / 25)
    assert not noisy[:, 0].any()  # the track channel has no noise

    suppressed = images_of(*nothing, Detector(**{**vars(IDEAL), "ecal_noise": 0.05, "ecal_threshold": 0.15}))
    kept = suppressed[:, 1] != 0
    # P(noise > 3 sigma) = 0.00135: 253 of 187,500 crystals expected, Poisson sd 16
    assert abs(kept.sum() - 187_500 * (1 - ndtr(3.0))) < 5 * 16
    assert (suppressed[:, 1][kept] >= 0.15).all()


def test_zero_suppression_removes_cells_below_threshold_only():
    from hepgraph.data.calo import IDEAL, Detector

    # one jet: photons of 0.1 and 0.5 GeV in two crystals, neutrons of 0.7 and 1.5 GeV (E) in two towers
    eta = np.array([0.0, 3 * 0.0174, -0.2, 0.2])
    energy = np.array([0.1, 0.5, 0.7 + 0.93957, 1.5 + 0.93957])
    mass = np.array([0, 0, 0.93957, 0.93957])
    pt = np.sqrt(energy**2 - mass**2) / np.cosh(eta)
    p4 = np.stack([energy, pt, np.zeros(4), pt * np.sinh(eta)], -1)[None]
    pdgid = np.array([[22, 22, 2112, 2112]])
    detector = Detector(**{**vars(IDEAL), "ecal_threshold": 0.2, "hcal_threshold": 1.0 + 0.93957})
    image = images_of(p4, pdgid, np.zeros((1, 4)), np.array([[50.0, 50, 0, 0]]), detector)[0]
    assert np.count_nonzero(image[1]) == 1 and np.isclose(image[1].max(), 0.5)
    np.testing.assert_allclose(image[2].sum(), energy[3])  # the 1.5 GeV (kinetic) neutron's tower stays
    assert np.count_nonzero(image[2]) == 25 and np.allclose(image[2][image[2] > 0], energy[3] / 25)
    ideal = images_of(p4, pdgid, np.zeros((1, 4)), np.array([[50.0, 50, 0, 0]]), IDEAL)[0]
    np.testing.assert_allclose(ideal[1].sum(), 0.6)
    np.testing.assert_allclose(ideal[2].sum(), energy[2:].sum())


def test_ecal_spread_contains_94_percent_in_3x3_crystals():
    from hepgraph.data.calo import IDEAL, Detector

    image = images_of(*single_particles(22, 30.0, 1), Detector(**{**vars(IDEAL), "ecal_spread": 0.69}))[0, 1]
    fraction_1d = ndtr(1.5 / 0.69) - ndtr(-1.5 / 0.69)  # crystal centre to the 3 x 3 border: 1.5 crystals
    np.testing.assert_allclose(image[11:14, 11:14].sum() / 30.0, fraction_1d**2, rtol=1e-6)
    assert 0.935 < fraction_1d**2 < 0.945 and np.isclose(image.sum(), 30.0)


def test_detector_settings_are_checked():
    from hepgraph.data.calo import Detector, jet_images

    with pytest.raises(ValueError, match=r"must be >= 0.*ecal_noise"):
        Detector(ecal_noise=-0.1)
    with pytest.raises(ValueError, match="pass rng"):
        jet_images(*single_particles(22, 5.0, 1), n_pixels=25, detector=Detector())


def test_overlay_appends_each_jets_minimum_bias_particles():
    from hepgraph.data.pileup import overlay

    p4, pdgid, charge = np.ones((3, 2, 4)), np.full((3, 2), 211), np.ones((3, 2))
    events = [np.full((k, 6), float(k)) for k in (1, 2, 3)]  # events of 1, 2 and 3 particles
    p4_all, pdgid_all, charge_all = overlay(p4, pdgid, charge, np.array([2, 0, 1]), events)
    assert p4_all.shape == (3, 2 + 3, 4) and pdgid_all.dtype == pdgid.dtype
    np.testing.assert_array_equal(p4_all[0, 2:, 0], [1, 2, 2])  # jet 0: events 0 and 1
    assert not p4_all[1, 2:].any() and (p4_all[2, 2:, 0] == 3).all()  # jet 1: none; jet 2: event 2
    np.testing.assert_array_equal(charge_all[:, :2], charge)
    with pytest.raises(ValueError, match=r"sum\(counts\) = 3 minimum-bias events, got 2"):
        overlay(p4, pdgid, charge, np.array([2, 0, 1]), events[:2])


# ------------------------------------------------------------------------------------ E2E files -> calo table
def test_a_simulated_quark_jet_is_a_quark_in_the_table_with_its_particles(tmp_path):
    from hepgraph.data.calo import read_e2e_meta, read_e2e_parquet
    from hepgraph.stages import prepare_calo, simulate_calo

    common = ["--seed", "5", "--n-jets", "3", "--pt-min", "70", "--pt-max", "200", "--eta-max", "1.4"]
    for process in ("q", "g"):
        simulate_calo.main(["--process", process, *common, "--output", str(tmp_path / f"{process}.parquet")])
    inputs = [str(tmp_path / "q.parquet"), str(tmp_path / "g.parquet")]

    # the same jets with pile-up: more tracks in the images (tracks have no noise), the same constituents
    simulate_calo.main(["--process", "q", *common, "--pileup", "2", "--output", str(tmp_path / "pu.parquet")])
    clean, piled = next(read_e2e_parquet(inputs[0])), next(read_e2e_parquet(tmp_path / "pu.parquet"))
    np.testing.assert_array_equal(piled["particles"], clean["particles"])
    added = piled["X_jets"][:, 0].astype(np.float64) - clean["X_jets"][:, 0]
    assert (added >= -1e-4).all() and added.sum() > 0
    assert read_e2e_meta(inputs[0])["quark_label"] == 1
    out = tmp_path / "calo.parquet"
    prepare_calo.main(["--input", *inputs, "--quark-label", "1", "--n-nodes", "40", "--output", str(out)])
    table = read_arrays(out, "calo_images")
    assert [class_name(y) for y in table["y"]] == ["quark"] * 3 + ["gluon"] * 3
    meta = read_header(out)["meta"]
    assert meta["node_features"] == list(PARTICLE_FEATURES) and meta["labels"] == {"1": "quark", "0": "gluon"}
    assert table["nodes"].shape == (6, 40, 13) and table["mask"].dtype == bool

    raw = next(read_e2e_parquet(inputs[0]))["particles"]  # the quark jets' constituents, pT-descending
    n_real = (raw[..., 0] > 0).sum(axis=1)
    np.testing.assert_array_equal(table["mask"][:3].sum(axis=1), np.minimum(n_real, 40))
    k = n_real.min()
    pid = raw[:, :k, 3].astype(int)
    flags = table["nodes"][:3, :k, F["is_charged_hadron"]:]
    photon, electron, muon = np.abs(pid) == 22, np.abs(pid) == 11, np.abs(pid) == 13
    np.testing.assert_array_equal(flags[..., 2], photon)
    np.testing.assert_array_equal(flags[..., 3], electron)
    np.testing.assert_array_equal(flags[..., 4], muon)
    np.testing.assert_allclose(table["nodes"][:3, :k, F["log_pt"]], np.log(raw[:, :k, 0]), rtol=1e-5)
    # the constituents sum to the jet: log(pT / pT_jet) of the leading ones is below 0
    assert (table["nodes"][:3, 0, F["log_pt_rel"]] < 0).all()

    with pytest.raises(ValueError, match=r"q\.parquet records quark_label 1 but --quark-label is 0"):
        prepare_calo.main(["--input", *inputs, "--quark-label", "0", "--output", str(tmp_path / "x.parquet")])
    assert not (tmp_path / "x.parquet").exists()


def real_layout_file(path, images: np.ndarray, y: np.ndarray, channels_last: bool = False) -> None:
    """A file written as the CMS E2E files are: nested lists, no hepgraph provenance, no particles."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    nested = np.moveaxis(images, 1, -1) if channels_last else images
    n = len(images)
    pq.write_table(pa.table({"X_jets": pa.array(nested.astype(np.float64).tolist()), "pt": np.full(n, 100.0),
                             "m0": np.full(n, 10.0), "y": y.astype(np.float64)}), path, row_group_size=2)


def test_real_files_labels_follow_the_configured_quark_label(tmp_path, caplog):
    from hepgraph.stages import prepare_calo

    images = np.zeros((4, 3, 125, 125), np.float32)
    images[:, 0, 60, :10] = 1.0  # 10 tracks per jet; jet 2 (raw y = 1) has 20
    images[2, 0, 61, :10] = 1.0
    real_layout_file(tmp_path / "cms.parquet", images, np.array([0, 0, 1, 0]))
    for quark_label, expected in ((0, [QUARK, QUARK, GLUON, QUARK]), (1, [GLUON, GLUON, QUARK, GLUON])):
        out = tmp_path / f"calo{quark_label}.parquet"
        caplog.clear()
        prepare_calo.main(["--input", str(tmp_path / "cms.parquet"), "--quark-label", str(quark_label),
                           "--output", str(out)])
        table = read_arrays(out, "calo_images")
        assert table["y"].tolist() == expected and "nodes" not in table
        assert read_header(out)["meta"]["raw_quark_label"] == quark_label
        warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
        # the jets called quarks must have fewer tracks: with raw y = 1 as quark they have 20 against 10
        assert warnings == ([] if quark_label == 0 else [
            "the jets labelled quark have as many or more tracks than the gluon jets (20.0 vs 10.0 non-empty track "
            "pixels): quark jets have fewer; check --quark-label 1 (datasets.calo.quark_label)"])


def test_channels_first_round_trip_keeps_each_channel_and_channels_last_is_refused(tmp_path):
    from hepgraph.stages import prepare_calo

    rng = np.random.default_rng(3)
    images = np.zeros((3, 3, 125, 125), np.float32)
    for channel in range(3):  # distinct content per channel: channel c has pixels only in rows 10c..10c+9
        images[:, channel, 10 * channel:10 * channel + 10] = rng.uniform(1, 2, (3, 10, 125)) * (channel + 1)
    real_layout_file(tmp_path / "first.parquet", images, np.array([0, 1, 0]))
    out = tmp_path / "calo.parquet"
    prepare_calo.main(["--input", str(tmp_path / "first.parquet"), "--quark-label", "0", "--output", str(out)])
    back = read_arrays(out, "calo_images")["X_jets"]
    np.testing.assert_array_equal(back, images)
    for channel in range(3):
        rows = np.flatnonzero(back[:, channel].any(axis=(0, 2)))
        assert rows.min() == 10 * channel and rows.max() == 10 * channel + 9

    real_layout_file(tmp_path / "last.parquet", images, np.array([0, 1, 0]), channels_last=True)
    with pytest.raises(ValueError, match=r"last\.parquet: 'X_jets' must have shape \[3, 125, 125\] per jet "
                                         r"\(channels first\), but axis 0 has length\(s\) \[125\].*channels-last"):
        prepare_calo.main(["--input", str(tmp_path / "last.parquet"), "--quark-label", "0",
                           "--output", str(tmp_path / "x.parquet")])
    assert not (tmp_path / "x.parquet").exists()


@pytest.mark.parametrize("row_group_size", [1, 4])  # 1: the CMS files' layout
def test_streaming_a_file_of_many_row_groups_holds_a_few_jets_in_memory(tmp_path, monkeypatch, row_group_size):
    import tracemalloc

    from hepgraph.data import tables
    from hepgraph.data.calo import write_e2e_parquet
    from hepgraph.stages import prepare_calo

    monkeypatch.setattr(tables, "ROW_GROUP_BYTES", 2**20)  # table row groups of ~5 jets
    n, jet_bytes = 48, 3 * 125 * 125 * 4  # 187.5 kB per float32 image: 9 MB of images in all
    rng = np.random.default_rng(0)
    images = np.zeros((n, 3, 125, 125), np.float32)
    images[:, :, 60:65, 60:65] = rng.uniform(0, 50, (n, 3, 5, 5))
    write_e2e_parquet(tmp_path / "big.parquet", images, np.full(n, 100.0), np.full(n, 9.0), np.arange(n) % 2,
                      row_group_size=row_group_size)
    out = tmp_path / "calo.parquet"
    tracemalloc.start()
    prepare_calo.main(["--input", str(tmp_path / "big.parquet"), "--quark-label", "1", "--batch-size", "4",
                       "--output", str(out)])
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # numpy holds one batch of 4 jets (float32 images after float64 decoding: 12 jets' worth), never the file
    assert peak < 16 * jet_bytes < n * jet_bytes
    np.testing.assert_array_equal(read_arrays(out, "calo_images")["X_jets"], images)
    assert len(list(iter_batches(out, "calo_images", batch_rows=1))) == n
