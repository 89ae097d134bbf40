"""Pythia 8 + FastJet jets at tiny size: cuts, truth matching, mass peaks, reproducibility, and the stages."""

from __future__ import annotations

import numpy as np
import pytest

from hepgraph.data.jet_formats import PID_MASS, iter_jet_graphs, read_jetnet, read_toptag
from hepgraph.data.kinematics import pt_eta_phi_m, wrap_phi
from hepgraph.data.pythia import SEED_MAX, JetSample, simulate_jets
from hepgraph.data.tables import read_arrays, read_meta
from hepgraph.stages import prepare_jets, simulate_jets as simulate_stage

WINDOWS = {"top": (550.0, 650.0, 2.0), "w": (300.0, 400.0, 2.0), "g": (300.0, 400.0, 2.5)}


@pytest.fixture(scope="module")
def samples() -> dict[str, JetSample]:
    out = {}
    for seed, (process, n) in enumerate((("top", 20), ("w", 20), ("g", 12)), start=1):
        pt_min, pt_max, eta_max = WINDOWS[process]
        out[process] = simulate_jets(process, n, seed, pt_min=pt_min, pt_max=pt_max, eta_max=eta_max,
                                     max_constituents=150)
    return out


@pytest.mark.parametrize("process", list(WINDOWS))
def test_cuts_shapes_and_constituents(samples, process):
    s = samples[process]
    pt_min, pt_max, eta_max = WINDOWS[process]
    n = len(s.jet_p4)
    assert s.p4.shape == (n, 150, 4) and s.pdgid.dtype == np.int32 and s.charge.dtype == np.float32
    pt, eta, _, _ = pt_eta_phi_m(s.jet_p4)
    assert np.all((pt >= pt_min) & (pt <= pt_max)) and np.all(np.abs(eta) < eta_max)
    valid = s.p4[..., 0] > 0
    np.testing.assert_array_equal(valid, s.pdgid != 0)
    np.testing.assert_array_equal(valid.sum(axis=1), np.minimum(s.n_constituents, 150))
    c_pt = np.hypot(s.p4[..., 1], s.p4[..., 2])
    assert np.all(np.diff(c_pt, axis=1) <= 0)  # pT-descending, padding last
    full = s.n_constituents <= 150
    np.testing.assert_allclose(s.p4[full].sum(axis=1), s.jet_p4[full], rtol=1e-9, atol=1e-6)  # E-scheme
    assert set(np.unique(np.abs(s.pdgid[valid]))) <= set(PID_MASS)  # stable and visible: no neutrinos
    charged = np.isin(np.abs(s.pdgid), [211, 321, 2212, 11, 13])
    np.testing.assert_array_equal(np.abs(s.charge), charged.astype(np.float32))
    assert np.median(s.n_constituents) > 20


@pytest.mark.parametrize("process", list(WINDOWS))
def test_jets_match_their_truth_object(samples, process):
    s = samples[process]
    _, jet_eta, jet_phi, _ = pt_eta_phi_m(s.jet_p4)
    _, t_eta, t_phi, t_m = pt_eta_phi_m(s.parton_p4)
    assert np.all(np.hypot(jet_eta - t_eta, wrap_phi(jet_phi - t_phi)) < 0.8 + 0.1)  # eta vs rapidity slack
    if process == "g":
        np.testing.assert_allclose(t_m, 0.0, atol=1e-3)
    else:  # Breit-Wigner: the median lies at the pole mass
        assert abs(np.median(t_m) - {"top": 172.5, "w": 80.4}[process]) < 2.0


def fraction_in(sample: JetSample, low: float, high: float) -> float:
    mass = pt_eta_phi_m(sample.jet_p4)[3]
    return float(np.mean((mass > low) & (mass < high)))


def test_top_and_w_jet_mass_peaks(samples):
    top_mass, w_mass = (pt_eta_phi_m(samples[p].jet_p4)[3] for p in ("top", "w"))
    assert 160.0 < np.median(top_mass) < 195.0 and fraction_in(samples["top"], 140.0, 210.0) > 0.6
    assert 75.0 < np.median(w_mass) < 95.0 and fraction_in(samples["w"], 70.0, 100.0) > 0.6
    assert fraction_in(samples["g"], 70.0, 100.0) < 0.6  # gluon jets of the same window do not peak there


def test_same_seed_same_jets_other_seed_other_jets():
    kwargs = dict(pt_min=300.0, pt_max=400.0, eta_max=2.0, max_constituents=60)
    a = simulate_jets("q", 4, 11, **kwargs)
    b = simulate_jets("q", 4, 11, **kwargs)
    c = simulate_jets("q", 4, 12, **kwargs)
    for name in JetSample.__dataclass_fields__:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert not np.array_equal(a.jet_p4, c.jet_p4)


@pytest.mark.parametrize("seed", [0, SEED_MAX + 1])
def test_seed_range_is_checked(seed):
    with pytest.raises(ValueError, match="1..900000000"):
        simulate_jets("g", 1, seed, pt_min=300.0, pt_max=400.0, eta_max=2.0)


def test_bad_process_and_window():
    with pytest.raises(ValueError, match="not one of"):
        simulate_jets("higgs", 1, 1, pt_min=300.0, pt_max=400.0, eta_max=2.0)
    with pytest.raises(ValueError, match="pT window"):
        simulate_jets("g", 1, 1, pt_min=400.0, pt_max=300.0, eta_max=2.0)
    with pytest.raises(ValueError, match="pthat_min_fraction"):
        simulate_jets("g", 1, 1, pt_min=300.0, pt_max=400.0, eta_max=2.0, pthat_min_fraction=1.2)


def test_simulate_stage_writes_real_layouts(tmp_path):
    common = ["--seed", "5", "--n-jets", "3", "--pt-min", "550", "--pt-max", "650", "--eta-max", "2.0"]
    simulate_stage.main(["--process", "top", "--format", "toptag", *common, "--output", str(tmp_path / "t.h5")])
    jets = read_toptag(tmp_path / "t.h5")
    np.testing.assert_array_equal(jets.is_signal_new, [1, 1, 1])
    pt = pt_eta_phi_m(jets.p4.astype(np.float64).sum(axis=1))[0]
    assert np.all((pt > 500) & (pt < 700))  # 200 leading constituents carry (almost) all the jet
    assert np.all(np.abs(pt_eta_phi_m(jets.truth_p4)[3] - 173.0) < 15)
    simulate_stage.main(["--process", "top", "--format", "jetnet", *common, "--output", str(tmp_path / "t.hdf5")])
    pf = read_jetnet(tmp_path / "t.hdf5").particle_features
    assert pf.shape == (3, 30, 4) and np.all(pf[..., 2].sum(axis=1) <= 1.0 + 1e-5)
    with pytest.raises(ValueError, match="--format qg"):
        simulate_stage.main(["--process", "top", "--format", "qg", *common, "--output", str(tmp_path / "x.npz")])


def test_prepare_stage_writes_jets_table(tmp_path):
    common = ["--n-jets", "2", "--pt-min", "300", "--pt-max", "400", "--eta-max", "2.0", "--jet-r", "0.4"]
    for process, seed in (("q", 1), ("g", 2)):
        simulate_stage.main(["--process", process, "--seed", str(seed), "--format", "qg", *common,
                             "--output", str(tmp_path / f"{process}.npz")])
    out = tmp_path / "qg.parquet"
    prepare_jets.main(["--input", str(tmp_path / "q.npz"), str(tmp_path / "g.npz"), "--format", "qg",
                       "--n-nodes", "16", "--output", str(out)])
    table = read_arrays(out, "jets")
    np.testing.assert_array_equal(table["label"], [1, 1, 0, 0])
    expected = [g for p in ("q", "g") for g in iter_jet_graphs(tmp_path / f"{p}.npz", "qg", 16)]
    np.testing.assert_array_equal(table["nodes"], np.concatenate([g.nodes for g in expected]))
    np.testing.assert_array_equal(table["mask"], np.concatenate([g.mask for g in expected]))
    meta = read_meta(out)
    assert meta["source"] == ["q.npz", "g.npz"] and meta["n_nodes"] == 16 and meta["format"] == "qg"
