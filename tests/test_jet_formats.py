"""Jet graph features on hand-made jets and round trips of the JetNet, top-tagging and quark/gluon layouts."""

from __future__ import annotations

import h5py
import numpy as np
import pandas as pd
import pytest

from hepgraph.data.jet_formats import (PID_MASS, TOPTAG_COLUMNS, JetNetJets, QGJets, TopTagJets, iter_jet_graphs,
                                       jetnet_from_sample, jetnet_to_graphs, qg_from_sample, qg_p4, read_jetnet,
                                       read_qg, read_toptag, toptag_from_sample, write_jetnet, write_qg,
                                       write_toptag)
from hepgraph.data.jet_graphs import (JetGraphs, constituent_features, jet_features,
                                      jet_graphs_from_p4)
from hepgraph.data.pythia import JetSample
from hepgraph.data.tables import concat_arrays, read_arrays
from hepgraph.io import UnreadableFileError
from hepgraph.stages import prepare_jets


def p4_from(pt, eta, phi, m=0.0):
    """(E, px, py, pz) of a particle given (pT, eta, phi, m); arrays broadcast."""
    pt, eta, phi, m = np.broadcast_arrays(*(np.asarray(a, dtype=np.float64) for a in (pt, eta, phi, m)))
    pz = pt * np.sinh(eta)
    return np.stack([np.sqrt(pt**2 + pz**2 + m**2), pt * np.cos(phi), pt * np.sin(phi), pz], axis=-1)


# A jet at phi = 3.0 with a constituent across the +-pi boundary (phi = -3.0): phi_rel = -6 + 2 pi.
JET = p4_from(100.0, 0.5, 3.0, 20.0)
CONSTITUENTS = np.stack([p4_from(30.0, 0.3, 2.9), np.zeros(4), p4_from(60.0, 0.6, -3.0), p4_from(10.0, 0.5, 3.0)])
EXPECTED = np.array([[0.1, 2 * np.pi - 6.0, 0.6], [-0.2, -0.1, 0.3], [0.0, 0.0, 0.1], [0.0, 0.0, 0.0]])


def test_constituent_features_by_hand():
    nodes, mask = constituent_features(CONSTITUENTS[None], JET[None], n_nodes=4)
    assert nodes.dtype == np.float32 and nodes.shape == (1, 4, 3)
    np.testing.assert_array_equal(mask, [[True, True, True, False]])
    np.testing.assert_allclose(nodes[0], EXPECTED, atol=1e-6)


def test_constituent_features_truncates_and_pads():
    nodes, mask = constituent_features(CONSTITUENTS[None], JET[None], n_nodes=2)
    np.testing.assert_allclose(nodes[0], EXPECTED[:2], atol=1e-6)
    assert mask.all()
    nodes, mask = constituent_features(CONSTITUENTS[None], JET[None], n_nodes=6)
    assert nodes.shape == (1, 6, 3) and mask.sum() == 3 and not nodes[0, 3:].any()


def test_constituent_features_rejects_zero_pt_jet():
    with pytest.raises(ValueError, match="pT = 0"):
        constituent_features(CONSTITUENTS[None], np.array([[5.0, 0.0, 0.0, 5.0]]), 4)


def test_jet_features_by_hand():
    pt, eta, mass = jet_features(JET[None])
    np.testing.assert_allclose([pt[0], eta[0], mass[0]], [100.0, 0.5, 20.0], rtol=1e-9)


def test_graphs_from_p4_sum_constituents_and_concatenate():
    p4 = np.stack([CONSTITUENTS, CONSTITUENTS[[2, 0, 3, 1]]])
    graphs = jet_graphs_from_p4(p4, label=3, n_nodes=3)
    jet = CONSTITUENTS.sum(axis=0)
    pt, eta, mass = jet_features(jet[None])
    np.testing.assert_allclose(graphs.jet_pt, np.repeat(pt, 2), rtol=1e-6)
    np.testing.assert_allclose(graphs.jet_mass, np.repeat(mass, 2), rtol=1e-5)
    np.testing.assert_array_equal(graphs.n_constituents, [3, 3])
    np.testing.assert_array_equal(graphs.label, [3, 3])
    np.testing.assert_array_equal(graphs.nodes[0], graphs.nodes[1])  # order of the input does not matter
    both = concat_arrays([graphs.columns(), graphs.columns()])
    assert both["nodes"].shape == (4, 3, 3) and set(both) == {
        "nodes", "mask", "label", "jet_pt", "jet_eta", "jet_mass", "n_constituents"}


def hand_sample() -> JetSample:
    """Three jets of known constituents with Pythia's masses: pi+, K-, photon, neutron, padding."""
    pdgid = np.array([[211, -321, 22, 2112, 0], [22, 211, 0, 0, 0], [-211, 2212, 130, 11, 13]], np.int32)
    pt = np.array([[400.0, 100.0, 50.0, 20.0, 0], [500.0, 30.0, 0, 0, 0], [300.0, 200.0, 60.0, 10.0, 5.0]])
    eta = np.array([[0.1, 0.2, -0.1, 0.3, 0], [-1.2, -1.0, 0, 0, 0], [1.5, 1.7, 1.4, 1.6, 1.55]])
    phi = np.array([[3.1, -3.1, 3.0, 2.9, 0], [0.1, 6.2, 0, 0, 0], [-1.0, -1.2, -0.8, -1.1, -0.9]])
    mass = np.vectorize(lambda i: PID_MASS.get(abs(int(i)), 0.0))(pdgid)
    p4 = p4_from(pt, eta, phi, mass) * (pdgid != 0)[..., None]
    charge = np.sign(pdgid) * np.isin(np.abs(pdgid), [211, 321, 2212]) - np.sign(pdgid) * np.isin(
        np.abs(pdgid), [11, 13])
    return JetSample(p4=p4, pdgid=pdgid, charge=charge.astype(np.float32), jet_p4=p4.sum(axis=1),
                     n_constituents=(pdgid != 0).sum(axis=1).astype(np.int32),
                     parton_p4=p4.sum(axis=1) * 1.05)


def assert_same(a, b):
    for name in a.__dataclass_fields__:
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and x.shape == y.shape, name
        np.testing.assert_array_equal(x, y, err_msg=name)


def test_jetnet_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    jets = JetNetJets(particle_features=rng.normal(size=(7, 30, 4)).astype(np.float32),
                      jet_features=rng.normal(size=(7, 4)).astype(np.float32))
    path = tmp_path / "g.hdf5"
    write_jetnet(path, jets)
    assert_same(read_jetnet(path), jets)
    assert_same(read_jetnet(path, 2, 5), JetNetJets(jets.particle_features[2:5], jets.jet_features[2:5]))
    with h5py.File(path) as f:  # the layout jetnet.datasets.JetNet reads
        assert sorted(f) == ["jet_features", "particle_features"] and f["particle_features"].dtype == np.float32
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_jetnet_from_sample_keeps_relative_features():
    sample = hand_sample()
    jets = jetnet_from_sample(sample)
    assert jets.particle_features.shape == (3, 30, 4) and jets.jet_features.dtype == np.float32
    np.testing.assert_array_equal(jets.particle_features[..., 3].sum(axis=1), [4, 2, 5])
    np.testing.assert_array_equal(jets.jet_features[:, 3], [4, 2, 5])
    graphs = jetnet_to_graphs(jets, label=2, n_nodes=30)
    expected = jet_graphs_from_p4(sample.p4, 2, 30)
    assert_same(graphs, expected)
    np.testing.assert_allclose(graphs.nodes[0, 0], [0.1 - expected.jet_eta[0], 0, 400 / expected.jet_pt[0]],
                               atol=0.05)  # leading pi+ sits near the jet axis


def test_toptag_round_trip_and_layout(tmp_path):
    sample = hand_sample()
    jets = toptag_from_sample(sample, is_signal=True)
    path = tmp_path / "train.h5"
    write_toptag(path, jets)
    assert_same(read_toptag(path), jets)
    df = pd.read_hdf(path, key="table")  # how jetnet / particle_transformer read the reference files
    assert list(df.columns) == TOPTAG_COLUMNS and len(TOPTAG_COLUMNS) == 806
    data = df.to_numpy()
    np.testing.assert_array_equal(data[:, :800].reshape(-1, 200, 4), jets.p4)
    np.testing.assert_array_equal(data[:, -1], [1, 1, 1])
    np.testing.assert_allclose(df["PX_1"].to_numpy(), sample.p4[:, 1, 1], rtol=1e-6)
    assert df["E_5"].eq(0).all()
    assert_same(read_toptag(path, 1, 3), TopTagJets(jets.p4[1:3], jets.truth_p4[1:3], jets.ttv[1:3],
                                                    jets.is_signal_new[1:3]))
    background = toptag_from_sample(sample, is_signal=False)
    assert not background.truth_p4.any() and not background.is_signal_new.any()


def test_qg_round_trip_and_momenta(tmp_path):
    sample = hand_sample()
    jets = qg_from_sample(sample, is_quark=True)
    assert jets.X.shape == (3, 5, 4)
    jet_phi = np.arctan2(sample.jet_p4[:, 2], sample.jet_p4[:, 1]) % (2 * np.pi)
    valid = sample.pdgid != 0
    assert np.all(np.abs(jets.X[..., 2] - jet_phi[:, None])[valid] < np.pi)  # no phi periodicity in a jet
    np.testing.assert_array_equal(jets.X[..., 3], sample.pdgid)
    np.testing.assert_allclose(qg_p4(jets.X), sample.p4, rtol=1e-12, atol=1e-9)
    path = tmp_path / "QG_jets.npz"
    write_qg(path, jets)
    assert_same(read_qg(path), jets)
    with np.load(path) as f:  # the layout energyflow.qg_jets.load reads
        assert sorted(f.files) == ["X", "y"] and f["X"].dtype == np.float64
        np.testing.assert_array_equal(f["y"], [1.0, 1.0, 1.0])


def test_qg_unknown_particle_is_named(tmp_path):
    X = np.array([[[100.0, 0.1, 0.2, 3122.0]]])
    write_qg(tmp_path / "bad.npz", QGJets(X=X, y=np.zeros(1)))
    with pytest.raises(ValueError, match=r"bad\.npz.*3122"):
        next(iter_jet_graphs(tmp_path / "bad.npz", "qg", 30))


@pytest.mark.parametrize("fmt", ["jetnet", "toptag", "qg"])
def test_streaming_equals_whole_file(tmp_path, fmt):
    sample = hand_sample()
    path = tmp_path / f"jets.{fmt}"
    label = {"jetnet": 4}.get(fmt)
    if fmt == "jetnet":
        write_jetnet(path, jetnet_from_sample(sample))
    elif fmt == "toptag":
        write_toptag(path, toptag_from_sample(sample, is_signal=False))
    else:
        write_qg(path, qg_from_sample(sample, is_quark=False))
    whole = list(iter_jet_graphs(path, fmt, 4, label=label))
    chunks = list(iter_jet_graphs(path, fmt, 4, label=label, chunk_size=2))
    assert len(whole) == 1 and [len(c.label) for c in chunks] == [2, 1]
    assert_same(JetGraphs(**concat_arrays([c.columns() for c in chunks])), whole[0])
    pid = (sample.pdgid, sample.charge) if fmt == "qg" else None  # quark/gluon files carry particle identity
    expected = jet_graphs_from_p4(sample.p4, label or 0, 4, pid=pid)
    assert isinstance(whole[0], JetGraphs)
    np.testing.assert_array_equal(whole[0].mask, expected.mask)
    np.testing.assert_array_equal(whole[0].label, expected.label)
    np.testing.assert_allclose(whole[0].nodes, expected.nodes, atol=1e-5)
    np.testing.assert_allclose(whole[0].jet_mass, expected.jet_mass, rtol=1e-4)


def test_labels_jetnet_needs_one_others_refuse(tmp_path):
    write_jetnet(tmp_path / "t.hdf5", jetnet_from_sample(hand_sample()))
    with pytest.raises(ValueError, match="pass its label"):
        next(iter_jet_graphs(tmp_path / "t.hdf5", "jetnet", 30))
    write_qg(tmp_path / "q.npz", qg_from_sample(hand_sample(), True))
    with pytest.raises(ValueError, match="do not pass a label"):
        next(iter_jet_graphs(tmp_path / "q.npz", "qg", 30, label=1))
    with pytest.raises(ValueError, match="not one of"):
        next(iter_jet_graphs(tmp_path / "q.npz", "root", 30))


def test_missing_keys_and_columns_are_named(tmp_path):
    with h5py.File(tmp_path / "g.hdf5", "w") as f:
        f["particle_features"] = np.zeros((2, 30, 4), np.float32)
    with pytest.raises(ValueError, match=r"g\.hdf5.*'jet_features'"):
        read_jetnet(tmp_path / "g.hdf5")
    df = pd.DataFrame(np.zeros((2, len(TOPTAG_COLUMNS)), np.float32), columns=TOPTAG_COLUMNS)
    df.drop(columns=["is_signal_new", "PZ_7"]).to_hdf(tmp_path / "val.h5", key="table", format="table")
    with pytest.raises(ValueError, match=r"val\.h5.*PZ_7.*is_signal_new"):
        read_toptag(tmp_path / "val.h5")
    df.to_hdf(tmp_path / "test.h5", key="jets", format="table")
    with pytest.raises(ValueError, match=r"test\.h5.*'table'"):
        read_toptag(tmp_path / "test.h5")
    np.savez(tmp_path / "QG_jets.npz", X=np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match=r"QG_jets\.npz.*'y'"):
        read_qg(tmp_path / "QG_jets.npz")
    with pytest.raises(FileNotFoundError, match="nothing.h5"):
        read_toptag(tmp_path / "nothing.h5")


@pytest.mark.parametrize("fmt, name, cause", [
    ("jetnet", "g.hdf5", r"OSError: Unable to synchronously open file \(truncated file: eof = \d+"),
    ("toptag", "train.h5", r"HDF5ExtError: truncated file: eof = \d+"),
    ("qg", "QG_jets.npz", r"BadZipFile: File is not a zip file"),
])
def test_truncated_raw_files_raise_one_error_naming_file_and_fix(tmp_path, fmt, name, cause):
    sample, path, good = hand_sample(), tmp_path / name, tmp_path / f"good.{fmt}"
    write = {"jetnet": lambda p: write_jetnet(p, jetnet_from_sample(sample)),
             "toptag": lambda p: write_toptag(p, toptag_from_sample(sample, is_signal=True)),
             "qg": lambda p: write_qg(p, qg_from_sample(sample, is_quark=True))}[fmt]
    write(path)
    write(good)
    path.write_bytes(path.read_bytes()[:path.stat().st_size * 2 // 3])  # a download that stopped early
    message = rf"{name}: cannot be read \({cause}.*\); the file is damaged or incomplete: re-download it"
    with pytest.raises(UnreadableFileError, match=message):
        {"jetnet": read_jetnet, "toptag": read_toptag, "qg": read_qg}[fmt](path)
    out = tmp_path / "jets.parquet"
    label = ["--label", "1"] if fmt == "jetnet" else []
    with pytest.raises(UnreadableFileError, match=message):
        prepare_jets.main(["--input", str(good), str(path), "--format", fmt, *label, "--chunk-size", "2",
                           "--output", str(out)])
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == sorted([name, good.name])
    prepare_jets.main(["--input", str(good), "--format", fmt, *label, "--chunk-size", "2", "--output", str(out)])
    assert len(read_arrays(out, "jets")["label"]) == 3


def test_corrupted_npz_member_is_named(tmp_path):
    path = tmp_path / "QG_jets.npz"
    write_qg(path, qg_from_sample(hand_sample(), is_quark=True))
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0xFF  # inside the stored X.npy
    path.write_bytes(bytes(data))
    with pytest.raises(UnreadableFileError,
                       match=r"QG_jets\.npz: cannot be read \(BadZipFile: Bad CRC-32 for file 'X\.npy'\)"):
        read_qg(path)
