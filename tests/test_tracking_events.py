"""Events worth tracking: Pythia 8 ttbar + pile-up through ACTS Fatras, TrackML's digitisation and noise, the event
multiplicities of the data summary, and the real TrackML event through preprocessing and the summary."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hepgraph.data.collisions import ttbar_events
from hepgraph.data.digitisation import (REGIONS, RESOLUTION, generic_modules, n_noise_hits, noise, region_resolution,
                                        smear)
from hepgraph.data.tables import TableWriter
from hepgraph.data.trackml import list_events, read_event
from hepgraph.data.tracking_sim import barcode_to_particle_id, simulate_events
from hepgraph.data.tracking_summary import event_multiplicities
from hepgraph.stages import prepare_tracking, simulate_tracking, summarize_tracking

# errors unlike the defaults and unlike each other, so that a mixed-up region or axis shows
TEST_RESOLUTION = {"pixel": (0.01, 0.03), "short_strip": (0.05, 0.4), "long_strip": (0.08, 2.0)}
NOISE = 0.2
TTBAR = {"pt_min": 0.1, "eta_max": 4.0}
SEED = 3
REGION_OF_VOLUME = {volume: region for region, volumes in REGIONS.items() for volume in volumes}


@pytest.fixture(scope="module")
def modules():
    return generic_modules()


@pytest.fixture(scope="module")
def ttbar_dir(tmp_path_factory) -> Path:
    """Two digitised ttbar events without pile-up, with the test resolution and noise fraction."""
    out = tmp_path_factory.mktemp("ttbar") / "shard"
    simulate_events(out, ttbar_events(2, SEED, pileup=0, **TTBAR), SEED, resolution=TEST_RESOLUTION,
                    noise_fraction=NOISE)
    return out


@pytest.fixture(scope="module")
def ttbar(ttbar_dir) -> list[dict[str, pd.DataFrame]]:
    return [read_event(ttbar_dir, event) for event in list_events(ttbar_dir)]


def test_modules_are_those_of_the_trackml_detector(modules, shared_data):
    detector = pd.read_csv(shared_data / "trackml" / "detectors.csv.gz")
    volumes, counts = np.unique(modules.geometry[:, 0], return_counts=True)
    assert dict(zip(volumes.tolist(), counts.tolist())) == detector["volume_id"].value_counts().sort_index().to_dict()
    assert len(modules.half_y) == 18728
    identity = np.einsum("mji,mjk->mik", modules.rotation, modules.rotation)
    np.testing.assert_allclose(identity, np.broadcast_to(np.eye(3), identity.shape), atol=1e-9)


def _local_residuals(modules, row, measured, true) -> np.ndarray:
    return modules.to_local(row, measured) - modules.to_local(row, true)


def test_smearing_has_the_configured_resolution_per_region(modules):
    """Points at module centres (no bound in reach) smeared N times: the spread along each local axis is the
    configured error of the module's region (standard error of the estimate ~1 %), around zero, on the module."""
    rng = np.random.default_rng(0)
    for region, volumes in REGIONS.items():
        candidates = np.flatnonzero(np.isin(modules.geometry[:, 0], volumes))
        row = rng.choice(candidates, size=5000)
        true = modules.to_global(row, np.zeros((len(row), 2)))
        sigma = region_resolution(modules.geometry[row, 0], TEST_RESOLUTION)
        assert (sigma == TEST_RESOLUTION[region]).all()
        residual = _local_residuals(modules, row, smear(modules, row, true, sigma, rng), true)
        np.testing.assert_allclose(residual.std(axis=0)[:2], TEST_RESOLUTION[region], rtol=0.05)
        assert (np.abs(residual.mean(axis=0)[:2]) < 4 * np.array(TEST_RESOLUTION[region]) / np.sqrt(5000)).all()
        np.testing.assert_allclose(modules.to_local(row, true)[:, 2], 0.0, atol=1e-9)
        np.testing.assert_allclose(residual[:, 2], 0.0, atol=1e-9)  # on the mid-plane


def test_smeared_hits_stay_on_their_module(modules):
    """True points 0.1 mm inside a corner, smeared by 5 mm along both axes: every measured point is inside."""
    rng = np.random.default_rng(1)
    row = rng.integers(len(modules.half_y), size=2000)
    corner = np.stack([modules.half_x[row].min(axis=1) - 0.1, modules.half_y[row] - 0.1], axis=1)
    true = modules.to_global(row, corner)
    measured = smear(modules, row, true, np.full((len(row), 2), 5.0), rng)
    assert modules.inside(row, modules.to_local(row, measured)[:, :2]).all()
    assert not np.allclose(measured, true)


def test_noise_is_uniform_over_modules_and_over_their_area(modules):
    rng = np.random.default_rng(2)
    n = 100_000
    row, position = noise(modules, n, rng)
    local = modules.to_local(row, position)
    assert modules.inside(row, local[:, :2]).all()
    np.testing.assert_allclose(local[:, 2], 0.0, atol=1e-9)
    for region, volumes in REGIONS.items():  # share of noise hits per region = its share of the modules
        in_region = np.isin(modules.geometry[:, 0], volumes)
        np.testing.assert_allclose(np.isin(modules.geometry[row, 0], volumes).mean(), in_region.mean(), rtol=0.03)
    rectangle = modules.half_x[row, 0] == modules.half_x[row, 1]
    for axis, half in ((0, modules.half_x[row, 0]), (1, modules.half_y[row])):
        u = local[rectangle, axis] / half[rectangle]  # uniform on [-1, 1]: mean |u| 1/2, variance of u 1/3
        assert np.abs(u).mean() == pytest.approx(0.5, abs=0.01) and u.var() == pytest.approx(1 / 3, abs=0.01)


def test_number_of_noise_hits_gives_the_configured_share():
    rng = np.random.default_rng(3)
    draws = np.array([n_noise_hits(1000, 0.2, rng) for _ in range(4000)])
    assert draws.mean() == pytest.approx(250.0, abs=1.5)  # 0.2 / 0.8 * 1000; Poisson: standard error 0.25
    assert draws.var() == pytest.approx(250.0, rel=0.1)
    assert n_noise_hits(1000, 0.0, rng) == 0
    with pytest.raises(ValueError, match="noise fraction"):
        n_noise_hits(10, 1.0, rng)


def test_ttbar_with_pileup_from_pythia():
    events = list(ttbar_events(2, 7, pileup=3, pt_min=0.3, eta_max=3.0))
    for event in events:
        pt = np.hypot(event.momentum[:, 0], event.momentum[:, 1])
        assert (pt > 0.3).all() and (np.abs(np.arcsinh(event.momentum[:, 2] / pt)) < 3.0).all()
        assert (event.charge != 0).all()
        assert len(np.unique(event.barcode, axis=0)) == len(event)
        primary, secondary = event.barcode[:, 0], event.barcode[:, 1]
        assert set(primary) == set(range(1, primary.max() + 1))  # the ttbar interaction is 1, pile-up 2, 3, ...
        for interaction in set(primary):
            at_point = event.vertex[(primary == interaction) & (secondary == 0), :3]
            assert np.ptp(at_point, axis=0).max() < 2e-3  # prompt particles come from their interaction point
            displaced = event.vertex[(primary == interaction) & (secondary > 0), :3]
            assert (np.linalg.norm(displaced - at_point[0], axis=1) >= 1e-3 - 1e-6).all()
        assert secondary[primary == 1].max() >= 2  # two b quarks: at least two displaced B decays
        points = np.array([event.vertex[(primary == i) & (secondary == 0)][0, :3] for i in set(primary)])
        assert len(np.unique(points[:, 2])) == len(points)  # each interaction at its own point


def test_same_seed_same_particles():
    first, again = (next(ttbar_events(1, 7, pileup=0, pt_min=0.3, eta_max=3.0)) for _ in range(2))
    np.testing.assert_array_equal(again.momentum, first.momentum)
    np.testing.assert_array_equal(again.barcode, first.barcode)
    other = next(ttbar_events(1, 8, pileup=0, pt_min=0.3, eta_max=3.0))
    assert len(other) != len(first) or not np.array_equal(other.momentum, first.momentum)


def test_simulated_hits_have_the_configured_resolution(ttbar, modules):
    """Measured minus true position in each hit's module frame: the configured spread per region (15 %: a few
    hundred to a thousand hits each), none across the module."""
    truth = pd.concat([e["hits"].merge(e["truth"], on="hit_id") for e in ttbar])
    signal = truth[truth["particle_id"] != 0]
    row = modules.index(signal[["volume_id", "layer_id", "module_id"]].to_numpy())
    residual = _local_residuals(modules, row, signal[["x", "y", "z"]].to_numpy(), signal[["tx", "ty", "tz"]].to_numpy())
    region = signal["volume_id"].map(REGION_OF_VOLUME).to_numpy()
    for name, sigma in TEST_RESOLUTION.items():
        assert (region == name).sum() > 300
        np.testing.assert_allclose(residual[region == name, :2].std(axis=0), sigma, rtol=0.15)
    assert np.abs(residual[:, 2]).max() < 1e-3  # true points are on the sensitive surface, measured on its mid-plane


def test_simulated_noise_has_the_configured_share(ttbar):
    for event in ttbar:
        truth, hits, particles = event["truth"], event["hits"], event["particles"]
        noise_hits = truth["particle_id"] == 0
        # ~2,000-3,000 hits per event: the Poisson spread of the share is ~0.01
        assert noise_hits.mean() == pytest.approx(NOISE, abs=0.035)
        assert (truth.loc[noise_hits, "weight"] == 0).all() and truth["weight"].sum() == pytest.approx(1.0)
        np.testing.assert_allclose(hits.loc[noise_hits, ["x", "y", "z"]].to_numpy(),
                                   truth.loc[noise_hits, ["tx", "ty", "tz"]].to_numpy())
        assert (particles["q"] != 0).all()  # as in TrackML, only charged particles are listed
        counts = truth.loc[~noise_hits, "particle_id"].value_counts()
        np.testing.assert_array_equal(particles["nhits"], counts.reindex(particles["particle_id"], fill_value=0))
        # a ttbar event without pile-up: a hundred to a few hundred charged particles with hits
        assert 80 < (particles["nhits"] > 0).sum() < 600


def test_same_seed_same_events(tmp_path):
    args = ["--n-events", "1", "--process", "ttbar", "--pileup", "0", "--pt-min", "0.5", "--eta-max", "2.5",
            "--first-event", "0"]
    for name, seed in (("a", 4), ("b", 4), ("c", 5)):
        simulate_tracking.main(["--seed", str(seed), *args, "--output-dir", str(tmp_path / name)])
    files = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert files == ["event000000000-hits.csv", "event000000000-particles.csv", "event000000000-truth.csv"]
    for name in files:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
        assert (tmp_path / "a" / name).read_bytes() != (tmp_path / "c" / name).read_bytes(), name


def test_event_multiplicities_by_hand():
    # particle 5: 5 hits at 2 GeV (reconstructable); 7: 6 hits at 0.8 GeV; 9: 2 hits at 3 GeV; 11: 5 hits at
    # exactly 1 GeV (not above the cut); 3 noise hits
    pid = np.array([5] * 5 + [7] * 6 + [9] * 2 + [11] * 5 + [0] * 3)
    pt = np.array([2.0] * 5 + [0.8] * 6 + [3.0] * 2 + [1.0] * 5 + [0.0] * 3)
    order = np.random.default_rng(0).permutation(len(pid))
    assert event_multiplicities(pid[order], pt[order], pt_min=1.0, min_hits=5) == {
        "hits": 21, "noise_hits": 3, "particles": 4, "reconstructable": 1}
    assert event_multiplicities(pid, pt, pt_min=0.5, min_hits=2)["reconstructable"] == 4
    assert event_multiplicities(pid, pt, pt_min=0.5, min_hits=6)["reconstructable"] == 1


def _write_events(path: Path, events: list[tuple[np.ndarray, np.ndarray]]) -> None:
    with TableWriter(path, "tracking_events", {"source": "test"}) as out:
        if not events:
            out.write({"event_id": np.zeros(0, np.int64), **{name: [] for name in (
                "hit_id", "x", "y", "z", "volume_id", "layer_id", "module_id", "particle_id", "particle_pt",
                "particle_eta")}})
        for number, (pid, pt) in enumerate(events):
            n = len(pid)
            zeros = np.zeros(n)
            out.write({"event_id": [number], "hit_id": [np.arange(1, n + 1)], "x": [zeros], "y": [zeros],
                       "z": [zeros], "volume_id": [zeros + 8], "layer_id": [zeros + 2], "module_id": [zeros + 1],
                       "particle_id": [pid], "particle_pt": [pt], "particle_eta": [zeros]})


def test_summary_of_small_tables(tmp_path):
    """Two events in one table, none in the other; the summary's numbers worked out by hand."""
    first = (np.array([5] * 5 + [7] * 6 + [0] * 3), np.array([2.0] * 5 + [0.8] * 6 + [0.0] * 3))  # 14 hits
    second = (np.array([4] * 7 + [0]), np.array([1.5] * 7 + [0.0]))  # 8 hits
    _write_events(tmp_path / "train.parquet", [first, second])
    _write_events(tmp_path / "test.parquet", [])
    out = tmp_path / "summary.md"
    summarize_tracking.main(["--inputs", str(tmp_path / "train.parquet"), str(tmp_path / "test.parquet"),
                             "--title", "Events of t", "--output", str(out)])
    lines = out.read_text().splitlines()
    assert lines[0] == "# Events of t"
    # hits 14, 8; noise 3, 1; particles 2, 1; reconstructable 1, 1; noise share 4 / 22
    assert "| train | 2 | 11.0 [8-14] | 2.0 [1-3] | 1.5 [1-2] | 1.0 [1-1] | 0.182 |" in lines
    assert "| test | 0 | - | - | - | - | - |" in lines


def _summary_row(path: Path, part: str) -> list[str]:
    line = next(line for line in path.read_text().splitlines() if line.startswith(f"| {part} |"))
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_real_trackml_event_preprocessed_and_summarised(shared_data, tmp_path):
    """The real event, both variants. Its particles file says: 468 of its 548 particles left hits, 56 have pT > 1 GeV
    (all with hits, 627 hits together), 53 of those have at least 5 hits; 829 of its 5,527 hits are noise."""
    directory = shared_data / "trackml"
    for variant, pt_min, expected in (("all", 0.0, [5527, 829, 468, 53]), ("pt1", 1.0, [627, 0, 56, 53])):
        table = tmp_path / f"{variant}.parquet"
        prepare_tracking.main(["--input-dir", str(directory), "--pt-min", str(pt_min), "--output", str(table)])
        summarize_tracking.main(["--inputs", str(table), "--title", variant, "--output", str(tmp_path / "s.md")])
        row = _summary_row(tmp_path / "s.md", variant)
        assert row[1] == "1" and [int(float(cell.split()[0])) for cell in row[2:6]] == expected
    particles = read_event(directory, "event000000001")["particles"]
    pt = np.hypot(particles["px"], particles["py"])
    assert (particles["nhits"] > 0).sum() == 468 and particles.loc[pt > 1.0, "nhits"].sum() == 627
    assert ((pt > 1.0) & (particles["nhits"] >= 5)).sum() == 53


def test_barcode_of_noise_is_particle_id_zero():
    assert barcode_to_particle_id(np.zeros((3, 5), np.int64)).tolist() == [0, 0, 0]


def test_workflow_reads_real_trackml_events_by_path(shared_data, tmp_path):
    """datasets.trackml.source: path on the real event: both variants preprocessed, split and summarised."""
    from workflow_runs import copy_workflow, snakemake

    root = copy_workflow(tmp_path / "workflow")
    (root / "real.yaml").write_text(f"datasets: {{trackml: {{source: path, path: '{shared_data / 'trackml'}'}}}}\n")
    pages = [Path("results", "graphs", f"trackml_{variant}", "summary.md") for variant in ("all", "pt1")]
    snakemake(*map(str, pages), "--cores", "1", "--configfile", "tiny.yaml", "real.yaml", cwd=root)
    pages = [root / page for page in pages]
    assert _summary_row(pages[0], "train") == ["train", "1", "5527.0 [5527-5527]", "829.0 [829-829]",
                                               "468.0 [468-468]", "53.0 [53-53]", "0.150"]
    pt1 = _summary_row(pages[1], "train")
    assert pt1[:2] == ["train", "1"] and pt1[3] == "0.0 [0-0]" and pt1[5] == "53.0 [53-53]"
    assert _summary_row(pages[0], "val")[1] == "0"  # one event: it goes to train


def test_default_resolution_is_the_spread_of_real_trackml_hits(shared_data):
    """Measured minus true position of the real event's hits along the axes of their modules (TrackML's own
    detector description): the default resolution is its spread per region, rounded (one event: the spreads
    themselves are known to 2-3.5 %)."""
    detector = pd.read_csv(shared_data / "trackml" / "detectors.csv.gz")
    event = read_event(shared_data / "trackml", "event000000001")
    hits = event["hits"].merge(event["truth"], on="hit_id")
    hits = hits[hits["particle_id"] != 0].merge(detector, on=["volume_id", "layer_id", "module_id"])
    residual = hits[["x", "y", "z"]].to_numpy() - hits[["tx", "ty", "tz"]].to_numpy()
    local = np.stack([np.einsum("hk,hk->h", residual, hits[[f"rot_x{a}", f"rot_y{a}", f"rot_z{a}"]].to_numpy())
                      for a in "uvw"], axis=1)
    for region, volumes in REGIONS.items():
        in_region = hits["volume_id"].isin(volumes).to_numpy()
        np.testing.assert_allclose(local[in_region, :2].std(axis=0), RESOLUTION[region], rtol=0.01)
        assert np.abs(local[in_region, 2]).max() < 0.01  # on the module plane
