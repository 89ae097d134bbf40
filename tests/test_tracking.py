"""Tracking events: ACTS Fatras simulation in the Generic detector, TrackML CSV reading/writing, event arrays."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hepgraph.data.collisions import particle_gun, ttbar_events
from hepgraph.data.digitisation import NOISE_FRACTION, REGIONS, RESOLUTION
from hepgraph.data.tables import read_arrays, read_meta
from hepgraph.data.tracking_sim import barcode_to_particle_id, simulate_events
from hepgraph.data.trackml import COLUMNS, event_arrays, hit_weights, list_events, read_event, write_event
from hepgraph.stages import prepare_tracking, simulate_tracking

REAL_EVENT = "event000000001"
GUN = {"n_particles": 10, "pt_min": 0.5, "pt_max": 10.0, "eta_max": 2.5}
SEED = 5
PERFECT = {"resolution": {region: (0.0, 0.0) for region in REGIONS}, "noise_fraction": 0.0}  # true positions, no noise
C_GEV = 0.299792458  # GeV per (tesla metre)


@pytest.fixture(scope="module")
def sim_dir(tmp_path_factory) -> Path:
    """Two simulated events (numbers 10 and 11) of ten pions each, without digitisation errors or noise, written by
    the library function."""
    out = tmp_path_factory.mktemp("sim") / "shard"
    simulate_events(out, particle_gun(2, SEED, **GUN), SEED, first_event=10, **PERFECT)
    return out


@pytest.fixture(scope="session")
def real_dir(shared_data) -> Path:
    """The real TrackML event (and detector description) of the reference data."""
    return shared_data / "trackml"


@pytest.fixture(scope="module")
def sim_events(sim_dir) -> list[dict[str, pd.DataFrame]]:
    return [read_event(sim_dir, event) for event in list_events(sim_dir)]


def test_barcode_packing_matches_trackml_ids():
    # a real TrackML particle id of the reference event: primary vertex 1, secondary vertex 2, particle 4096
    assert barcode_to_particle_id([[1, 2, 4096, 0, 0]])[0] == 4505867370102784
    assert barcode_to_particle_id([[1, 0, 1, 0, 0], [1, 0, 1, 1, 3]]).tolist() == [2**52 + 2**24,
                                                                                 2**52 + 2**24 + 2**12 + 3]
    with pytest.raises(ValueError, match="particle"):
        barcode_to_particle_id([[1, 0, 1 << 16, 0, 0]])


def test_simulated_files_are_trackml_events(sim_dir, sim_events):
    assert list_events(sim_dir) == ["event000000010", "event000000011"]
    assert sorted(p.name for p in sim_dir.iterdir()) == sorted(
        f"event0000000{i}-{part}.csv" for i in (10, 11) for part in COLUMNS)
    for event in sim_events:
        hits, truth, particles = event["hits"], event["truth"], event["particles"]
        assert hits["hit_id"].tolist() == list(range(1, len(hits) + 1)) == truth["hit_id"].tolist()
        assert len(particles) == GUN["n_particles"] and set(particles["particle_type"]) <= {211, -211}
        assert (truth["particle_id"] > 0).all() and set(truth["particle_id"]) <= set(particles["particle_id"])
        np.testing.assert_allclose(hits[["x", "y", "z"]].to_numpy(), truth[["tx", "ty", "tz"]].to_numpy(), atol=1e-4)
        counts = truth["particle_id"].value_counts()
        np.testing.assert_array_equal(particles["nhits"], counts.reindex(particles["particle_id"]).to_numpy())
        # pions of 0.5-10 GeV within |eta| < 2.5 cross 8-18 layers of the TrackML detector (1000 simulated: 8-18)
        assert particles["nhits"].between(6, 25).all()
        assert truth["weight"].sum() == pytest.approx(1.0, abs=1e-6)


@pytest.fixture(scope="module")
def digitised_events(tmp_path_factory) -> list[dict[str, pd.DataFrame]]:
    """One ttbar event (Pythia 8, no pile-up) with the default digitisation errors and noise hits."""
    out = tmp_path_factory.mktemp("digitised") / "shard"
    simulate_events(out, ttbar_events(1, SEED, pileup=0, pt_min=0.1, eta_max=4.0), SEED, resolution=RESOLUTION,
                    noise_fraction=NOISE_FRACTION)
    return [read_event(out, event) for event in list_events(out)]


@pytest.mark.parametrize("events", ["sim_events", "digitised_events"])
def test_simulated_hits_lie_on_trackml_modules(events, real_dir, request):
    """Every hit (true, or measured, or noise) lies inside a sensitive module of its volume and layer in the real
    TrackML detector description."""
    modules = pd.read_csv(real_dir / "detectors.csv.gz")
    hits = pd.concat([e["hits"] for e in request.getfixturevalue(events)])
    assert set(hits["volume_id"]) <= {7, 8, 9, 12, 13, 14, 16, 17, 18}
    for (volume, layer), group in hits.groupby(["volume_id", "layer_id"]):
        m = modules[(modules["volume_id"] == volume) & (modules["layer_id"] == layer)]
        assert len(m), f"no TrackML module in volume {volume} layer {layer}"
        offset = group[["x", "y", "z"]].to_numpy()[:, None, :] - m[["cx", "cy", "cz"]].to_numpy()[None]
        u, v, w = (np.einsum("hmk,mk->hm", offset, m[[f"rot_x{a}", f"rot_y{a}", f"rot_z{a}"]].to_numpy())
                   for a in "uvw")
        inside = ((np.abs(w) <= m["module_t"].to_numpy() / 2) & (np.abs(u) <= m["module_maxhu"].to_numpy() + 1e-3)
                  & (np.abs(v) <= m["module_hv"].to_numpy() + 1e-3))
        assert inside.any(axis=1).all(), f"hits off the modules of volume {volume} layer {layer}"
        if volume in (8, 13, 17):  # barrel: flat (tilted) modules around a cylinder
            radius = np.hypot(group["x"], group["y"])
            centre = m[["cx", "cy"]].to_numpy()
            r_plane = np.abs((centre * m[["rot_xw", "rot_yw"]].to_numpy()).sum(axis=1))  # plane's distance from z
            shift = np.abs((centre * m[["rot_xu", "rot_yu"]].to_numpy()).sum(axis=1))  # centre's offset in the plane
            r_corner = np.hypot(r_plane, shift + m["module_maxhu"].to_numpy())
            half = m["module_t"].max() / 2
            assert (radius >= r_plane.min() - half).all() and (radius <= r_corner.max() + half).all()


def test_tracks_are_helices_of_the_generated_momenta_in_2_tesla(sim_events):
    radius_ratio = []
    for event in sim_events:
        truth, particles = event["truth"], event["particles"]
        pt = np.hypot(particles["px"], particles["py"])
        eta = np.arcsinh(particles["pz"] / pt)
        assert pt.between(GUN["pt_min"], GUN["pt_max"]).all() and (eta.abs() <= GUN["eta_max"]).all()
        for particle, hits in truth.merge(particles, on="particle_id").groupby("particle_id"):
            p = hits[["px", "py", "pz"]].to_numpy()[0]
            p_hit = np.linalg.norm(hits[["tpx", "tpy", "tpz"]].to_numpy(), axis=1)
            assert ((p_hit <= np.linalg.norm(p) * (1 + 1e-6)) & (p_hit > 0.9 * np.linalg.norm(p))).all()
            # circle through the vertex and the hits in the transverse plane (algebraic fit)
            xy = np.vstack([hits[["vx", "vy"]].to_numpy()[:1], hits[["tx", "ty"]].to_numpy()])
            d, e, f = np.linalg.lstsq(np.column_stack([xy, np.ones(len(xy))]), -(xy**2).sum(axis=1), rcond=None)[0]
            radius_ratio.append(np.sqrt(d * d / 4 + e * e / 4 - f) / (np.hypot(*p[:2]) / (C_GEV * 2.0) * 1e3))
            # in B along +z a positive particle turns clockwise: the last hit lies right of the initial direction
            last = hits.sort_values("tz", key=lambda z: np.abs(z - hits["vz"].iloc[0]))[["tx", "ty"]].to_numpy()[-1]
            turn = p[0] * (last - xy[0])[1] - p[1] * (last - xy[0])[0]  # z of p x (last - vertex)
            assert np.sign(turn) == -hits["q"].iloc[0], f"particle {particle} bends the wrong way"
    assert np.median(radius_ratio) == pytest.approx(1.0, abs=0.02)
    assert np.all(np.abs(np.array(radius_ratio) - 1) < 0.1)


def test_same_seed_same_events_and_the_stage_writes_the_library_output(sim_dir, tmp_path):
    args = ["--process", "gun", "--n-events", "2", "--n-particles", str(GUN["n_particles"]), "--pt-min",
            str(GUN["pt_min"]), "--pt-max", str(GUN["pt_max"]), "--eta-max", str(GUN["eta_max"]), "--first-event", "10",
            "--noise-fraction", "0", *(a for region in REGIONS for a in ("--resolution", region, "0", "0"))]
    simulate_tracking.main(["--seed", str(SEED), *args, "--output-dir", str(tmp_path / "same")])
    for path in sim_dir.iterdir():
        assert (tmp_path / "same" / path.name).read_bytes() == path.read_bytes(), path.name
    other = next(particle_gun(1, SEED + 1, **GUN))
    assert not np.array_equal(other.momentum, next(particle_gun(1, SEED, **GUN)).momentum)


def test_bad_gun_settings_are_rejected():
    with pytest.raises(ValueError, match="pdg 22"):
        particle_gun(1, 1, **{**GUN, "pdg": 22})
    with pytest.raises(ValueError, match="pt_min < pt_max"):
        particle_gun(1, 1, **{**GUN, "pt_min": 5.0, "pt_max": 1.0})


def test_real_event_counts(real_dir):
    assert list_events(real_dir) == [REAL_EVENT]
    event = read_event(real_dir, REAL_EVENT)
    assert (len(event["hits"]), len(event["truth"]), len(event["particles"])) == (5527, 5527, 548)
    arrays = event_arrays(**event)
    assert len(arrays["hit_id"]) == 5527 and (arrays["particle_id"] == 0).sum() == 829
    assert (arrays["particle_pt"][arrays["particle_id"] == 0] == 0).all()
    assert {k: v.dtype.name for k, v in arrays.items()} == {
        "hit_id": "int64", "x": "float32", "y": "float32", "z": "float32", "volume_id": "int32",
        "layer_id": "int32", "module_id": "int32", "particle_id": "int64", "particle_pt": "float32",
        "particle_eta": "float32", "hit_order": "int32", "particle_q": "int32", "particle_vx": "float32",
        "particle_vy": "float32", "particle_vz": "float32"}
    assert (arrays["hit_order"][arrays["particle_id"] == 0] == -1).all()
    # every particle's hits are ranked 0, 1, ..., n - 1
    signal = pd.DataFrame({"pid": arrays["particle_id"], "order": arrays["hit_order"]})[arrays["particle_id"] != 0]
    for _, order in signal.groupby("pid")["order"]:
        assert sorted(order) == list(range(len(order)))
    high = event_arrays(**event, pt_min=1.0)
    assert 0 < len(high["hit_id"]) < 5527 and (high["particle_pt"] > 1.0).all() and (high["particle_id"] != 0).all()


def test_hit_weights_hand_computed():
    # particle 7: five hits given out of order, pT 5 GeV (pT weight 1): order profile at 0, 2, 4, 6, 8
    # particle 8: three hits (too few, weight 0); particle 0: noise
    pid = np.array([7, 8, 7, 0, 7, 8, 7, 8, 7])
    order = np.array([4.0, 1, 0, 9, 2, 2, 1, 3, 3])
    pt = np.array([5.0, 2, 5, 0, 5, 2, 5, 2, 5])
    expected = np.array([6, 0, 10, 0, 3, 0, 6, 0, 3]) / 28
    np.testing.assert_allclose(hit_weights(pid, order, pt), expected)
    # pT weight 0.2 below 0.5 GeV, linear up to 1 at 3 GeV
    np.testing.assert_allclose(hit_weights(pid, order, np.where(pid == 7, 1.75, 2.0)), expected)
    assert hit_weights(np.array([0, 0]), np.array([0, 1]), np.zeros(2)).tolist() == [0.0, 0.0]


def test_hit_weights_reproduce_the_real_trackml_order_weights(real_dir):
    """Within each particle, the real weights are proportional to ours (the pT factor is a per-particle constant)."""
    event = read_event(real_dir, REAL_EVENT)
    m = event["truth"].merge(event["particles"], on="particle_id", how="left")
    distance = np.linalg.norm(m[["tx", "ty", "tz"]].to_numpy() - m[["vx", "vy", "vz"]].fillna(0).to_numpy(), axis=1)
    ours = hit_weights(m["particle_id"].to_numpy(), distance, np.hypot(m["px"], m["py"]).fillna(0).to_numpy())
    real = m["weight"].to_numpy()
    assert ours.sum() == pytest.approx(1.0)
    assert (ours[real > 0] > 0).all() and (real[m["particle_id"] == 0] == 0).all()
    # (TrackML also gives weight 0 to 41 particles with >= 4 hits, secondaries, which is not reproduced here)
    weighted = real > 0
    ratio = pd.Series(real[weighted] / ours[weighted]).groupby(m["particle_id"].to_numpy()[weighted])
    ratio = ratio.agg(["min", "max"])
    assert len(ratio) == 377 and ((ratio["max"] / ratio["min"] - 1) < 1e-3).mean() > 0.99


@pytest.mark.parametrize("compress", [False, True])
def test_csv_round_trip(tmp_path, compress, real_dir):
    event = read_event(real_dir, REAL_EVENT)
    paths = write_event(tmp_path, "event000000042", **event, compress=compress)
    assert all(p.name.endswith(".csv.gz" if compress else ".csv") for p in paths)
    assert list_events(tmp_path) == ["event000000042"]
    back = read_event(tmp_path, "event000000042")
    for part, frame in event.items():
        assert list(back[part].columns) == list(COLUMNS[part])
        pd.testing.assert_frame_equal(back[part], frame, check_exact=False, rtol=1e-8)


def _tiny_event() -> dict[str, pd.DataFrame]:
    """Five hits: two of a 2 GeV particle at eta 0.5, two of a 0.5 GeV particle at eta 0, one noise hit."""
    hits = pd.DataFrame({"hit_id": [5, 1, 2, 3, 4], "x": [1.0, 2, 3, 4, 5], "y": [0.5] * 5, "z": [-1.0] * 5,
                         "volume_id": [8] * 5, "layer_id": [2, 2, 4, 4, 6], "module_id": [1, 2, 3, 4, 5]})
    truth = pd.DataFrame({"hit_id": [1, 2, 3, 4, 5], "particle_id": [11, 22, 11, 0, 22], "tx": 0.0, "ty": 0.0,
                          "tz": [13.0, -9.0, 11.0, 0.0, -3.0], "tpx": 0.0, "tpy": 0.0, "tpz": 0.0, "weight": 0.0})
    particles = pd.DataFrame({"particle_id": [11, 22], "particle_type": [13, -13], "vx": 0.0, "vy": 0.0,
                              "vz": [10.0, -5.0],
                              "px": [0.0, 0.3], "py": [2.0, -0.4], "pz": [2 * np.sinh(0.5), 0.0], "q": [1, -1],
                              "nhits": [2, 2]})
    return {"hits": hits, "truth": truth, "particles": particles}


def test_pt_min_filter_on_a_hand_made_event():
    event = _tiny_event()
    every = event_arrays(**event)
    assert every["hit_id"].tolist() == [1, 2, 3, 4, 5]
    assert every["particle_id"].tolist() == [11, 22, 11, 0, 22]
    np.testing.assert_allclose(every["particle_pt"], [2.0, 0.5, 2.0, 0.0, 0.5], rtol=1e-6)
    np.testing.assert_allclose(every["particle_eta"], [0.5, 0.0, 0.5, 0.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(every["x"], [2.0, 3, 4, 5, 1])
    # hit 1 is 3 mm, hit 3 1 mm from particle 11's vertex; hit 5 2 mm, hit 2 4 mm from particle 22's
    assert every["hit_order"].tolist() == [1, 1, 0, -1, 0]
    assert every["particle_q"].tolist() == [1, -1, 1, 0, -1]
    np.testing.assert_allclose(every["particle_vz"], [10.0, -5.0, 10.0, 0.0, -5.0])
    high = event_arrays(**event, pt_min=1.0)
    assert high["hit_id"].tolist() == [1, 3] and high["layer_id"].tolist() == [2, 4]
    assert len(event_arrays(**event, pt_min=0.4)["hit_id"]) == 4  # noise goes with any pt_min > 0
    with pytest.raises(ValueError, match="pt_min"):
        event_arrays(**event, pt_min=-1.0)
    event["truth"].loc[0, "particle_id"] = 33
    with pytest.raises(ValueError, match=r"particle_id\(s\) \[33\]"):
        event_arrays(**event)


def test_missing_column_or_file_names_it(tmp_path):
    event = _tiny_event()
    write_event(tmp_path, "event000000007", **event)
    event["hits"].drop(columns="z").to_csv(tmp_path / "event000000007-hits.csv", index=False)
    with pytest.raises(ValueError, match=r"event000000007-hits\.csv lacks column\(s\) \['z'\]"):
        read_event(tmp_path, "event000000007")
    (tmp_path / "event000000007-truth.csv").unlink()
    with pytest.raises(FileNotFoundError, match="event000000007-truth.csv"):
        read_event(tmp_path, "event000000007")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no TrackML events"):
        list_events(tmp_path / "empty")


def test_prepare_stage_writes_a_tracking_events_table(sim_dir, sim_events, tmp_path, real_dir):
    out = tmp_path / "events.parquet"
    prepare_tracking.main(["--input-dir", str(sim_dir), str(real_dir), "--pt-min", "1.0", "--output", str(out)])
    arrays = read_arrays(out, "tracking_events")
    assert arrays["event_id"].tolist() == [10, 11, 1]
    meta = read_meta(out)
    assert meta["pt_min"] == 1.0 and meta["events"] == ["event000000010", "event000000011", REAL_EVENT]
    for i, event in enumerate(sim_events):
        expected = event_arrays(**event, pt_min=1.0)
        for name, values in expected.items():
            np.testing.assert_array_equal(arrays[name][i], values)
        assert (arrays["particle_pt"][i] > 1.0).all()
    with pytest.raises(ValueError, match="event numbers repeat"):
        prepare_tracking.main(["--input-dir", str(real_dir), str(real_dir), "--output", str(tmp_path / "dup.parquet")])
