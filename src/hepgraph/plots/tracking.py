"""Figures of the tracking family (Liu et al. 2023): tracking efficiency against particle pT and eta for every model,
and track displays of one event (x-y and r-z views, hits coloured by track candidate, missed hits marked)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from hepgraph.evaluation.tracking import MODEL_NAMES, efficiency_by
from hepgraph.plots import save_figure

PT_EDGES = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 10.0, 20.0, 50.0])  # GeV
ETA_EDGES = np.linspace(-4.0, 4.0, 17)


def efficiency_plot(particles: Mapping[str, Mapping[str, np.ndarray]], min_hits: int, path: str | Path) -> Figure:
    """Efficiency vs pT (particles of >= ``min_hits`` hits, any pT) and vs eta (reconstructable particles) of each
    model, with binomial errors; ``particles`` {model: arrays pt, eta, n_hits, reconstructable, matched [P]}."""
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    ax_pt, ax_eta = fig.subplots(1, 2)
    for i, (model, p) in enumerate(particles.items()):
        style = dict(fmt="o-", ms=3, lw=1, capsize=2, label=MODEL_NAMES.get(model, model), color=f"C{i}")
        enough = p["n_hits"] >= min_hits
        eff, err = efficiency_by(p["pt"][enough], p["matched"][enough], PT_EDGES)
        ax_pt.errorbar((PT_EDGES[1:] + PT_EDGES[:-1]) / 2, eff, yerr=err, **style)
        reco = p["reconstructable"].astype(bool)
        eff, err = efficiency_by(p["eta"][reco], p["matched"][reco], ETA_EDGES)
        ax_eta.errorbar((ETA_EDGES[1:] + ETA_EDGES[:-1]) / 2, eff, yerr=err, **style)
    ax_pt.set_xscale("log")
    ax_pt.set_xlim(0.3, 50)
    ax_pt.set_xlabel(r"particle $p_T$ (GeV)")
    ax_pt.set_title(f"particles with >= {min_hits} hits")
    ax_eta.set_xlabel(r"particle $\eta$")
    ax_eta.set_title("reconstructable particles")
    for ax in (ax_pt, ax_eta):
        ax.set_ylabel("tracking efficiency")
        ax.set_ylim(0, 1.05)
        ax.grid(alpha=0.3)
    ax_eta.legend(frameon=False, fontsize=8, loc="lower center")
    save_figure(fig, path)
    return fig


def track_display(pos: np.ndarray, labels: np.ndarray, missed: np.ndarray, title: str, path: str | Path) -> Figure:
    """x-y and r-z views of one event's hits ``pos`` [N, 3] (mm): hits of a candidate in its colour, hits in none
    in grey, hits of missed reconstructable particles circled in red."""
    fig = Figure(figsize=(12, 5.5), layout="constrained")
    ax_xy, ax_rz = fig.subplots(1, 2, width_ratios=(1, 1.6))
    x, y, z = pos.T
    r = np.hypot(x, y)
    in_track = labels >= 0
    colours = colormaps["tab20"](np.remainder(labels[in_track], 20))
    for ax, (a, b) in ((ax_xy, (x, y)), (ax_rz, (z, r))):
        ax.scatter(a[~in_track], b[~in_track], s=2, c="0.7", label="in no candidate")
        ax.scatter(a[in_track], b[in_track], s=3, c=colours)
        ax.scatter(a[missed], b[missed], s=18, facecolors="none", edgecolors="red", lw=0.7,
                   label="missed reconstructable particle")
    ax_xy.set_xlabel("x (mm)")
    ax_xy.set_ylabel("y (mm)")
    ax_xy.set_aspect("equal")
    ax_rz.set_xlabel("z (mm)")
    ax_rz.set_ylabel("r (mm)")
    ax_rz.legend(frameon=False, fontsize=8, loc="upper right")
    fig.suptitle(f"{title}: {len(np.unique(labels[in_track]))} candidates, {int(missed.sum())} missed hits")
    save_figure(fig, path)
    return fig
