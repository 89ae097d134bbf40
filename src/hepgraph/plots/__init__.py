"""Figures of the workflow: one module per model family (``gan``, ...) and the helpers they share.

Figures are built as ``matplotlib.figure.Figure`` objects, never through pyplot: no display is needed, no
global state is touched, and PNGs are rendered by Agg. Every file is written with :func:`save_figure`,
atomically.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from hepgraph.io import atomic_output

DPI = 120
REAL_STYLE = {"color": "black", "label": "real"}
GEN_STYLE = {"color": "tab:red", "label": "generated"}


def save_figure(fig: Figure, path: str | Path) -> None:
    """Render ``fig`` to ``path`` (format from the suffix, e.g. .png) atomically."""
    with atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=DPI)


def feature_bins(values: np.ndarray, n_bins: int = 50, coverage: float = 0.999) -> np.ndarray:
    """``n_bins + 1`` equal bin edges spanning the central ``coverage`` of ``values`` widened by 5 % each side."""
    lo, hi = np.quantile(values, [(1 - coverage) / 2, (1 + coverage) / 2])
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    pad = 0.05 * (hi - lo)
    return np.linspace(lo - pad, hi + pad, n_bins + 1)


def ratio_with_errors(reference_counts: np.ndarray, other_counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ratio of two histograms normalised to unit area, other / reference, per bin, and its Poisson error.

    ratio = (o / sum o) / (r / sum r); error = ratio sqrt(1/o + 1/r). NaN where either count is 0.
    """
    r, o = np.asarray(reference_counts, dtype=np.float64), np.asarray(other_counts, dtype=np.float64)
    ok = (r > 0) & (o > 0)
    ratio = np.full(r.shape, np.nan)
    error = np.full(r.shape, np.nan)
    ratio[ok] = (o[ok] / o.sum()) / (r[ok] / r.sum())
    error[ok] = ratio[ok] * np.sqrt(1 / o[ok] + 1 / r[ok])
    return ratio, error


def compare_histograms(ax: Axes, ratio_ax: Axes, reference: np.ndarray, other: np.ndarray, bins: np.ndarray,
                       xlabel: str, styles: Sequence[dict] = (REAL_STYLE, GEN_STYLE), log: bool = False) -> None:
    """Unit-area histograms of ``reference`` and ``other`` in ``ax`` and their ratio other/reference in ``ratio_ax``.

    Values outside ``bins`` are not drawn; the ratio panel shows Poisson errors and a line at 1.
    """
    ref_counts, _ = np.histogram(reference, bins)
    other_counts, _ = np.histogram(other, bins)
    for counts, style in zip((ref_counts, other_counts), styles):
        ax.stairs(counts / max(counts.sum(), 1) / np.diff(bins), bins, **style)
    if log:
        ax.set_yscale("log")
    ax.set_ylabel("density")
    ax.legend(frameon=False)
    ratio, error = ratio_with_errors(ref_counts, other_counts)
    centres = (bins[1:] + bins[:-1]) / 2
    ratio_ax.axhline(1.0, color=styles[0]["color"], lw=0.8)
    ratio_ax.errorbar(centres, ratio, yerr=error, fmt=".", ms=3, color=styles[1]["color"])
    ratio_ax.set_ylim(0, 2)
    ratio_ax.set_ylabel(f"{styles[1]['label'][:3]}./{styles[0]['label']}")
    ratio_ax.set_xlabel(xlabel)


def read_metrics_csv(path: str | Path) -> pd.DataFrame:
    """The training loop's metrics CSV (one row per epoch): numeric columns, empty cells and +-inf as NaN."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"metrics CSV {path} does not exist: train the model first (it is written by "
                                "hepgraph.train.loop.fit)")
    frame = pd.read_csv(path)
    if "epoch" not in frame.columns or frame.empty:
        raise ValueError(f"{path} has no 'epoch' column or no rows; it is not a metrics CSV of a training run "
                         "(hepgraph.train.loop.fit) or training has not finished an epoch")
    return frame.apply(pd.to_numeric, errors="coerce").replace([np.inf, -np.inf], np.nan)
