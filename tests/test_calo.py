"""Calorimeter jet images (CMS E2E layout): pixel placement, detector model, parquet layout, stages."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hepgraph.data.calo import (E2E_SHAPE, deposits, jet_images, phi_at_radius, read_e2e_arrays, read_e2e_meta,
                                read_e2e_parquet, write_e2e_parquet)
from hepgraph.data.tables import read_arrays, read_meta
from hepgraph.io import UnreadableFileError
from hepgraph.stages import prepare_calo
from test_tables import corrupt_middle_page

S = 0.0174  # pixel size
HALF = 62.5 * S  # half-width of the 125-pixel window


def p4_from(pt, eta, phi, m=0.0):
    """(E, px, py, pz) [..., 4] from pt, eta, phi, m."""
    pt, eta, phi, m = np.broadcast_arrays(*map(np.asarray, (pt, eta, phi, m)))
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    return np.stack([np.sqrt(px**2 + py**2 + pz**2 + m**2), px, py, pz], axis=-1)


def one_jet(jet_eta, jet_phi, particles):
    """Arrays for one jet of particles given as (pdgid, charge, pt, d_eta, d_phi, mass), plus a padding slot."""
    pdg, charge, pt, deta, dphi, mass = map(np.array, zip(*particles))
    p4 = np.concatenate([p4_from(pt, jet_eta + deta, jet_phi + dphi, mass), np.zeros((1, 4))])
    jet_p4 = p4_from(500.0, jet_eta, jet_phi, 10.0)
    pdg, charge = np.append(pdg, 0)[None].astype(np.int32), np.append(charge, 0)[None].astype(np.float32)
    return p4[None], pdg, charge, jet_p4[None]


def test_hand_made_jet_lands_in_expected_pixels_and_channels():
    # pi+ at (+3.2, -2.1) pixels, photon at (-5.4, +7.6), neutron at (+20.3, +0.2), nu_mu and mu- elsewhere
    p4, pdg, q, jet = one_jet(0.5, 1.0, [(211, 1, 10.0, 3.2 * S, -2.1 * S, 0.13957),
                                         (22, 0, 4.0, -5.4 * S, 7.6 * S, 0.0),
                                         (2112, 0, 6.0, 20.3 * S, 0.2 * S, 0.93957),
                                         (14, 0, 8.0, 1.3 * S, 1.3 * S, 0.0),
                                         (13, -1, 5.0, -30.6 * S, -40.2 * S, 0.10566)])
    img = jet_images(p4, pdg, q, jet, hcal_tower=1, b_field=0.0)
    assert img.shape == (1, *E2E_SHAPE) and img.dtype == np.float32
    energy = p4[0, :, 0]
    expected = np.zeros(E2E_SHAPE)
    expected[0, 65, 60] = 10.0  # track pT of the pion: floor(62.5 + 3.2) = 65, floor(62.5 - 2.1) = 60
    expected[2, 65, 60] = energy[0]  # the pion's energy in the HCAL
    expected[1, 57, 70] = energy[1]  # photon energy in the ECAL
    expected[2, 82, 62] = energy[2]  # neutron energy in the HCAL
    expected[0, 31, 22] = 5.0  # the muon leaves only its track; the neutrino nothing
    np.testing.assert_allclose(img[0], expected, rtol=1e-6)


def test_hcal_deposits_fill_their_5x5_tower():
    p4, pdg, q, jet = one_jet(0.0, 0.0, [(130, 0, 50.0, 0.0, 0.0, 0.4976), (2112, 0, 20.0, 8.0 * S, -3.0 * S, 0.93957)])
    hcal = jet_images(p4, pdg, q, jet)[0, 2]
    towers = hcal.reshape(25, 5, 25, 5).sum(axis=(1, 3))
    assert towers[12, 12] == pytest.approx(p4[0, 0, 0], rel=1e-6)  # pixel (62, 62) is the middle of tower 12
    assert towers[14, 11] == pytest.approx(p4[0, 1, 0], rel=1e-6)  # pixel (70, 59)
    np.testing.assert_allclose(hcal[60:65, 60:65], p4[0, 0, 0] / 25, rtol=1e-6)  # spread evenly
    assert np.count_nonzero(hcal) == 50


def test_charged_particles_bend_in_the_solenoid_and_loopers_are_lost():
    turn = np.arcsin(0.299792458 * 3.8 * 1.29 / (2 * 10.0))  # 0.0735 rad for 10 GeV at the ECAL face
    phi, reaches = phi_at_radius(np.full(4, 3.1), np.array([10.0, 10.0, 10.0, 0.7]), np.array([1.0, -1.0, 0.0, 1.0]))
    np.testing.assert_allclose(phi[:3], [3.1 - turn, 3.1 + turn - 2 * np.pi, 3.1])  # the pi- wraps around
    assert reaches.tolist() == [True, True, True, False]  # 0.7 GeV < 0.735 GeV curls up
    p4, pdg, q, jet = one_jet(0.0, 0.0, [(211, 1, 10.0, 0.0, 0.0, 0.13957), (-211, -1, 10.0, 0.0, 0.0, 0.13957),
                                         (211, 1, 0.7, 0.0, 0.0, 0.13957)])
    tracks = jet_images(p4, pdg, q, jet)[0, 0]
    # floor(62.5 -+ 0.0735 / 0.0174) = 58 and 66; the looper leaves nothing
    assert tracks[62, 58] == pytest.approx(10.0) and tracks[62, 66] == pytest.approx(10.0)
    assert tracks.sum() == pytest.approx(20.0)


def test_phi_wraps_around_pi():
    # a jet just below +pi with particles across the boundary, and one just above -pi
    p4, pdg, q, jet = one_jet(0.0, np.pi - 0.01, [(22, 0, 3.0, 0.0, 0.03, 0.0), (22, 0, 2.0, 0.0, -0.05, 0.0)])
    assert p4_from(1.0, 0.0, np.pi + 0.02)[2] < 0  # the first photon really sits at phi = -pi + 0.02
    ecal = jet_images(p4, pdg, q, jet)[0, 1]
    assert ecal[62, 64] == pytest.approx(p4[0, 0, 0], rel=1e-6)  # floor(62.5 + 0.03 / S) = 64
    assert ecal[62, 59] == pytest.approx(p4[0, 1, 0], rel=1e-6)  # floor(62.5 - 0.05 / S) = 59
    assert np.count_nonzero(ecal) == 2
    p4, pdg, q, jet = one_jet(0.0, -np.pi + 0.005, [(22, 0, 7.0, 0.0, -0.02, 0.0)])
    ecal = jet_images(p4, pdg, q, jet)[0, 1]
    assert ecal[62, 61] == pytest.approx(p4[0, 0, 0], rel=1e-6) and np.count_nonzero(ecal) == 1  # floor(61.35)


def test_particles_outside_the_window_are_dropped():
    p4, pdg, q, jet = one_jet(1.0, -2.0, [(22, 0, 1.0, HALF + 0.001, 0.0, 0.0), (22, 0, 1.0, -HALF - 0.001, 0.0, 0.0),
                                          (22, 0, 1.0, 0.0, HALF + 0.001, 0.0), (22, 0, 1.0, 0.0, 1.5, 0.0),
                                          (22, 0, 2.0, HALF - 0.001, -HALF + 0.001, 0.0)])
    ecal = jet_images(p4, pdg, q, jet)[0, 1]
    assert np.count_nonzero(ecal) == 1 and ecal[124, 0] == pytest.approx(p4[0, 4, 0], rel=1e-6)


def test_channel_sums_equal_the_deposits_inside_the_window():
    rng = np.random.default_rng(7)
    n_jets, m = 6, 40
    species = np.array([(211, 1), (-211, -1), (321, 1), (22, 0), (11, -1), (2112, 0), (130, 0), (13, 1), (12, 0)])
    kind = species[rng.integers(0, len(species), (n_jets, m))]
    pdg, q = kind[..., 0].astype(np.int32), kind[..., 1].astype(np.float32)
    jet_eta, jet_phi = rng.uniform(-1, 1, n_jets), rng.uniform(-np.pi, np.pi, n_jets)
    deta, dphi = rng.uniform(-1.5, 1.5, (2, n_jets, m))
    p4 = p4_from(rng.exponential(5.0, (n_jets, m)), jet_eta[:, None] + deta, jet_phi[:, None] + dphi, 0.1)
    p4[:, -5:], pdg[:, -5:], q[:, -5:] = 0, 0, 0  # padding
    jets = p4_from(200.0, jet_eta, jet_phi, 20.0)
    img = jet_images(p4, pdg, q, jets, b_field=0.0).astype(np.float64)
    inside = (np.abs(deta) < HALF) & (np.abs(dphi) < HALF)
    dep = deposits(p4, pdg, q)
    np.testing.assert_allclose(img.sum(axis=(2, 3)), (dep * inside[..., None]).sum(axis=1), rtol=1e-5)
    assert inside.sum() > 50 and (~inside).sum() > 50  # both cases are exercised
    # the ECAL + HCAL total is the energy of all inside particles but muons and neutrinos
    visible = inside & ~np.isin(np.abs(pdg), (12, 13)) & (pdg != 0)
    np.testing.assert_allclose(img[:, 1:].sum(axis=(1, 2, 3)), (p4[..., 0] * visible).sum(axis=1), rtol=1e-5)


def test_jet_images_rejects_inconsistent_shapes():
    p4, pdg, q, jet = one_jet(0.0, 0.0, [(22, 0, 1.0, 0.0, 0.0, 0.0)])
    with pytest.raises(ValueError, match="jet_p4"):
        jet_images(p4, pdg, q, jet[:, :3])
    with pytest.raises(ValueError, match="multiple of hcal_tower"):
        jet_images(p4, pdg, q, jet, n_pixels=64)


def sparse_images(n, seed=0):
    rng = np.random.default_rng(seed)
    images = np.zeros((n, *E2E_SHAPE), np.float32)
    idx = rng.integers(0, 125, (n, 50, 2))
    for k in range(n):
        images[k, rng.integers(0, 3, 50), idx[k, :, 0], idx[k, :, 1]] = rng.exponential(3.0, 50)
    return images, rng.uniform(70, 340, n), rng.uniform(5, 60, n), np.arange(n) % 2


def test_e2e_parquet_round_trip_in_the_real_layout(tmp_path):
    images, pt, m0, y = sparse_images(5)
    path = tmp_path / "jets.parquet"
    write_e2e_parquet(path, images, pt, m0, y, meta={"seed": 3}, row_group_size=2)
    file = pq.ParquetFile(path)
    assert file.num_row_groups == 3 and file.schema_arrow.names == ["X_jets", "pt", "m0", "y"]
    assert file.schema_arrow.field("X_jets").type == pa.list_(pa.list_(pa.list_(pa.float64())))
    # the way third-party readers of the CMS files read a jet: one row of nested lists
    row = file.read_row_group(1).to_pydict()
    np.testing.assert_array_equal(np.array(row["X_jets"][0]), images[2])
    assert row["y"][0] == 0.0 and row["pt"][0] == pt[2]

    batches = list(read_e2e_parquet(path, batch_size=3))
    assert [len(b["y"]) for b in batches] == [3, 1, 1]  # one reader per >= 3 jets of whole row groups: 4, 1
    got = {name: np.concatenate([b[name] for b in batches]) for name in batches[0]}
    np.testing.assert_array_equal(got["X_jets"], images)
    np.testing.assert_array_equal(got["pt"], pt.astype(np.float32))
    np.testing.assert_array_equal(got["m0"], m0.astype(np.float32))
    np.testing.assert_array_equal(got["y"], y)
    assert got["X_jets"].dtype == np.float32 and got["y"].dtype == np.int64
    assert read_e2e_meta(path) == {"seed": 3}


def test_reader_names_the_file_and_the_missing_or_wrong_column(tmp_path):
    images, pt, m0, y = sparse_images(2)
    nested = pa.array(images.astype(np.float64).tolist())
    missing = tmp_path / "missing.parquet"
    pq.write_table(pa.table({"X_jets": nested, "pt": pt, "y": y.astype(np.float64)}), missing)
    with pytest.raises(ValueError, match=r"missing\.parquet: missing column\(s\) \['m0'\]"):
        read_e2e_parquet(missing)
    assert read_e2e_meta(missing) is None

    wrong = tmp_path / "wrong.parquet"
    pq.write_table(pa.table({"X_jets": pa.array(images[:, :2].astype(np.float64).tolist()), "pt": pt, "m0": m0,
                             "y": y.astype(np.float64)}), wrong)
    with pytest.raises(ValueError, match=r"wrong\.parquet: 'X_jets' must have shape \[3, 125, 125\].*axis 0.*\[2\]"):
        next(read_e2e_parquet(wrong))

    flat = tmp_path / "flat.parquet"
    pq.write_table(pa.table({"X_jets": pt, "pt": pt, "m0": m0, "y": y}), flat)
    with pytest.raises(ValueError, match=r"flat\.parquet: column 'X_jets' has type double"):
        read_e2e_parquet(flat)

    labels = tmp_path / "labels.parquet"
    pq.write_table(pa.table({"X_jets": nested, "pt": pt, "m0": m0, "y": [0.0, 2.0]}), labels)
    with pytest.raises(ValueError, match=r"labels\.parquet: column 'y' must hold the labels 0 and 1"):
        next(read_e2e_parquet(labels))

    with pytest.raises(FileNotFoundError, match="nowhere.parquet"):
        read_e2e_parquet(tmp_path / "nowhere.parquet")
    with pytest.raises(ValueError, match=r"shape \[N, 3, 125, 125\]"):
        write_e2e_parquet(tmp_path / "bad.parquet", images[:, :, :64], pt, m0, y)


def test_prepare_calo_streams_files_into_a_calo_images_table(tmp_path):
    a, b = sparse_images(3, seed=1), sparse_images(4, seed=2)
    write_e2e_parquet(tmp_path / "a.parquet", *a, meta={"process": "q"}, row_group_size=1)  # like the CMS files
    write_e2e_parquet(tmp_path / "b.parquet", *b, row_group_size=3)
    inputs = [str(tmp_path / "a.parquet"), str(tmp_path / "b.parquet")]
    direct = read_e2e_arrays(inputs, batch_size=2)
    out = tmp_path / "calo.parquet"
    prepare_calo.main(["--input", *inputs, "--quark-label", "1", "--output", str(out), "--batch-size", "2"])
    table = read_arrays(out, "calo_images")
    np.testing.assert_array_equal(table["X_jets"], np.concatenate([a[0], b[0]]))
    np.testing.assert_array_equal(table["y"], np.concatenate([a[3], b[3]]))
    np.testing.assert_array_equal(table["pt"], np.concatenate([a[1], b[1]]).astype(np.float32))
    for name in direct:
        np.testing.assert_array_equal(direct[name], table[name])
    assert read_meta(out)["sources"] == [{"file": inputs[0], "meta": {"process": "q"}}, {"file": inputs[1], "meta": {}}]


def test_simulate_calo_writes_pythia_quark_jet_images_in_the_e2e_layout(tmp_path):
    from hepgraph.stages import simulate_calo

    out = tmp_path / "q.parquet"
    simulate_calo.main(["--process", "q", "--seed", "3", "--n-jets", "3", "--pt-min", "100", "--pt-max", "150",
                        "--eta-max", "1.4", "--jet-r", "0.4", "--output", str(out)])
    jets = read_e2e_arrays([out])
    assert jets["X_jets"].shape == (3, *E2E_SHAPE) and (jets["y"] == 1).all()
    assert ((jets["pt"] >= 100) & (jets["pt"] <= 150)).all()
    assert ((jets["m0"] > 0) & (jets["m0"] < 0.5 * jets["pt"])).all()
    images = jets["X_jets"].astype(np.float64)
    charged_fraction = images[:, 0].sum(axis=(1, 2)) / jets["pt"]
    assert ((charged_fraction > 0.1) & (charged_fraction < 1.0)).all()  # tracks carry part of the jet pT
    # most calorimeter energy of an R = 0.4 jet lies within 25 pixels (0.435) of the centre; soft charged
    # particles bend further out in the 3.8 T field
    calo = images[:, 1:].sum(axis=1)
    radius = np.hypot(*np.meshgrid(np.arange(125) - 62, np.arange(125) - 62, indexing="ij"))
    assert ((calo * (radius <= 25)).sum(axis=(1, 2)) > 0.75 * calo.sum(axis=(1, 2))).all()
    assert read_e2e_meta(out)["process"] == "q" and read_e2e_meta(out)["seed"] == 3


def test_damaged_e2e_files_raise_one_error_naming_file_and_fix_and_nothing_is_written(tmp_path):
    images, pt, m0, y = sparse_images(8)
    out = tmp_path / "calo.parquet"
    fix = r"the file is damaged or incomplete: re-download it .*simulated it, delete it and rerun"

    checked = tmp_path / "checked.parquet"  # written here, with page checksums
    write_e2e_parquet(checked, images, pt, m0, y, row_group_size=2)
    corrupt_middle_page(checked, row_group=2)
    with pytest.raises(UnreadableFileError, match=rf"checked\.parquet: the jets from row 4 \(row group 2 of 4\) "
                                                  rf"cannot be read \(OSError: .*CRC.*{fix}"):
        prepare_calo.main(["--input", str(checked), "--quark-label", "1", "--output", str(out), "--batch-size", "2"])

    real = tmp_path / "cms.parquet"  # like the real CMS files: no page checksums; X_jets pages are zstd-compressed
    pq.write_table(pa.table({"X_jets": pa.array(images.astype(np.float64).tolist()), "pt": pt, "m0": m0,
                             "y": y.astype(np.float64)}), real, compression="zstd", row_group_size=2)
    corrupt_middle_page(real, row_group=2)
    with pytest.raises(UnreadableFileError, match=rf"cms\.parquet: the jets from row 4 \(row group 2 of 4\) "
                                                  rf"cannot be read .*{fix}"):
        prepare_calo.main(["--input", str(real), "--quark-label", "1", "--output", str(out), "--batch-size", "2"])

    truncated = tmp_path / "truncated.parquet"
    write_e2e_parquet(truncated, images, pt, m0, y)
    truncated.write_bytes(truncated.read_bytes()[:truncated.stat().st_size * 2 // 3])
    with pytest.raises(UnreadableFileError, match=rf"truncated\.parquet: not a readable parquet file .*{fix}"):
        prepare_calo.main(["--input", str(checked), str(truncated), "--quark-label", "1", "--output", str(out)])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checked.parquet", "cms.parquet", "truncated.parquet"]
