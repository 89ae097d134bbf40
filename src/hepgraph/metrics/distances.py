"""Distances between samples: 1-D Wasserstein-1 (plain and over bootstrap resamplings), Gaussian Frechet distance,
polynomial-kernel MMD^2."""

from __future__ import annotations

import numpy as np
from scipy import linalg


def w1(a: np.ndarray, b: np.ndarray) -> float:
    """Wasserstein-1 (earth mover's) distance between the empirical distributions of 1-D samples ``a`` and ``b``.

    Same units as the samples; the samples may differ in size. W1 = integral |F_a(x) - F_b(x)| dx over the
    merged sorted values: the algorithm of scipy.stats.wasserstein_distance (``_cdf_distance`` with p = 1) without
    its weights; equal to scipy's value.
    """
    a, b = np.sort(np.ravel(a).astype(np.float64)), np.sort(np.ravel(b).astype(np.float64))
    if a.size == 0 or b.size == 0:
        raise ValueError(f"W1 needs two non-empty samples, got sizes {a.size} and {b.size}")
    merged = np.sort(np.concatenate([a, b]))
    cdf_a = np.searchsorted(a, merged[:-1], side="right") / a.size
    cdf_b = np.searchsorted(b, merged[:-1], side="right") / b.size
    return float(np.dot(np.abs(cdf_a - cdf_b), np.diff(merged)))


def resampled_w1(values1: np.ndarray, units1: np.ndarray, counts1: np.ndarray, values2: np.ndarray,
                 units2: np.ndarray, counts2: np.ndarray) -> np.ndarray:
    """W1 per feature between two samples resampled by units (jets), for many resamplings at once -> [B, F].

    ``values`` [P, F] are the entries (particles, or jets themselves), ``units`` [P] the index of the unit each
    entry belongs to, ``counts`` [B, U] how often each unit is drawn in each of B resamplings (``np.bincount`` of
    the drawn indices). W1 of resampling b equals ``w1`` of the copied entries of the drawn units: each entry is
    weighted by its unit's count, so the values are sorted once and every resampling costs one cumulative sum
    (exact, in integers) over the merged order. A resampling with no entries on either side gives inf (as jetnet).
    """
    values1, values2 = np.asarray(values1), np.asarray(values2)
    if values1.ndim != 2 or values2.ndim != 2 or values1.shape[1] != values2.shape[1]:
        raise ValueError(f"values must be [P1, F] and [P2, F] with one F; got {values1.shape} and {values2.shape}")
    if units1.shape != values1.shape[:1] or units2.shape != values2.shape[:1]:
        raise ValueError(f"units must be [P1] and [P2]; got {units1.shape} and {units2.shape}")
    if counts1.ndim != 2 or counts2.ndim != 2 or len(counts1) != len(counts2):
        raise ValueError(f"counts must be [B, U1] and [B, U2] with one B; got {counts1.shape} and {counts2.shape}")
    totals1 = np.bincount(units1, minlength=counts1.shape[1]) @ counts1.T.astype(np.int64)  # [B] entries drawn
    totals2 = np.bincount(units2, minlength=counts2.shape[1]) @ counts2.T.astype(np.int64)
    # signed weight per unit, an integer: its cumulative sum over the merged order is P1 P2 (F1(x) - F2(x)), exact
    # in float64 while P1 P2 < 2^53
    weights = np.concatenate([counts1 * totals2[:, None], -counts2 * totals1[:, None]], axis=1).astype(np.float64)
    units = np.concatenate([units1, units2 + counts1.shape[1]])
    out = np.full((len(counts1), values1.shape[1]), np.inf)
    drawn = np.flatnonzero((totals1 > 0) & (totals2 > 0))
    for f in range(values1.shape[1]):
        merged = np.concatenate([values1[:, f], values2[:, f]])
        order = np.argsort(merged)
        gaps = np.diff(merged[order].astype(np.float64))
        ordered_units = units[order[:-1]]
        for b in drawn:
            cdf_diff = np.cumsum(weights[b, ordered_units])
            out[b, f] = np.dot(np.abs(cdf_diff, out=cdf_diff), gaps) / (float(totals1[b]) * float(totals2[b]))
    return out


def trace_sqrt_product(s1: np.ndarray, s2: np.ndarray) -> np.ndarray:
    """Tr sqrt(s1 s2) for symmetric positive semi-definite s1, s2 [..., d, d] (stacks allowed) -> [...].

    s1 s2 is similar to s1^1/2 s2 s1^1/2, which is symmetric PSD, so the trace is the sum of the square roots of
    its eigenvalues (two symmetric eigendecompositions); eigenvalues that rounding makes slightly negative count
    as 0 (scipy.linalg.sqrtm of s1 s2, which jetnet uses, gives them as imaginary parts, which it drops).
    scipy's eigh, not numpy's: numpy's (OpenBLAS-threaded) eigenvectors run ~30x slower on a busy machine.
    """
    w, v = linalg.eigh(s1)
    root = (v * np.sqrt(np.clip(w, 0.0, None))[..., None, :]) @ np.swapaxes(v, -1, -2)
    return np.sqrt(np.clip(linalg.eigh(root @ s2 @ root, eigvals_only=True), 0.0, None)).sum(axis=-1)


def frechet_distances(mu1: np.ndarray, s1: np.ndarray, mu2: np.ndarray, s2: np.ndarray) -> np.ndarray:
    """Frechet distances ``|mu1 - mu2|^2 + Tr(s1 + s2 - 2 sqrt(s1 s2))`` of stacks of Gaussian pairs -> [B].

    ``mu`` [B, d], ``s`` [B, d, d] covariance matrices (symmetric PSD); squared units of the means. The matrix
    square root's trace comes from ``trace_sqrt_product``, which needs no guard against near-singular products
    (pytorch-fid's and jetnet's ``_calculate_frechet_distance`` add 1e-6 to the diagonals where
    scipy.linalg.sqrtm fails).
    """
    diff = mu1 - mu2
    return (np.einsum("bi,bi->b", diff, diff) + np.trace(s1, axis1=-2, axis2=-1) + np.trace(s2, axis1=-2, axis2=-1)
            - 2 * trace_sqrt_product(s1, s2))


def frechet_distance(mu1: np.ndarray, s1: np.ndarray, mu2: np.ndarray, s2: np.ndarray) -> float:
    """Frechet distance between Gaussians N(mu1, s1) and N(mu2, s2): ``frechet_distances`` of one pair.

    ``mu`` [d], ``s`` [d, d] covariance matrices (symmetric PSD); in the squared units of the means.
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, dtype=np.float64)), np.atleast_1d(np.asarray(mu2, dtype=np.float64))
    s1, s2 = np.atleast_2d(np.asarray(s1, dtype=np.float64)), np.atleast_2d(np.asarray(s2, dtype=np.float64))
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != (mu1.size, mu1.size):
        raise ValueError(f"Frechet distance needs means [d] and covariances [d, d] of one d; got mu1 {mu1.shape}, "
                         f"mu2 {mu2.shape}, s1 {s1.shape}, s2 {s2.shape}")
    return float(frechet_distances(mu1[None], s1[None], mu2[None], s2[None])[0])


def pair_products(x: np.ndarray, off_diagonal: float = 1.0) -> np.ndarray:
    """Products x_p x_q of the columns of x [m, d] for p <= q, in ``np.triu_indices(d)`` order -> [m, d (d + 1) / 2].

    Products with p < q are multiplied by ``off_diagonal``. Built slice by slice (no column gathers).
    """
    m, d = x.shape
    out = np.empty((m, d * (d + 1) // 2))
    start = 0
    for p in range(d):
        out[:, start] = x[:, p] * x[:, p]
        np.multiply(x[:, p:p + 1] * off_diagonal, x[:, p + 1:], out=out[:, start + 1:start + d - p])
        start += d - p
    return out


def _quartic_moments(x: np.ndarray) -> tuple[np.ndarray, float]:
    """Second moment M [D, D] of the pair features of x~ = (1, x / sqrt(d)) [m, d + 1], and sum_i k(x_i, x_i).

    With z(a)_(pq) = a_p a_q (p = q) or sqrt(2) a_p a_q (p < q), z(a) . z(b) = (a . b)^2, so the degree-4
    polynomial kernel k(x, y) = (x . y / d + 1)^4 = (z(x~) . z(y~))^2 and sum_ij k(x_i, y_j) = <M_x, M_y>.
    """
    m, d = x.shape
    xt = np.concatenate([np.ones((m, 1)), x / np.sqrt(d)], axis=1)
    z = pair_products(xt, np.sqrt(2.0))
    return z.T @ z, float(((np.einsum("ij,ij->i", xt, xt)) ** 4).sum())


def mmd_poly(x: np.ndarray, y: np.ndarray, degree: int = 4) -> float:
    """Unbiased (quadratic-time) estimate of MMD^2 between samples ``x`` [m, d] and ``y`` [n, d].

    Kernel ``k(a, b) = (a . b / d + 1)^degree``, the kernel of KID (Binkowski et al. 2018, degree 3) and of
    KPD (Kansal et al. 2023): jetnet.evaluation.gen_metrics ``_mmd_poly_quadratic_unbiased`` uses degree 4, hence
    the default. The diagonal (i = j) terms are left out of the within-sample means, so the estimate can be
    slightly negative when the two distributions agree. Degree 4 sums the kernel through second moments of pair
    features (``_quartic_moments``: two matrix products, no m x n kernel matrix); other degrees in blocks.
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1] or len(x) < 2 or len(y) < 2:
        raise ValueError(f"MMD needs samples [m, d] and [n, d] with m, n >= 2; got {x.shape} and {y.shape}")
    m, n = len(x), len(y)
    if degree == 4:
        (mx, diag_x), (my, diag_y) = _quartic_moments(x), _quartic_moments(y)
        sum_xx, sum_yy, sum_xy = np.vdot(mx, mx), np.vdot(my, my), np.vdot(mx, my)
    else:
        diag_x = ((np.einsum("ij,ij->i", x, x) / x.shape[1] + 1.0) ** degree).sum()
        diag_y = ((np.einsum("ij,ij->i", y, y) / x.shape[1] + 1.0) ** degree).sum()
        sum_xx, sum_yy, sum_xy = (_poly_kernel_sum(a, b, degree) for a, b in ((x, x), (y, y), (x, y)))
    return float((sum_xx - diag_x) / (m * (m - 1)) + (sum_yy - diag_y) / (n * (n - 1)) - 2.0 * sum_xy / (m * n))


def _poly_kernel_sum(x: np.ndarray, y: np.ndarray, degree: int, rows: int = 1024) -> float:
    """Sum over all pairs of the polynomial kernel ``(x_i . y_j / d + 1)^degree``, in blocks of ``rows``."""
    total = 0.0
    for i in range(0, len(x), rows):
        k = x[i:i + rows] @ y.T
        k /= x.shape[1]
        k += 1.0
        total += np.power(k, degree, out=k).sum()
    return float(total)
