"""Metrics against closed forms, the definitions they implement, and their invariances."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from scipy.linalg import sqrtm
from scipy.optimize import curve_fit
from scipy.stats import iqr, wasserstein_distance

from hepgraph.metrics import efp
from hepgraph.metrics.distances import frechet_distance, mmd_poly, resampled_w1, trace_sqrt_product, w1
from hepgraph.metrics.jets import (TABLE_FEATURES, bootstrap_moments, fpd, jet_mass_over_pt, kpd, w1_table, w1efp,
                                   w1m, w1p)
from jet_samples import toy_jets


def shuffled_and_padded(jets: np.ndarray, mask: np.ndarray, rng: np.random.Generator,
                        extra: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """The same jets with their particles permuted (each jet differently) and ``extra`` more padding slots."""
    order = np.argsort(rng.random(mask.shape), axis=1)
    jets = np.take_along_axis(jets, order[..., None], axis=1)
    mask = np.take_along_axis(mask, order, axis=1)
    return (np.concatenate([jets, np.zeros((len(jets), extra, 3), jets.dtype)], axis=1),
            np.concatenate([mask, np.zeros((len(mask), extra), bool)], axis=1))


@pytest.fixture(scope="module")
def samples() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(7)
    return {"real": toy_jets(1500, rng), "other": toy_jets(1500, rng), "shifted": toy_jets(1500, rng, 0.05)}


# --- distances -------------------------------------------------------------------------------------------------

def test_w1_of_shifted_and_scaled_samples() -> None:
    a = (np.arange(1000) + 0.5) / 1000  # uniform quantile grid on [0, 1], mean |a| = 1/2
    assert w1(a, a + 0.3) == pytest.approx(0.3, abs=1e-12)
    assert w1(a, 2.5 * a) == pytest.approx(0.5 * 1.5, abs=1e-12)  # |1 - s| mean|a|
    assert w1(a, a[::-1]) == pytest.approx(0.0, abs=1e-15)


def test_w1_equals_scipy_on_unequal_samples() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=777).astype(np.float32), rng.exponential(size=1234)
    assert w1(a, b) == pytest.approx(wasserstein_distance(a, b), rel=1e-12)
    with pytest.raises(ValueError, match="non-empty"):
        w1(a, [])


def test_resampled_w1_of_a_shift_and_of_copied_draws() -> None:
    a = (np.arange(1000) + 0.5) / 1000
    ones = np.ones((1, 1000), np.int64)
    assert resampled_w1(a[:, None], np.arange(1000), ones, a[:, None] + 0.3, np.arange(1000), ones)[0, 0] == (
        pytest.approx(0.3, abs=1e-12))  # every unit drawn once: W1 of a shift is the shift
    rng = np.random.default_rng(2)
    values1, values2 = rng.normal(size=(700, 2)), rng.exponential(size=(500, 2)).astype(np.float32)
    units1, units2 = np.sort(rng.integers(0, 60, 700)), np.sort(rng.integers(0, 40, 500))  # entries of 60 / 40 jets
    draws1, draws2 = rng.integers(0, 60, (4, 25)), rng.integers(0, 40, (4, 35))  # jets drawn with replacement
    counts1 = np.stack([np.bincount(d, minlength=60) for d in draws1])
    counts2 = np.stack([np.bincount(d, minlength=40) for d in draws2])
    got = resampled_w1(values1, units1, counts1, values2, units2, counts2)
    for b in range(4):
        copied1 = np.concatenate([values1[units1 == j] for j in draws1[b]])
        copied2 = np.concatenate([values2[units2 == j] for j in draws2[b]])
        assert got[b] == pytest.approx([wasserstein_distance(copied1[:, f], copied2[:, f]) for f in range(2)],
                                       rel=1e-12)
    none = np.zeros((1, 40), np.int64)
    assert np.isinf(resampled_w1(values1, units1, counts1[:1], values2, units2, none)).all()  # nothing drawn


@pytest.mark.filterwarnings("ignore::scipy.linalg.LinAlgWarning")  # the singular products below
def test_frechet_distance_closed_forms() -> None:
    mu1, mu2 = np.array([0.0, 1.0]), np.array([3.0, -1.0])
    # commuting (diagonal) covariances: |dmu|^2 + sum (sigma1 - sigma2)^2
    assert frechet_distance(mu1, np.diag([4.0, 1.0]), mu2, np.diag([1.0, 9.0])) == pytest.approx(13 + 1 + 4)
    # s1 = 1, s2 = [[2, 1], [1, 2]] (eigenvalues 3, 1): Tr(1 + s2 - 2 sqrt(s2)) = 2 + 4 - 2 (sqrt 3 + 1)
    s2 = np.array([[2.0, 1.0], [1.0, 2.0]])
    assert frechet_distance(mu1, np.eye(2), mu2, s2) == pytest.approx(13 + 4 - 2 * np.sqrt(3))
    assert frechet_distance(mu2, s2, mu2, s2) == pytest.approx(0.0, abs=1e-10)
    # singular covariances: s1 s2 = [[1, 0], [1, 0]] is its own square root (trace 1)
    assert frechet_distance(mu1, np.ones((2, 2)), mu1, np.diag([1.0, 0.0])) == pytest.approx(2 + 1 - 2, abs=1e-5)
    assert frechet_distance(mu1, np.diag([1.0, 0.0]), mu1, np.diag([1.0, 0.0])) == pytest.approx(0.0, abs=1e-5)
    with pytest.raises(ValueError, match="covariances"):
        frechet_distance(mu1, np.eye(3), mu2, np.eye(3))


def test_trace_sqrt_product_of_non_commuting_matrices() -> None:
    """For 2 x 2 A with non-negative eigenvalues, Tr sqrt(A) = sqrt(Tr A + 2 sqrt(det A))."""
    s1, s2 = np.array([[2.0, 1.0], [1.0, 2.0]]), np.diag([1.0, 4.0])  # s1 s2 = [[2, 4], [1, 8]]: trace 10, det 12
    assert trace_sqrt_product(s1, s2) == pytest.approx(np.sqrt(10 + 2 * np.sqrt(12)), rel=1e-12)
    mu1, mu2 = np.array([0.0, 1.0]), np.array([3.0, -1.0])
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(13 + 4 + 5 - 2 * np.sqrt(10 + 4 * np.sqrt(3)), rel=1e-12)
    stack = trace_sqrt_product(np.stack([s1, np.eye(2)]), np.stack([s2, s2]))  # stacks: one trace per pair
    assert stack == pytest.approx([np.sqrt(10 + 2 * np.sqrt(12)), 1 + 2], rel=1e-12)


def test_mmd_poly_hand_computed() -> None:
    x, y = np.array([[0.0], [2.0]]), np.array([[1.0], [3.0]])
    # k = (xy + 1)^deg; within-sample sums leave out i = j: (2 k(0,2))/2 + (2 k(1,3))/2 - 2 mean k(x, y)
    assert mmd_poly(x, y, degree=1) == pytest.approx(1 + 4 - 2 * 3)
    assert mmd_poly(x, y, degree=3) == pytest.approx(1 + 64 - 2 * (1 + 1 + 27 + 343) / 4)
    assert mmd_poly(x, y, degree=4) == pytest.approx(1 + 256 - 2 * (1 + 1 + 81 + 2401) / 4, rel=1e-12)


def test_mmd_poly_same_and_shifted_distributions() -> None:
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(1500, 3)), rng.normal(size=(1300, 3))  # > 1024 rows: blocked kernel sums
    k = lambda a, b: (a @ b.T / 3 + 1) ** 4  # noqa: E731
    naive = ((k(x, x).sum() - np.trace(k(x, x))) / (1500 * 1499) + (k(y, y).sum() - np.trace(k(y, y))) / (1300 * 1299)
             - 2 * k(x, y).mean())
    assert mmd_poly(x, y) == pytest.approx(naive, rel=1e-9)
    assert abs(mmd_poly(x, y)) < 0.05
    assert mmd_poly(x, y + 0.5) > 0.5
    with pytest.raises(ValueError, match="samples"):
        mmd_poly(x, y[:, :2])


# --- energy flow polynomials -------------------------------------------------------------------------------------

def efp_by_definition(edges: efp.Graph, z: np.ndarray, theta: np.ndarray) -> float:
    """sum over all assignments of particles to the graph's vertices of prod z * prod over edges theta."""
    n_vertices = max((max(edge) for edge in edges), default=0) + 1
    return sum(np.prod(z[list(assign)]) * np.prod([theta[assign[i], assign[j]] for i, j in edges])
               for assign in itertools.product(range(len(z)), repeat=n_vertices))


def two_particle_jet() -> tuple[np.ndarray, np.ndarray]:
    """Particles at (eta, phi) = (0.1, 0.2) and (-0.2, -0.2): theta12 = 0.5; pt_rel 0.6 and 0.2; one padding slot."""
    jets = np.array([[[0.1, 0.2, 0.6], [-0.2, -0.2, 0.2], [0.0, 0.0, 0.0]]])
    return jets, np.array([[True, True, False]])


def test_efps_of_two_particle_jet() -> None:
    """Two particles: only bipartite graphs survive, EFP = (z1^p z2^q + z1^q z2^p) theta^d for parts of size p, q."""
    jets, mask = two_particle_jet()
    z1, z2, t = 0.6, 0.2, 0.5
    expected = {"star3_211": (z1 * z2**3 + z1**3 * z2) * t**4, "path4_end2": 2 * z1**2 * z2**2 * t**4,
                "path4_mid2": 2 * z1**2 * z2**2 * t**4, "square": 2 * z1**2 * z2**2 * t**4, "paw": 0.0}
    values = efp.efps(jets, mask)[0]
    assert values == pytest.approx([expected[name] for name in efp.JETNET_EFPS], rel=1e-12, abs=1e-15)
    normed = efp.efps(jets, mask, normed=True)[0]  # z -> z / 0.8, each EFP of 4 vertices scales by 0.8^-4
    assert normed == pytest.approx(values / 0.8**4, rel=1e-12)


def test_efps_of_three_particle_jet_by_hand() -> None:
    """pt_rel 0.5, 0.2, 0.1 (sum 0.8, so unnormalised and normalised EFPs differ) at (eta, phi) = (0, 0), (0.3, 0),
    (0, 0.4): theta12 = 0.3, theta13 = 0.4, theta23 = 0.5, plus a padding slot. Worked out by hand below; energyflow
    1.4.0 called as jetnet 0.2.5 calls it (``EFPSet(..., measure="hadr", beta=1, normed=None)``) gives the same
    numbers, so jetnet's EFPs are not normalised."""
    jets = np.array([[[0.0, 0.0, 0.5], [0.3, 0.0, 0.2], [0.0, 0.4, 0.1], [0.0, 0.0, 0.0]]])
    mask = np.array([[True, True, True, False]])
    # a1_i = sum_j theta_ij z_j = (0.2*0.3 + 0.1*0.4, 0.5*0.3 + 0.1*0.5, 0.5*0.4 + 0.2*0.5) = (0.10, 0.20, 0.30)
    # a2_i = sum_j theta_ij^2 z_j = (0.034, 0.070, 0.130); u = z a1 = (0.05, 0.04, 0.03)
    # star3_211 = sum z a2 a1^2 = 0.5*0.034*0.01 + 0.2*0.07*0.04 + 0.1*0.13*0.09 = 0.0019
    # path4_end2 = (z a2) . theta u = (0.017, 0.014, 0.013) . (0.024, 0.030, 0.040) = 0.001348
    # path4_mid2 = u theta^2 u = 2 (0.05*0.04*0.09 + 0.05*0.03*0.16 + 0.04*0.03*0.25) = 0.00144
    # triangle at vertex i: 2 (z1 z2 z3 / z_i) theta12 theta13 theta23 = 0.0012 / z_i = (0.0024, 0.006, 0.012)
    # paw = u . triangle = 0.00012 + 0.00024 + 0.00036 = 0.00072; triangle = z . triangle = 0.0036
    # square = sum_ik z_i z_k P_ik^2 with P = theta diag(z) theta: P_ii = a2_i, P_12 = z3 theta13 theta23 = 0.02,
    #   P_13 = 0.03, P_23 = 0.06: 0.25*0.034^2 + 0.04*0.07^2 + 0.01*0.13^2 + 2 (0.1*0.02^2 + 0.05*0.03^2
    #   + 0.02*0.06^2) = 0.000968
    jetnet_default = [0.0019, 0.001348, 0.00144, 0.00072, 0.000968]
    assert efp.efps(jets, mask)[0] == pytest.approx(jetnet_default, rel=1e-12)
    assert efp.efps(jets, mask, normed=True)[0] == pytest.approx(np.array(jetnet_default) / 0.8**4, rel=1e-12)
    values = dict(zip(efp.D_LE_4_EFPS, efp.efps_d_le_4(jets, mask)[0]))
    line = 2 * (0.5 * 0.2 * 0.3 + 0.5 * 0.1 * 0.4 + 0.2 * 0.1 * 0.5)  # = z . a1 = 0.12
    assert values["dot"] == pytest.approx(0.8, rel=1e-12)
    assert values["line"] == pytest.approx(line, rel=1e-12) and line == pytest.approx(0.12, rel=1e-12)
    assert values["triangle"] == pytest.approx(0.0036, rel=1e-12)
    assert [values[name] for name in efp.JETNET_EFPS] == pytest.approx(jetnet_default, rel=1e-12)
    assert values["line*line*line*line"] == pytest.approx(0.12**4, rel=1e-12)


def test_every_efp_matches_its_graph_definition() -> None:
    rng = np.random.default_rng(3)
    jets, mask = toy_jets(3, rng)
    mask[:, 4:] = False  # four particles: 4^5 vertex assignments for the largest graphs
    z, theta = efp.hadronic_measure(jets, mask)
    computed = efp.efps_d_le_4(jets, mask)
    for b in range(3):
        connected = {name: efp_by_definition(edges, z[b, :4], theta[b, :4, :4])
                     for name, edges in efp.CONNECTED_GRAPHS.items()}
        expected = [np.prod([connected[f] for f in name.split("*")]) for name in efp.D_LE_4_EFPS]
        assert computed[b] == pytest.approx(expected, rel=1e-10)


def test_efp_graph_sets_match_energyflow_selections() -> None:
    def n_vertices(edges: efp.Graph) -> int:
        return len({v for edge in edges for v in edge}) or 1
    prime_n4_d4 = [name for name, edges in efp.CONNECTED_GRAPHS.items() if n_vertices(edges) == 4 and len(edges) == 4]
    assert sorted(prime_n4_d4) == sorted(efp.JETNET_EFPS)
    counts = np.bincount([sum(len(efp.CONNECTED_GRAPHS[f]) for f in name.split("*")) for name in efp.D_LE_4_EFPS])
    assert counts.tolist() == [1, 1, 3, 8, 23]  # multigraphs by degree, Komiske et al. 2018 table 1
    assert len(set(efp.D_LE_4_EFPS)) == 36


def test_theta_wraps_phi() -> None:
    jets = np.array([[[0.0, np.pi - 0.1, 0.5], [0.0, -np.pi + 0.1, 0.5]]])
    z, theta = efp.hadronic_measure(jets, np.ones((1, 2), bool))
    assert theta[0, 0, 1] == pytest.approx(0.2, rel=1e-9)
    assert dict(zip(efp.D_LE_4_EFPS, efp.efps_d_le_4(jets, np.ones((1, 2), bool))[0]))["line"] == pytest.approx(
        2 * 0.25 * 0.2, rel=1e-9)


def test_efps_invariant_under_permutation_and_padding(samples) -> None:
    jets, mask = samples["real"]
    perm_jets, perm_mask = shuffled_and_padded(jets, mask, np.random.default_rng(4))
    perm_jets[~perm_mask] = 9.0  # garbage in the padding must not matter
    for f in (efp.efps, efp.efps_d_le_4):
        np.testing.assert_allclose(f(perm_jets, perm_mask, chunk_size=500), f(jets, mask), rtol=1e-10, atol=1e-16)


def test_bad_jets_are_rejected() -> None:
    jets, mask = two_particle_jet()
    with pytest.raises(ValueError, match=r"\[N >= 1, n, 3\]"):
        efp.efps(jets[..., :2], mask)
    with pytest.raises(ValueError, match="mask must have shape"):
        efp.efps(jets, mask[:, :2])
    with pytest.raises(ValueError, match="boolean"):
        efp.efps(jets, mask.astype(int))


# --- jet metrics -------------------------------------------------------------------------------------------------

def test_jet_mass_over_pt_of_two_particles() -> None:
    jets, mask = two_particle_jet()
    m2 = 2 * 0.6 * 0.2 * (np.cosh(0.3) - np.cos(0.4))
    assert jet_mass_over_pt(jets, mask)[0] == pytest.approx(np.sqrt(m2), rel=1e-12)
    one = np.array([[[0.3, -0.1, 1.0], [0.0, 0.0, 0.0]]])
    assert jet_mass_over_pt(one, np.array([[True, False]]))[0] == pytest.approx(0.0, abs=1e-7)


def test_jet_scores_invariant_under_permutation_padding_and_boosts(samples) -> None:
    """Same seed, same bootstrap indices: permuting particles, adding padding, shifting eta or rotating phi
    (W1M, W1EFP) leaves each score unchanged."""
    (real, real_mask), (other, other_mask) = samples["real"], samples["other"]
    perm, perm_mask = shuffled_and_padded(other, other_mask, np.random.default_rng(5))
    boosted = other.copy()
    boosted[..., 0] += np.where(other_mask, 0.7, 0.0)  # a longitudinal boost of every particle
    boosted[..., 1] = np.where(other_mask, (boosted[..., 1] + np.pi + 0.3) % (2 * np.pi) - np.pi, 0.0)  # rotation
    kw = dict(num_eval_samples=1000, num_batches=3)
    for score, variants in [(w1m, [(perm, perm_mask), (boosted, other_mask)]),
                            (w1efp, [(perm, perm_mask), (boosted, other_mask)]), (w1p, [(perm, perm_mask)])]:
        ref = score(real, real_mask, other, other_mask, rng=np.random.default_rng(0), **kw)
        for jets, mask in variants:
            got = score(real, real_mask, jets, mask, rng=np.random.default_rng(0), **kw)
            np.testing.assert_allclose(got.feature_means, ref.feature_means, rtol=1e-5)


def test_w1p_sees_an_eta_shift_and_averages_like_jetnet(samples) -> None:
    (real, real_mask), (shifted, shifted_mask) = samples["real"], samples["shifted"]
    rng = np.random.default_rng(6)
    same = w1p(real, real_mask, *samples["other"], rng=rng, num_eval_samples=1500)
    moved = w1p(real, real_mask, shifted, shifted_mask, rng=rng, num_eval_samples=1500)
    assert moved.feature_means[0] == pytest.approx(0.05, abs=0.005)  # W1 of a shift is the shift
    assert same.feature_means[0] < 0.005 and moved.feature_means[1:] == pytest.approx(same.feature_means[1:], abs=0.005)
    assert moved.value == pytest.approx(moved.feature_means.mean())
    assert moved.error == pytest.approx(np.linalg.norm(moved.feature_stds))
    mass = w1m(real, real_mask, shifted, shifted_mask, rng=rng, num_eval_samples=1500)
    assert mass.feature_means.shape == (1,) and mass.error == pytest.approx(mass.feature_stds[0])


def test_fpd_extrapolates_to_the_gaussian_frechet_distance() -> None:
    rng = np.random.default_rng(8)
    cov = np.array([[1.0, 0.3, 0.0], [0.3, 1.0, 0.2], [0.0, 0.2, 0.5]])
    real = rng.multivariate_normal([0, 0, 0], cov, 8000)
    gen = rng.multivariate_normal([0.5, 0, 0], cov, 8000)
    kw = dict(min_samples=1000, max_samples=4000, num_batches=5, num_points=5, normalise=False)
    value, error = fpd(real, gen, **kw)
    assert value == pytest.approx(0.25, abs=0.03) and 0 <= error < 0.03
    assert fpd(real, rng.multivariate_normal([0, 0, 0], cov, 8000), **kw).value < 0.01
    scale = np.array([10.0, 0.1, 3.0])  # normalised by the real maxima: per-feature units drop out
    assert fpd(real * scale, gen * scale, **{**kw, "normalise": True}) == pytest.approx(
        fpd(real, gen, **{**kw, "normalise": True}), rel=1e-6)


def test_bootstrap_moments_equal_those_of_copied_rows() -> None:
    rng = np.random.default_rng(12)
    x = 1e3 + rng.normal(size=(5000, 4)) * [1.0, 1e-3, 2.0, 0.5]  # far from 0: centring must keep the digits
    draws = rng.integers(0, 5000, (3, 700))
    means, covs = bootstrap_moments(x, np.stack([np.bincount(d, minlength=5000) for d in draws]), block=1024)
    for b, d in enumerate(draws):
        np.testing.assert_allclose(means[b], x[d].mean(axis=0), rtol=1e-13)
        np.testing.assert_allclose(covs[b], np.cov(x[d], rowvar=False), rtol=1e-9, atol=1e-12)
    with pytest.raises(ValueError, match="counts must be"):
        bootstrap_moments(x, np.ones((2, 10), np.int64))


def test_fpd_and_kpd_follow_jetnet_loops() -> None:
    """jetnet 0.2.5's fpd and kpd written out (copied draws, np.cov, scipy sqrtm, quadratic MMD): same values."""
    rng = np.random.default_rng(13)
    real, gen = rng.gamma(2.0, size=(3000, 5)), rng.gamma(2.2, size=(2000, 5))
    x, y = real / np.abs(real).max(axis=0), gen / np.abs(real).max(axis=0)
    sizes = (1 / np.linspace(1 / 300, 1 / 900, 4)).astype("int32")
    draw = np.random.default_rng(42)
    vals = []
    for size in sizes:
        points = []
        for _ in range(3):
            s1, s2 = x[draw.choice(len(x), size=size)], y[draw.choice(len(y), size=size)]
            c1, c2 = np.cov(s1, rowvar=False), np.cov(s2, rowvar=False)
            d = s1.mean(axis=0) - s2.mean(axis=0)
            points.append(d @ d + np.trace(c1 + c2) - 2 * np.trace(sqrtm(c1 @ c2).real))
        vals.append(np.mean(points))
    (intercept, _), cov = curve_fit(lambda inv_n, a, b: a + b * inv_n, 1 / sizes, vals, bounds=([0, 0], [np.inf, np.inf]))
    got = fpd(real, gen, min_samples=300, max_samples=900, num_batches=3, num_points=4)
    assert got == pytest.approx((intercept, np.sqrt(cov[0, 0])), rel=1e-6)
    assert intercept == pytest.approx(np.polyfit(1 / sizes, vals, 1)[1], rel=1e-2)  # the fit is a straight line
    mmds = []
    for i in range(4):
        draw = np.random.default_rng(42 + 1000 * i)
        s1, s2 = x[draw.choice(len(x), size=400)], y[draw.choice(len(y), size=400)]
        k = lambda a, b: (a @ b.T / 5 + 1) ** 4  # noqa: E731
        mmds.append((k(s1, s1).sum() - np.trace(k(s1, s1)) + k(s2, s2).sum() - np.trace(k(s2, s2))) / (400 * 399)
                    - 2 * k(s1, s2).mean())
    assert kpd(real, gen, num_batches=4, batch_size=400) == pytest.approx(
        (np.median(mmds), iqr(mmds, rng=(16.275, 83.725)) / 2), rel=1e-9)


def test_w1p_and_w1m_follow_jetnet_loops(samples) -> None:
    """jetnet's w1p / w1m loops (per batch: draw real jets, then generated jets; W1 of the copies): same values."""
    (real, real_mask), (gen, gen_mask) = samples["real"], samples["shifted"]
    draw = np.random.default_rng(14)
    per_batch_p, per_batch_m = [], []
    mass_real, mass_gen = jet_mass_over_pt(real, real_mask), jet_mass_over_pt(gen, gen_mask)
    for _ in range(3):
        r, g = draw.choice(len(real), size=800), draw.choice(len(gen), size=800)
        parts_r, parts_g = real[r][real_mask[r]], gen[g][gen_mask[g]]
        per_batch_p.append([wasserstein_distance(parts_r[:, f], parts_g[:, f]) for f in range(3)])
    for _ in range(3):
        r, g = draw.choice(len(real), size=800), draw.choice(len(gen), size=800)
        per_batch_m.append(wasserstein_distance(mass_real[r], mass_gen[g]))
    rng = np.random.default_rng(14)
    particles = w1p(real, real_mask, gen, gen_mask, rng, num_eval_samples=800, num_batches=3)
    mass = w1m(real, real_mask, gen, gen_mask, rng, num_eval_samples=800, num_batches=3)
    np.testing.assert_allclose(particles.feature_means, np.mean(per_batch_p, axis=0), rtol=1e-10)
    np.testing.assert_allclose(particles.feature_stds, np.std(per_batch_p, axis=0), rtol=1e-8)
    assert mass.value == pytest.approx(np.mean(per_batch_m), rel=1e-10)
    assert mass.error == pytest.approx(np.std(per_batch_m), rel=1e-8)


def test_kpd_same_and_shifted_distributions() -> None:
    rng = np.random.default_rng(9)
    real, same, shifted = rng.normal(size=(3000, 4)), rng.normal(size=(3000, 4)), rng.normal(0.3, 1.0, (3000, 4))
    kw = dict(num_batches=5, batch_size=500)
    null, moved = kpd(real, same, **kw), kpd(real, shifted, **kw)
    assert abs(null.value) < 3 * null.error + 1e-3
    assert moved.value > 5 * moved.error and moved.value > 10 * abs(null.value)


def test_w1_table(samples) -> None:
    (real, real_mask), (shifted, shifted_mask) = samples["real"], samples["shifted"]
    table = w1_table(real, real_mask, shifted, shifted_mask, n=500, p=5, rng=np.random.default_rng(10))
    assert table.gen_mean.shape == table.real_std.shape == (len(TABLE_FEATURES),)
    assert table.gen_mean[0] == pytest.approx(0.05, abs=0.005) and table.real_mean[0] < 0.01
    assert table.gen_mean[3] < 3 * table.real_mean[3] + 3 * table.real_std[3]  # m/pT does not see the shift
    assert json.loads(json.dumps(table.to_dict()))["real_vs_gen"]["eta_rel"]["mean"] == pytest.approx(table.gen_mean[0])
    perm, perm_mask = shuffled_and_padded(shifted, shifted_mask, np.random.default_rng(11))
    again = w1_table(real, real_mask, perm, perm_mask, n=500, p=5, rng=np.random.default_rng(10))
    np.testing.assert_allclose(again.gen_mean, table.gen_mean, rtol=1e-6)
    with pytest.raises(ValueError, match="needs >= 2000 real"):
        w1_table(real, real_mask, shifted, shifted_mask, n=1000, p=1, rng=np.random.default_rng(0))
