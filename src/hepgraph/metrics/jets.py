"""Scores of generated jets against real ones: the JetNet metrics and the seed paper's W1 table.

Jets are arrays [N, n, 3] of (eta_rel, phi_rel, pt_rel) with a boolean mask [N, n] (False = padding). Every score
depends only on the masked particles, so it is invariant under particle permutations and extra zero-padding.

* ``w1m``, ``w1p``, ``w1efp``, ``fpd``, ``kpd`` follow jetnet.evaluation.gen_metrics (JetNet, Kansal et al.;
  MPGAN, arXiv:2106.11535; FPD/KPD, arXiv:2211.10295) with its defaults: W1 scores over ``num_batches = 5``
  bootstrap samples (drawn with replacement) of ``num_eval_samples = 50_000`` jets (older jetnet releases, those
  with ``average_over_features``, drew 10_000); FPD over batch sizes 20_000..50_000, 10 points, 20 batches each,
  seed 42; KPD over 10 batches of 5_000, seed 42. Multi-feature W1 scores are averaged as jetnet's
  ``average_over_features`` / ``average_over_efps`` did: mean of the per-feature means, error = L2 norm of the
  per-feature standard deviations. The bootstrap draws are jetnet's, in its order (with jetnet's own unseeded
  generator its W1s differ from these by bootstrap noise; FPD and KPD use fixed seeds and agree to the printed
  digits, benchmarks/gan_metrics.py), but
  they are used as counts: W1s weight values sorted once, and FPD's means and covariances of all batches come
  from one matrix product, instead of copying every resampled sample.
* ``w1_table`` is the bootstrap of Table 2 of Kansal et al. 2020 (arXiv:2012.00173): W1 of eta_rel, phi_rel,
  pt_rel (pooled masked particles) and jet m/pT over ``p`` random sets of ``n`` jets, real vs real and real vs
  generated; the published grid is (n, p) = (100, 1000), (1000, 100), (10000, 10).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy.optimize import curve_fit
from scipy.stats import iqr

from hepgraph.data.kinematics import pt_eta_phi_m
from hepgraph.metrics.distances import frechet_distances, mmd_poly, pair_products, resampled_w1, w1
from hepgraph.metrics.efp import check_jets, efps, masked_jets

PARTICLE_FEATURES: tuple[str, ...] = ("eta_rel", "phi_rel", "pt_rel")
TABLE_FEATURES: tuple[str, ...] = (*PARTICLE_FEATURES, "m_over_pt")


class Score(NamedTuple):
    """A score and its uncertainty (standard deviation over batches, or the fit error for FPD)."""

    value: float
    error: float


class W1Score(NamedTuple):
    """W1 averaged over features (``value`` +- ``error``, jetnet's averaging) and per feature over batches."""

    value: float
    error: float
    feature_means: np.ndarray
    feature_stds: np.ndarray


def jet_mass_over_pt(jets: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mass of the sum of the particles' massless four-vectors built from (eta_rel, phi_rel, pt_rel) -> [N].

    As jetnet.utils.jet_features (PtEtaPhiMLorentzVector sum with zero masses): with pt_rel = pt / pT_jet this
    relative mass is the jet's m / pT (mass is invariant under the eta shift and the phi rotation, linear in the
    momentum scale). For two particles m^2 = 2 pt1 pt2 (cosh d_eta - cos d_phi).
    """
    jets, mask = check_jets(jets, mask)
    owner = np.nonzero(mask)[0]  # the jet of each real particle
    eta, phi, pt = jets[mask].astype(np.float64).T
    p4 = np.stack([np.bincount(owner, weights=w, minlength=len(jets))
                   for w in (pt * np.cosh(eta), pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta))], axis=-1)
    return pt_eta_phi_m(p4)[3]


def _w1_score(w1s: np.ndarray) -> W1Score:
    """Summarise W1 values [num_batches, F]: per-feature mean and std; their mean and L2-norm-combined std."""
    means, stds = w1s.mean(axis=0), w1s.std(axis=0)
    return W1Score(float(means.mean()), float(np.linalg.norm(stds)), means, stds)


def _draw_counts(rng: np.random.Generator, n1: int, n2: int, num_eval_samples: int,
                 num_batches: int) -> tuple[np.ndarray, np.ndarray]:
    """jetnet's bootstrap draws as counts [num_batches, n1], [num_batches, n2]: how often each row is drawn.

    Per batch ``rng.choice(n1, num_eval_samples)`` then ``rng.choice(n2, num_eval_samples)``, jetnet's order.
    """
    counts1, counts2 = np.empty((num_batches, n1), np.int32), np.empty((num_batches, n2), np.int32)
    for b in range(num_batches):
        counts1[b] = np.bincount(rng.choice(n1, size=num_eval_samples), minlength=n1)
        counts2[b] = np.bincount(rng.choice(n2, size=num_eval_samples), minlength=n2)
    return counts1, counts2


def w1_features(x1: np.ndarray, x2: np.ndarray, rng: np.random.Generator, num_eval_samples: int = 50_000,
                num_batches: int = 5) -> W1Score:
    """W1 between per-jet features x1 [N1, F] and x2 [N2, F], feature by feature, over bootstrap batches.

    Each batch draws ``num_eval_samples`` rows of each sample with replacement (jetnet's w1m / w1efp loop); the
    W1s come from the draw counts (``distances.resampled_w1``), equal to those of the copied rows.
    """
    x1, x2 = np.asarray(x1, dtype=np.float64), np.asarray(x2, dtype=np.float64)
    if x1.ndim != 2 or x2.ndim != 2 or x1.shape[1] != x2.shape[1] or len(x1) == 0 or len(x2) == 0:
        raise ValueError(f"features must be [N1 >= 1, F] and [N2 >= 1, F] with one F; got {x1.shape} and {x2.shape}")
    counts1, counts2 = _draw_counts(rng, len(x1), len(x2), num_eval_samples, num_batches)
    return _w1_score(resampled_w1(x1, np.arange(len(x1)), counts1, x2, np.arange(len(x2)), counts2))


def w1m(jets1: np.ndarray, mask1: np.ndarray, jets2: np.ndarray, mask2: np.ndarray, rng: np.random.Generator,
        num_eval_samples: int = 50_000, num_batches: int = 5) -> W1Score:
    """W1M: W1 between the jet m/pT distributions (``jet_mass_over_pt``) of two jet samples (jetnet ``w1m``)."""
    return w1_features(jet_mass_over_pt(jets1, mask1)[:, None], jet_mass_over_pt(jets2, mask2)[:, None], rng,
                       num_eval_samples, num_batches)


def w1efp(jets1: np.ndarray, mask1: np.ndarray, jets2: np.ndarray, mask2: np.ndarray, rng: np.random.Generator,
          num_eval_samples: int = 50_000, num_batches: int = 5) -> W1Score:
    """W1EFP: W1 of JetNet's five n=4, d=4 prime EFPs (``efp.efps``), averaged over the EFPs (jetnet ``w1efp``)."""
    return w1_features(efps(jets1, mask1), efps(jets2, mask2), rng, num_eval_samples, num_batches)


def w1p(jets1: np.ndarray, mask1: np.ndarray, jets2: np.ndarray, mask2: np.ndarray, rng: np.random.Generator,
        num_eval_samples: int = 50_000, num_batches: int = 5) -> W1Score:
    """W1P: W1 of (eta_rel, phi_rel, pt_rel) of the pooled real particles of bootstrap jet samples (jetnet ``w1p``).

    jetnet additionally drops particles whose features are all exactly 0; the mask covers those here. Each
    particle is weighted by how often its jet is drawn (``distances.resampled_w1``), so no particles are copied.
    """
    jets1, mask1 = check_jets(jets1, mask1)
    jets2, mask2 = check_jets(jets2, mask2)
    counts1, counts2 = _draw_counts(rng, len(jets1), len(jets2), num_eval_samples, num_batches)
    units1, units2 = np.nonzero(mask1)[0], np.nonzero(mask2)[0]  # the jet of each real particle
    return _w1_score(resampled_w1(jets1[mask1], units1, counts1, jets2[mask2], units2, counts2))


def _normalise(real: np.ndarray, gen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Divide both samples by the real sample's max |value| per feature (features that are all 0 are left)."""
    maxes = np.max(np.abs(real), axis=0)
    maxes[maxes == 0] = 1
    return real / maxes, gen / maxes


def _check_features(real: np.ndarray, gen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Float64 copies of two feature samples [N_real, F], [N_gen, F]; a clear error if their shapes disagree."""
    real, gen = np.asarray(real, dtype=np.float64), np.asarray(gen, dtype=np.float64)
    if real.ndim != 2 or gen.ndim != 2 or real.shape[1] != gen.shape[1]:
        raise ValueError(f"features must be [N_real, F] and [N_gen, F] with one F; got {real.shape} and {gen.shape}")
    return real, gen


def bootstrap_moments(x: np.ndarray, counts: np.ndarray, block: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Means [B, F] and covariances [B, F, F] (``np.cov``, ddof = 1) of B resamplings of the rows of x [N, F].

    ``counts`` [B, N]: how often each row is drawn. The moments are count-weighted sums, for all resamplings at
    once: one matrix product of the counts with the rows' centred pair products (in blocks of ``block`` rows),
    instead of copying every resampled sample. Centring on the mean of x keeps the covariances accurate.
    """
    n_rows, n_features = x.shape
    if counts.ndim != 2 or counts.shape[1] != n_rows or (counts.sum(axis=1) < 2).any():
        raise ValueError(f"counts must be [B, {n_rows}] with >= 2 draws per resampling; got shape {counts.shape}")
    centre = x.mean(axis=0)
    xc = x - centre
    sizes = counts.sum(axis=1, dtype=np.float64)
    p, q = np.triu_indices(n_features)
    sums, pair_sums = np.zeros((len(counts), n_features)), np.zeros((len(counts), len(p)))
    for i in range(0, n_rows, block):
        rows, weights = xc[i:i + block], counts[:, i:i + block].astype(np.float64)
        sums += weights @ rows
        pair_sums += weights @ pair_products(rows)
    means = sums / sizes[:, None]
    upper = (pair_sums - sizes[:, None] * means[:, p] * means[:, q]) / (sizes[:, None] - 1)
    covs = np.empty((len(counts), n_features, n_features))
    covs[:, p, q] = upper
    covs[:, q, p] = upper
    return means + centre, covs


def fpd(real_features: np.ndarray, gen_features: np.ndarray, min_samples: int = 20_000, max_samples: int = 50_000,
        num_batches: int = 20, num_points: int = 10, normalise: bool = True, seed: int = 42) -> Score:
    """Frechet physics distance (arXiv:2211.10295) between features [N, F], extrapolated to infinite sample size.

    jetnet ``fpd``: for ``num_points`` batch sizes evenly spaced in 1/N between ``min_samples`` and
    ``max_samples``, the mean Frechet distance over ``num_batches`` bootstrap batches (drawn as jetnet draws them,
    from ``default_rng(seed)``); a linear fit in 1/N with non-negative intercept and slope (scipy ``curve_fit``)
    gives the value (intercept) and its error. Features are first divided by the real sample's max |value|.
    Recommended features: ``efp.efps_d_le_4`` (36 EFPs). Means and covariances come from ``bootstrap_moments``.
    """
    x, y = _check_features(real_features, gen_features)
    if normalise:
        x, y = _normalise(x, y)
    batches = (1 / np.linspace(1.0 / min_samples, 1.0 / max_samples, num_points)).astype("int32")
    rng = np.random.default_rng(seed)
    draws = [_draw_counts(rng, len(x), len(y), int(size), num_batches) for size in batches]
    (mu1, s1), (mu2, s2) = (bootstrap_moments(z, np.concatenate([d[k] for d in draws]))
                            for k, z in ((0, x), (1, y)))
    vals = frechet_distances(mu1, s1, mu2, s2).reshape(num_points, num_batches).mean(axis=1)
    params, covs = curve_fit(lambda inv_n, intercept, slope: intercept + slope * inv_n, 1 / batches, vals,
                             bounds=([0, 0], [np.inf, np.inf]))
    return Score(float(params[0]), float(np.sqrt(covs[0, 0])))


def kpd(real_features: np.ndarray, gen_features: np.ndarray, num_batches: int = 10, batch_size: int = 5_000,
        normalise: bool = True, seed: int = 42) -> Score:
    """Kernel physics distance (arXiv:2211.10295): median and half the 16-84 % inter-quantile range of MMD^2.

    jetnet ``kpd``: batch i draws ``batch_size`` rows of each sample with replacement from
    ``default_rng(seed + 1000 i)``; MMD^2 is ``distances.mmd_poly`` with the degree-4 polynomial kernel.
    Features are first divided by the real sample's max |value|. Recommended features: ``efp.efps_d_le_4``.
    """
    x, y = _check_features(real_features, gen_features)
    if normalise:
        x, y = _normalise(x, y)
    vals = []
    for i in range(num_batches):
        rng = np.random.default_rng(seed + i * 1000)
        s1 = x[rng.choice(len(x), size=batch_size)]
        s2 = y[rng.choice(len(y), size=batch_size)]
        vals.append(mmd_poly(s1, s2, degree=4))
    return Score(float(np.median(vals)), float(iqr(vals, rng=(16.275, 83.725)) / 2))


@dataclass(frozen=True)
class W1Table:
    """Mean and std over ``p`` sets of ``n`` jets of W1 per ``TABLE_FEATURES`` entry, each array [4]."""

    n: int
    p: int
    real_mean: np.ndarray
    real_std: np.ndarray
    gen_mean: np.ndarray
    gen_std: np.ndarray

    def to_dict(self) -> dict:
        """JSON-serialisable form: {"n", "p", "real_vs_real"|"real_vs_gen": {feature: {"mean", "std"}}}."""
        def rows(mean: np.ndarray, std: np.ndarray) -> dict:
            return {f: {"mean": float(m), "std": float(s)} for f, m, s in zip(TABLE_FEATURES, mean, std)}
        return {"n": self.n, "p": self.p, "real_vs_real": rows(self.real_mean, self.real_std),
                "real_vs_gen": rows(self.gen_mean, self.gen_std)}


def _w1_sets(parts_a: np.ndarray, mpt_a: np.ndarray, parts_b: np.ndarray, mpt_b: np.ndarray) -> list[float]:
    """W1 of the three particle features (pooled [k, 3]) and of jet m/pT ([n]) between two jet sets."""
    return [*(w1(parts_a[:, f], parts_b[:, f]) for f in range(len(PARTICLE_FEATURES))), w1(mpt_a, mpt_b)]


def w1_table(real: np.ndarray, real_mask: np.ndarray, gen: np.ndarray, gen_mask: np.ndarray, n: int, p: int,
             rng: np.random.Generator) -> W1Table:
    """The seed paper's Table 2 bootstrap for one (n, p): W1 real vs real and real vs generated.

    Each of the ``p`` repetitions draws 2n distinct real jets, split into two disjoint sets A and B, and n
    distinct generated jets G; W1(A, B) is the real-vs-real baseline and W1(A, G) the generator's score.
    """
    real, real_mask = masked_jets(real, real_mask)
    gen, gen_mask = masked_jets(gen, gen_mask)
    if 2 * n > len(real) or n > len(gen):
        raise ValueError(f"w1_table with n={n} needs >= {2 * n} real and >= {n} generated jets; "
                         f"got {len(real)} and {len(gen)}: lower n or provide more jets")
    real_mpt, gen_mpt = jet_mass_over_pt(real, real_mask), jet_mass_over_pt(gen, gen_mask)
    real_vs_real, real_vs_gen = [], []
    for _ in range(p):
        idx = rng.choice(len(real), size=2 * n, replace=False)
        a, b = idx[:n], idx[n:]
        g = rng.choice(len(gen), size=n, replace=False)
        parts_a = real[a][real_mask[a]]
        real_vs_real.append(_w1_sets(parts_a, real_mpt[a], real[b][real_mask[b]], real_mpt[b]))
        real_vs_gen.append(_w1_sets(parts_a, real_mpt[a], gen[g][gen_mask[g]], gen_mpt[g]))
    rr, rg = np.asarray(real_vs_real), np.asarray(real_vs_gen)
    return W1Table(n, p, rr.mean(axis=0), rr.std(axis=0), rg.mean(axis=0), rg.std(axis=0))
