"""Scoring unsupervised anomaly detectors (Kluettermann 2021, ch. 3.1, 3.3.2, 5.2, 8.3) and their baselines.

A detector gives each jet a score, higher = more anomalous; the background is the dataset it was trained on, the
signal (anomaly) any other dataset. AUC = P(score of a signal jet > score of a background jet) (ties count 1/2); the
ROC is drawn, as the thesis does, as background rejection 1/FPR against signal efficiency TPR. A detector trained on
a and scoring b, and trained on b scoring a, is invertible on the pair when both AUCs exceed 0.5.

Baselines on the same jets: the jet width (mean angular distance of the n leading particles to the jet axis; the
thesis's trivial feature), the constituent multiplicity, and scikit-learn's IsolationForest, one-class SVM and
mean distance to the k nearest training jets, fitted on background feature vectors.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

SIGNAL_EFFICIENCY = 0.3  # background rejection quoted at this signal efficiency

# Thesis numbers (trained on the row's dataset, anomaly = the column's), Table 8.1; the best normalised GAE + oneoff
# of ch. 7.3 / 9: 0.635 QCD -> top, 0.823 top -> QCD; the jet width alone ~0.906 QCD -> top (ch. 5.2.1, 9).
THESIS_CROSS_DATASETS = ("qcd", "top", "qcd_light", "dark", "quark", "gluon", "lepton", "tau")
THESIS_CROSS = np.array([
    [0.5, 0.5958, 0.5048, 0.5181, 0.6333, 0.5792, 0.606, 0.644],
    [0.7893, 0.5, 0.7589, 0.7656, 0.8905, 0.8248, 0.8672, 0.8879],
    [0.5476, 0.6219, 0.5, 0.5022, 0.4936, 0.5037, 0.4822, 0.5471],
    [0.5339, 0.6043, 0.5134, 0.5, 0.4863, 0.5, 0.4768, 0.5456],
    [0.5429, 0.6019, 0.5828, 0.5773, 0.5, 0.5251, 0.5063, 0.5535],
    [0.5063, 0.5831, 0.514, 0.509, 0.5455, 0.5, 0.5167, 0.5744],
    [0.5448, 0.6173, 0.5448, 0.5403, 0.504, 0.512, 0.5, 0.5089],
    [0.6254, 0.7018, 0.6753, 0.6595, 0.5647, 0.6283, 0.6023, 0.5],
])
THESIS_AUC = {  # by the method names of config.yaml: gae<n> is the n-particle GAE, oneoff_gae<n> oneoff on its latent
    "oneoff_gae4": {("qcd", "top"): 0.635, ("top", "qcd"): 0.823},  # ch. 7.3, 9: the thesis's best normalised model
    "gae16": {("qcd", "top"): 0.70, ("top", "qcd"): 0.64},  # ch. 7.4.2: normalised 16-particle GAE (figs. G.1, G.7)
    "oneoff_gae16": {("qcd", "top"): 0.55, ("top", "qcd"): 0.48},  # ch. 7.4.2: oneoff on it (figs. G.3, G.9)
    "width": {("qcd", "top"): 0.906},  # ch. 5.2.1, 9: the angular width of the leading particles alone
}
AIM = {("qcd", "top"): 0.91, ("top", "qcd"): 0.83}


def auc(background: np.ndarray, signal: np.ndarray) -> float:
    """Area under the ROC curve of scores (higher = more signal-like): the Mann-Whitney U of signal over background
    divided by the number of pairs, ties counting 1/2."""
    background, signal = np.asarray(background, float).ravel(), np.asarray(signal, float).ravel()
    if not len(background) or not len(signal):
        raise ValueError(f"AUC needs scores of both classes ({len(background)} background, {len(signal)} signal)")
    ranks = rankdata(np.concatenate([signal, background]))
    return float((ranks[:len(signal)].sum() - len(signal) * (len(signal) + 1) / 2) / (len(signal) * len(background)))


def roc(background: np.ndarray, signal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(TPR, FPR) at every threshold, TPR ascending from 0 to 1: a jet is called signal if its score >= threshold."""
    thresholds = np.unique(np.concatenate([background, signal]))[::-1]
    tpr = np.searchsorted(np.sort(-np.asarray(signal)), -thresholds, side="right") / len(signal)
    fpr = np.searchsorted(np.sort(-np.asarray(background)), -thresholds, side="right") / len(background)
    return np.concatenate([[0.0], tpr]), np.concatenate([[0.0], fpr])


def rejection(background: np.ndarray, signal: np.ndarray, efficiency: float = SIGNAL_EFFICIENCY) -> float:
    """Background rejection 1/FPR at signal efficiency ``efficiency`` (the threshold that keeps that fraction of the
    signal); inf when no background jet passes it."""
    threshold = np.quantile(np.asarray(signal, float), 1 - efficiency)
    fpr = float(np.mean(np.asarray(background) >= threshold))
    return np.inf if fpr == 0 else 1 / fpr


def auc_map(background: np.ndarray, signal: np.ndarray) -> np.ndarray:
    """AUC [n, F] of each (particle, feature) error of errors [N_b, n, F] (background) and [N_s, n, F] (signal)."""
    n, f = background.shape[1:]
    return np.array([[auc(background[:, i, j], signal[:, i, j]) for j in range(f)] for i in range(n)])


def mean_std(values) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value) of finite values; (inf, nan) if every value is inf (a
    rejection where no background passes), (nan, nan) if there are none."""
    values = np.asarray(values, float)
    if len(values) and np.all(np.isposinf(values)):
        return np.inf, np.nan
    values = values[np.isfinite(values)]
    if not len(values):
        return np.nan, np.nan
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0


def invertible_pairs(matrix: np.ndarray) -> tuple[int, int]:
    """(invertible, total) ordered off-diagonal entries of a cross matrix [D, D] of AUCs (row trained on, column
    scored as anomaly): an entry counts when its AUC > 0.5 and its transposed entry too (the thesis's 52 of 56
    counts single entries > 0.5 or = 0.5; see :func:`above_chance`)."""
    off = ~np.eye(len(matrix), dtype=bool) & np.isfinite(matrix) & np.isfinite(matrix.T)
    return int(((matrix > 0.5) & (matrix.T > 0.5) & off).sum()), int(off.sum())


def above_chance(matrix: np.ndarray) -> tuple[int, int]:
    """(entries with AUC >= 0.5, total) off the diagonal: the thesis's count (52 of 56 in Table 8.1)."""
    off = ~np.eye(len(matrix), dtype=bool) & np.isfinite(matrix)
    return int(((matrix >= 0.5) & off).sum()), int(off.sum())


def jet_width(nodes: np.ndarray, mask: np.ndarray, n: int) -> np.ndarray:
    """Mean (eta, phi) distance to the jet axis of each jet's ``n`` leading real particles: nodes [N, m, >=2]
    (eta_rel, phi_rel, ...), mask [N, m] -> [N]."""
    nodes, mask = nodes[:, :n], mask[:, :n]
    r = np.hypot(nodes[..., 0], nodes[..., 1])
    return (r * mask).sum(1) / np.maximum(mask.sum(1), 1)


def sklearn_scores(train: np.ndarray, tests: dict[str, np.ndarray], knn_k: int = 5, max_svm: int = 2000,
                   seed: int = 0) -> dict[str, dict[str, np.ndarray]]:
    """{method: {name: scores [N]}} of scikit-learn detectors fitted on background feature vectors train [N, D]
    (standardised with its statistics) and applied to each of ``tests`` {name: [N, D]}: ``isolation_forest``,
    ``ocsvm`` (RBF, nu 0.1, fitted on at most ``max_svm`` jets) and ``knn`` (mean distance to the ``knn_k``
    nearest training jets)."""
    from sklearn.ensemble import IsolationForest
    from sklearn.neighbors import NearestNeighbors
    from sklearn.svm import OneClassSVM

    mean, std = train.mean(0), train.std(0) + 1e-9
    train = (train - mean) / std
    tests = {k: (v - mean) / std for k, v in tests.items()}
    rng = np.random.default_rng(seed)
    forest = IsolationForest(random_state=seed).fit(train)
    svm = OneClassSVM(nu=0.1, gamma="scale").fit(train[rng.permutation(len(train))[:max_svm]])
    neighbours = NearestNeighbors(n_neighbors=knn_k).fit(train)
    return {"isolation_forest": {k: -forest.score_samples(v) for k, v in tests.items()},
            "ocsvm": {k: -svm.score_samples(v) for k, v in tests.items()},
            "knn": {k: neighbours.kneighbors(v)[0].mean(1) for k, v in tests.items()}}
