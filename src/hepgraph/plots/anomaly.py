"""Figures of the anomaly-detection family (Kluettermann 2021): ROC curves drawn as background rejection against
signal efficiency, score distributions, per-(particle, feature) AUC maps, the cross-dataset AUC matrix and training
curves."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from hepgraph.models.anomaly_inputs import FEATURES
from hepgraph.plots import feature_bins, read_metrics_csv, save_figure


def roc_plot(panels: Mapping[str, Mapping[str, tuple[np.ndarray, np.ndarray]]], path: str | Path) -> Figure:
    """One panel per title in ``panels`` {title: {label: (tpr, fpr)}}: rejection 1/FPR (log) against signal
    efficiency TPR, with random guessing (1/TPR) dashed; saved to ``path``."""
    fig = Figure(figsize=(5.5 * len(panels), 4.5), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (title, curves) in zip(axes, panels.items()):
        for i, (label, (tpr, fpr)) in enumerate(curves.items()):
            ok = fpr > 0
            ax.plot(tpr[ok], 1 / fpr[ok], label=label, lw=1.2, color=f"C{i % 10}", ls=("-", "--", ":")[i // 10 % 3])
        grid = np.linspace(0.01, 1, 100)
        ax.plot(grid, 1 / grid, "k--", lw=0.8, label="random")
        ax.set(yscale="log", xlabel="signal efficiency (TPR)", ylabel="background rejection 1/FPR", title=title,
               xlim=(0, 1))
        ax.legend(frameon=False, fontsize="x-small")
    save_figure(fig, path)
    return fig


def score_histograms(panels: Mapping[str, Mapping[str, np.ndarray]], path: str | Path) -> Figure:
    """Unit-area histograms of anomaly scores, one panel per title in ``panels`` {title: {dataset: scores}}, on a
    log x axis when every score is positive; saved to ``path``."""
    fig = Figure(figsize=(4.5 * len(panels), 3.8), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (title, scores) in zip(axes, panels.items()):
        values = np.concatenate(list(scores.values()))
        log = bool(np.all(values > 0))
        bins = np.geomspace(*np.quantile(values, [0.001, 0.999]), 41) if log and values.min() < values.max() \
            else feature_bins(values, 40)
        for name, s in scores.items():
            ax.hist(s, bins, density=True, histtype="step", label=name)
        ax.set(xscale="log" if log else "linear", xlabel="anomaly score", ylabel="density", title=title)
        ax.legend(frameon=False, fontsize="small")
    save_figure(fig, path)
    return fig


def auc_maps(maps: Sequence[tuple[str, np.ndarray]], path: str | Path) -> Figure:
    """AUC of each particle's (rows, sorted by lpt) feature (columns) error, one map [n, 4] per (title, map); blue 1
    (signal reconstructed worse), white 0.5, red 0; saved to ``path``."""
    cols = min(len(maps), 4)
    rows = -(-len(maps) // cols)
    fig = Figure(figsize=(3.2 * cols + 1, 3.6 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    image = None
    for ax, (title, values) in zip(axes, maps):
        values = np.asarray(values)
        image = ax.imshow(values, cmap="RdBu", vmin=0, vmax=1, aspect="auto")
        ax.set(xticks=range(len(FEATURES)), xticklabels=FEATURES, yticks=range(len(values)),
               yticklabels=range(1, len(values) + 1), ylabel="particle (sorted by lpt)", title=title)
    for ax in axes[len(maps):]:
        ax.set_axis_off()
    if image is not None:
        fig.colorbar(image, ax=axes.tolist(), label="AUC")
    save_figure(fig, path)
    return fig


def cross_matrix(matrix: np.ndarray, names: Sequence[str], path: str | Path, title: str) -> Figure:
    """AUC heat map [D, D] (row trained on, column scored as anomaly) with each value written in its cell and a black
    dot on every entry at or below 0.5 off the diagonal; saved to ``path``."""
    matrix = np.asarray(matrix)
    fig = Figure(figsize=(1.0 * len(names) + 2.5, 0.9 * len(names) + 1.5), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(matrix, cmap="RdBu", vmin=0, vmax=1)
    for i in range(len(names)):
        for j in range(len(names)):
            ax.text(j, i, f"{matrix[i, j]:.2f}", ha="center", va="center", fontsize=8)
            if i != j and matrix[i, j] <= 0.5:
                ax.plot(j, i + 0.3, "ko", ms=4)
    ax.set(xticks=range(len(names)), xticklabels=names, yticks=range(len(names)), yticklabels=names,
           xlabel="scored as anomaly", ylabel="trained on", title=title)
    ax.tick_params(axis="x", labelrotation=45)
    fig.colorbar(image, label="AUC")
    save_figure(fig, path)
    return fig


def loss_curves(runs: Mapping[str, str | Path], path: str | Path) -> Figure:
    """Training (solid) and validation (dashed) loss per epoch of each run {label: metrics CSV of the training loop};
    saved to ``path``."""
    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.subplots()
    for i, (label, csv) in enumerate(runs.items()):
        frame = read_metrics_csv(csv)
        ax.plot(frame["epoch"], frame["train_loss"], color=f"C{i % 10}", label=label)
        ax.plot(frame["epoch"], frame["val_loss"], color=f"C{i % 10}", ls="--")
    ax.set(xlabel="epoch", ylabel="loss (solid: training, dashed: validation)", yscale="log")
    ax.legend(frameon=False, fontsize="x-small", ncol=2)
    save_figure(fig, path)
    return fig
