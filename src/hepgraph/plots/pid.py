"""Figures of the quark/gluon family: ROC curves (gluon rejection against quark efficiency), training curves, the
classifiers' score distributions for quark and gluon jets, and the mean quark and gluon jet images."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.colors import LogNorm, SymLogNorm
from matplotlib.figure import Figure

from hepgraph.evaluation.pid import roc_auc, roc_curve
from hepgraph.plots import save_figure

CHANNELS = ("track pT", "ECAL", "HCAL")
QUARK_STYLE = {"color": "tab:blue", "label": "quark"}
GLUON_STYLE = {"color": "tab:orange", "label": "gluon"}


def roc_plot(taggers: Mapping[str, tuple[np.ndarray, np.ndarray]], path: str | Path, title: str = "") -> Figure:
    """Gluon rejection 1 / eps_g (log scale) against quark efficiency eps_q for each tagger {name: (score [N],
    is_quark [N])}, the AUC in the legend; dashed lines at 30 % and 50 % quark efficiency. Saved to ``path``."""
    fig = Figure(figsize=(6, 5), layout="constrained")
    ax = fig.subplots()
    for name, (score, is_quark) in taggers.items():
        eff_q, eff_g = roc_curve(score, is_quark)
        keep = eff_g > 0
        style = {"ls": ":"} if name.startswith("baseline") else {}
        ax.plot(eff_q[keep], 1 / eff_g[keep], label=f"{name} (AUC {roc_auc(score, is_quark):.3f})", **style)
    ax.plot(np.linspace(0.01, 1), 1 / np.linspace(0.01, 1), color="grey", lw=0.8, label="random (AUC 0.5)")
    for eff in (0.3, 0.5):
        ax.axvline(eff, color="grey", lw=0.5, ls="--")
    ax.set(yscale="log", xlim=(0, 1), xlabel="quark efficiency", ylabel="gluon rejection (1 / gluon efficiency)",
           title=title)
    ax.legend(frameon=False, fontsize="small")
    save_figure(fig, path)
    return fig


def training_curves(metrics: Mapping[str, Sequence[pd.DataFrame]], path: str | Path) -> Figure:
    """Per run {name: one metrics table per seed (the training loop's CSV: epoch, train_loss, val_loss, val_auc)}:
    training and validation loss (left) and validation ROC AUC (right) against epoch, one line per seed."""
    fig = Figure(figsize=(12, 4.5), layout="constrained")
    loss_ax, auc_ax = fig.subplots(1, 2)
    for i, (run, tables) in enumerate(metrics.items()):
        color = f"C{i % 10}"
        for seed, table in enumerate(tables):
            label = run if seed == 0 else None
            loss_ax.plot(table["epoch"], table["train_loss"], color=color, marker=".", label=label)
            loss_ax.plot(table["epoch"], table["val_loss"], color=color, marker=".", ls="--")
            auc_ax.plot(table["epoch"], table["val_auc"], color=color, marker=".", label=label)
    loss_ax.set(xlabel="epoch", ylabel="binary cross-entropy (solid: training, dashed: validation)")
    auc_ax.set(xlabel="epoch", ylabel="validation ROC AUC")
    auc_ax.axhline(0.5, color="grey", lw=0.8)
    loss_ax.legend(frameon=False, fontsize="small")
    save_figure(fig, path)
    return fig


def score_distributions(runs: Mapping[str, tuple[np.ndarray, np.ndarray]], path: str | Path) -> Figure:
    """Histograms (unit area) of the quark probability of quark and gluon test jets, one panel per run
    {name: (quark probability [N], is_quark [N])}."""
    fig = Figure(figsize=(4 * len(runs), 3.5), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(runs), squeeze=False)[0])
    bins = np.linspace(0, 1, 26)
    for ax, (run, (prob, is_quark)) in zip(axes, runs.items()):
        for keep, style in ((is_quark, QUARK_STYLE), (~is_quark, GLUON_STYLE)):
            ax.hist(prob[keep], bins, density=True, histtype="step", lw=1.5, **style)
        ax.set(title=run, xlabel="quark probability", ylabel="density")
        ax.legend(frameon=False)
    save_figure(fig, path)
    return fig


def mean_images(quark: np.ndarray, gluon: np.ndarray, path: str | Path, counts: tuple[int, int]) -> Figure:
    """Mean quark and gluon jet images [3, H, W] (GeV per pixel; log colour scale) and quark minus gluon
    (symmetric log scale; red: more in quark jets), one column per channel. ``counts``: jets averaged."""
    fig = Figure(figsize=(12, 11), layout="constrained")
    axes = fig.subplots(3, 3)
    for col, name in enumerate(CHANNELS):
        positive = np.concatenate([quark[col][quark[col] > 0], gluon[col][gluon[col] > 0]])
        norm = LogNorm(*np.quantile(positive, [0.01, 1.0])) if positive.size else None
        for row, (image, label) in enumerate(((quark, f"quark ({counts[0]} jets)"),
                                              (gluon, f"gluon ({counts[1]} jets)"))):
            shown = axes[row, col].imshow(np.ma.masked_less_equal(image[col], 0), norm=norm, cmap="viridis",
                                          origin="lower")
            axes[row, col].set_title(f"{label}: {name}")
            fig.colorbar(shown, ax=axes[row, col], label="mean GeV per pixel")
        diff = quark[col] - gluon[col]
        limit = max(float(np.abs(diff).max()), 1e-12)
        shown = axes[2, col].imshow(diff, cmap="RdBu_r", origin="lower",
                                    norm=SymLogNorm(limit * 1e-3, vmin=-limit, vmax=limit))
        axes[2, col].set_title(f"quark - gluon: {name}")
        fig.colorbar(shown, ax=axes[2, col], label="GeV per pixel")
    for ax in axes.flat:
        ax.set(xlabel="phi pixel", ylabel="eta pixel")
    save_figure(fig, path)
    return fig
