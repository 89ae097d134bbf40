"""The anomaly thesis's other jet datasets at tiny size (dark showers, lepton and tau jets): windows, truth,
the physics that tells them apart, seeds, their tables; and official splits that stay the splits."""

from __future__ import annotations

import numpy as np
import pytest

from hepgraph.data.jet_formats import TOPTAG_PARTICLES, TopTagJets, write_toptag
from hepgraph.data.jet_graphs import NODE_FEATURES
from hepgraph.data.jet_summary import jet_statistics
from hepgraph.data.kinematics import pt_eta_phi_m, wrap_phi
from hepgraph.data.pythia import SEED_MAX, JetSample, _collision_seed, simulate_jets
from hepgraph.data.tables import read_arrays, read_meta, write_table
from hepgraph.stages import prepare_jets, simulate_jets as simulate_stage, split, summarize_anomaly_data
from workflow_runs import planned, snakemake

SQRT_S = (91.1876, 1000.0)
WINDOWS = {"dark": (150.0, 270.0), "lepton": (20.0, 5000.0), "tau": (20.0, 5000.0)}
TRUTH_MASS = {"dark": 2.5, "tau": 1.77686}  # GeV: the dark quark of DARK_SHOWER, Pythia's tau


@pytest.fixture(scope="module")
def samples() -> dict[str, JetSample]:
    return {process: simulate_jets(process, n, 1, pt_min=WINDOWS[process][0], pt_max=WINDOWS[process][1],
                                   eta_max=2.0, sqrt_s=SQRT_S if process != "dark" else 13000.0)
            for process, n in (("dark", 30), ("lepton", 12), ("tau", 12))}


@pytest.mark.parametrize("process", list(WINDOWS))
def test_jets_lie_in_their_window_and_match_their_truth(samples, process):
    s = samples[process]
    pt, eta, phi, _ = pt_eta_phi_m(s.jet_p4)
    assert np.all((pt >= WINDOWS[process][0]) & (pt <= WINDOWS[process][1])) and np.all(np.abs(eta) < 2.0)
    _, t_eta, t_phi, t_mass = pt_eta_phi_m(s.parton_p4)
    assert np.all(np.hypot(eta - t_eta, wrap_phi(phi - t_phi)) < 0.8 + 0.1)  # eta vs rapidity slack
    if process in TRUTH_MASS:
        np.testing.assert_allclose(t_mass, TRUTH_MASS[process], atol=0.01)
    else:  # a quark of the gamma*/Z decay: u, d, s, c or b
        assert np.all(t_mass < 5.0)


def test_lepton_jets_are_split_evenly_over_energies_and_beams(samples):
    """12 jets over (e+e-, mu+mu-) x (91.2, 1000 GeV): 3 per collision, the 91.2 GeV ones first. A jet's momentum
    cannot exceed sqrt(s) / 2 (two-body bound), so the first six have |p| <= 45.6 GeV and all |p| <= 500 GeV."""
    p = np.linalg.norm(samples["lepton"].jet_p4[:, 1:], axis=1)
    assert np.all(p[:6] <= SQRT_S[0] / 2) and np.all(p <= SQRT_S[1] / 2)
    assert np.any(p[6:] > SQRT_S[0] / 2)


def test_tau_jets_are_one_or_three_prongs_with_the_tau_charge(samples):
    """Hadronic tau decays give one or three charged pions and a few photons: a net charge of +-1, an odd number
    of charged particles and a handful of constituents; quark jets of the same collisions have many."""
    tau, lepton = samples["tau"], samples["lepton"]
    charges = np.where(tau.pdgid != 0, tau.charge, 0.0)
    assert np.mean(np.abs(charges.sum(axis=1)) == 1) >= 0.75
    assert np.mean((charges != 0).sum(axis=1) % 2 == 1) >= 0.75
    assert np.median(tau.n_constituents) <= 6 and np.median(lepton.n_constituents) >= 2 * np.median(tau.n_constituents)


def test_dark_jets_lose_momentum_to_invisible_dark_pions(samples):
    """A quarter of the dark hadrons are stable dark pions, which the jet does not see: many dark jets carry well
    under their dark quark's pT (measured on 200 jets: 42 % below 0.9, median 0.92; 100 light-quark jets of the
    same window: 7 % below 0.9, median 1.08). With 30 jets, fewer than 6 below 0.9 has a chance of 0.4 %."""
    s = samples["dark"]
    ratio = pt_eta_phi_m(s.jet_p4)[0] / pt_eta_phi_m(s.parton_p4)[0]
    assert np.mean(ratio < 0.9) >= 0.2


def test_same_seed_same_jets_and_one_seed_per_collision():
    kwargs = dict(pt_min=20.0, pt_max=5000.0, eta_max=2.0, max_constituents=20, sqrt_s=(91.1876,))
    a, b, c = (simulate_jets("tau", 4, seed, **kwargs) for seed in (5, 5, 6))
    for name in JetSample.__dataclass_fields__:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert not np.array_equal(a.jet_p4, c.jet_p4)
    seeds = [_collision_seed(5, k) for k in range(20)]
    assert seeds[0] == 5 and len(set(seeds)) == 20 and all(1 <= s <= SEED_MAX for s in seeds)


def test_lepton_window_beyond_the_beam_energy_is_refused():
    with pytest.raises(ValueError, match=r"pt_min = 50.0 GeV must be below sqrt_s / 2 = 45.5938 GeV"):
        simulate_jets("lepton", 2, 1, pt_min=50.0, pt_max=100.0, eta_max=2.0, sqrt_s=(1000.0, 91.1876))


def test_stages_write_a_jets_table_with_the_toptag_node_features(tmp_path):
    raw, table = tmp_path / "tau_1.hdf5", tmp_path / "tau_1.parquet"
    simulate_stage.main(["--process", "tau", "--seed", "1", "--n-jets", "4", "--format", "jetnet", "--pt-min", "20",
                         "--pt-max", "5000", "--eta-max", "2", "--sqrt-s", "91.1876", "--n-particles", "8",
                         "--output", str(raw)])
    prepare_jets.main(["--input", str(raw), "--format", "jetnet", "--label", "7", "--n-nodes", "8",
                       "--output", str(table)])
    jets = read_arrays(table, "jets")
    assert jets["nodes"].shape == (4, 8, 3) and np.all(jets["label"] == 7)
    assert tuple(read_meta(table)["node_features"]) == NODE_FEATURES
    np.testing.assert_array_equal(jets["mask"].sum(axis=1), np.minimum(jets["n_constituents"], 8))
    np.testing.assert_allclose(jets["nodes"][..., 2].sum(axis=1), 1.0, atol=0.02)  # all of a tau jet's pT


def table(n: int, first: int, label: int = 0) -> dict[str, np.ndarray]:
    """A jets table of ``n`` jets with pT first, first + 1, ... GeV, masses pT / 10 and 2, 3, ... constituents."""
    pt = np.arange(first, first + n, dtype=np.float32)
    return {"nodes": np.zeros((n, 2, 3), np.float32), "mask": np.ones((n, 2), bool),
            "label": np.full(n, label, np.int64), "jet_pt": pt, "jet_eta": np.zeros(n, np.float32),
            "jet_mass": pt / 10, "n_constituents": np.arange(2, n + 2, dtype=np.int32)}


def test_jet_statistics_by_hand():
    s = jet_statistics({"jet_pt": [300.0, 100.0, 200.0], "jet_mass": [30.0, 10.0, 20.0], "n_constituents": [10, 2, 5]})
    assert s["jets"] == 3 and (s["pt_median"], s["pt_min"], s["pt_max"], s["mass_median"]) == (200, 100, 300, 20)
    np.testing.assert_allclose([s["n_10"], s["n_50"], s["n_90"], s["few"]], [2.6, 5.0, 9.0, 1 / 3])  # linear quantiles
    empty = jet_statistics({"jet_pt": [], "jet_mass": [], "n_constituents": []})
    assert empty["jets"] == 0 and np.isnan(empty["pt_median"])


def test_summary_of_datasets_by_table_and_label(tmp_path):
    for name, parts in {"toptag": (table(3, 100, 0), table(1, 500, 1)), "anomaly_tau": (table(3, 20, 7),)}.items():
        for split_name in split.SPLITS:
            write_table(tmp_path / name / f"{split_name}.parquet", "jets", list(parts), {})
    out = tmp_path / "anomaly_datasets.md"
    summarize_anomaly_data.main(["--dataset", "qcd", str(tmp_path / "toptag"), "0", "--dataset", "top",
                                 str(tmp_path / "toptag"), "1", "--dataset", "tau", str(tmp_path / "anomaly_tau"),
                                 "all", "--output", str(out)])
    lines = out.read_text().splitlines()
    # each split holds the same jets: the statistics are those of one split's, three times over
    assert "| qcd | toptag (label 0) | 3 | 3 | 3 | 101 [100-102] | 10.1 | 2 / 3 / 4 | 0.667 |" in lines
    assert "| top | toptag (label 1) | 1 | 1 | 1 | 500 [500-500] | 50.0 | 2 / 2 / 2 | 1.000 |" in lines
    assert "| tau | anomaly_tau | 3 | 3 | 3 | 21 [20-22] | 2.1 | 2 / 3 / 4 | 0.667 |" in lines


def test_inputs_that_are_the_splits_stay_the_splits(tmp_path):
    inputs = {"val": table(3, 100), "train": table(5, 0), "test": table(2, 200)}
    paths = []
    for name, columns in inputs.items():
        paths.append(str(tmp_path / f"{name}_in.parquet"))
        write_table(paths[-1], "jets", columns, {})
    outs = [arg for name in split.SPLITS for arg in (f"--{name}", str(tmp_path / f"{name}.parquet"))]
    split.main(["--kind", "jets", "--inputs", *paths, "--input-splits", *inputs, *outs])
    for name, columns in inputs.items():
        np.testing.assert_array_equal(read_arrays(tmp_path / f"{name}.parquet", "jets")["jet_pt"], columns["jet_pt"])
        assert read_meta(tmp_path / f"{name}.parquet")["input_splits"] == list(inputs)
    with pytest.raises(SystemExit):  # one split per input
        split.main(["--kind", "jets", "--inputs", *paths, "--input-splits", "train", "val", *outs])
    with pytest.raises(SystemExit):  # nothing to stratify
        split.main(["--kind", "jets", "--inputs", *paths, "--input-splits", *inputs, "--stratify", "label", *outs])


def toptag_file(path, n: int, pt: float) -> None:
    """A top-tagging reference-layout file of ``n`` two-particle jets along x, the k-th of pT pt + k GeV."""
    p4 = np.zeros((n, TOPTAG_PARTICLES, 4), np.float32)
    p4[:, 0, 1] = p4[:, 0, 0] = 0.75 * (pt + np.arange(n))
    p4[:, 1, 1] = p4[:, 1, 0] = 0.25 * (pt + np.arange(n))
    write_toptag(path, TopTagJets(p4=p4, truth_p4=np.zeros((n, 4), np.float32), ttv=np.zeros(n, np.int64),
                                  is_signal_new=np.arange(n) % 2))


def test_official_toptag_files_stay_the_splits_through_the_workflow(tmp_path):
    sizes = {"train": (5, 100.0), "val": (3, 200.0), "test": (2, 300.0)}
    (tmp_path / "toptag").mkdir()
    for name, (n, pt) in sizes.items():
        toptag_file(tmp_path / "toptag" / f"{name}.h5", n, pt)
    (tmp_path / "override.yaml").write_text("datasets: {toptag: {source: path, path: toptag}}\n")
    snakemake("--cores", "2", *[f"results/graphs/toptag/{name}.parquet" for name in sizes],
              "--configfile", "override.yaml", cwd=tmp_path)
    for name, (n, pt) in sizes.items():
        np.testing.assert_allclose(read_arrays(tmp_path / f"results/graphs/toptag/{name}.parquet", "jets")["jet_pt"],
                                   pt + np.arange(n), rtol=1e-6)


def test_simulated_toptag_is_split_by_the_fractions(tmp_path):
    (tmp_path / "override.yaml").write_text("datasets: {toptag: {source: simulate}}\n")
    output = snakemake("--dry-run", "--printshellcmds", "results/graphs/toptag/train.parquet",
                       "--configfile", "override.yaml", cwd=tmp_path)
    command = next(line for line in output.splitlines() if "hepgraph.stages.split" in line)
    assert "--input-splits" not in command and "--fractions 0.7 0.15 0.15 --seed 0 --stratify label" in command


def test_processes_pick_the_anomaly_tables_and_the_summary_reads_each_by_table_and_label(tmp_path):
    (tmp_path / "override.yaml").write_text("datasets: {anomaly: {processes: [tau, dark]}}\n")
    args = ("--configfile=override.yaml", "results/graphs/anomaly_datasets.md")
    assert planned(*args, cwd=tmp_path)["simulate_jets"] == 4  # toptag qcd and top, tau, dark
    output = snakemake("--dry-run", "--printshellcmds", *args, cwd=tmp_path)
    command = next(line for line in output.splitlines() if "hepgraph.stages.summarize_anomaly_data" in line)
    assert ("--dataset qcd results/graphs/toptag 0 --dataset top results/graphs/toptag 1 --dataset dark "
            "results/graphs/anomaly_dark all --dataset tau results/graphs/anomaly_tau all") in command
