"""Figures of the graph GAN family: jet feature distributions (Kansal et al. 2020, Fig. 3), generated digits
(Fig. 2) and training curves from the training loop's metrics CSV."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from hepgraph.metrics.jets import PARTICLE_FEATURES, jet_mass_over_pt
from hepgraph.plots import compare_histograms, feature_bins, read_metrics_csv, save_figure

JET_LABELS = {"eta_rel": r"particle $\eta^\mathrm{rel}$", "phi_rel": r"particle $\phi^\mathrm{rel}$",
              "pt_rel": r"particle $p_T^\mathrm{rel}$", "m_over_pt": r"jet $m/p_T$"}
IMAGE_SIZE = 28


def jet_feature_plot(real: np.ndarray, real_mask: np.ndarray, gen: np.ndarray, gen_mask: np.ndarray,
                     path: str | Path) -> Figure:
    """Real vs generated eta_rel, phi_rel, pt_rel (masked particles pooled) and jet m/pT, each with a ratio panel,
    saved to ``path``; returns the figure (axes [2, 4]: histograms above ratios).

    Jets [N, n, 3] (eta_rel, phi_rel, pt_rel) with masks [N, n]. Bins follow the real distributions.
    """
    samples = [(real[real_mask][:, i], gen[gen_mask][:, i]) for i in range(len(PARTICLE_FEATURES))]
    samples.append((jet_mass_over_pt(real, real_mask), jet_mass_over_pt(gen, gen_mask)))
    fig = Figure(figsize=(16, 4.5), layout="constrained")
    axes = fig.subplots(2, 4, height_ratios=(3, 1), sharex="col")
    for col, (name, (r, g)) in enumerate(zip((*PARTICLE_FEATURES, "m_over_pt"), samples)):
        compare_histograms(axes[0, col], axes[1, col], r, g, feature_bins(r), JET_LABELS[name],
                           log=name == "pt_rel")
    fig.suptitle(f"{len(real)} real and {len(gen)} generated jets")
    save_figure(fig, path)
    return fig


def rasterise(nodes: np.ndarray, mask: np.ndarray, size: int = IMAGE_SIZE, radius: int = 0) -> np.ndarray:
    """Images [N, size, size] in [0, 1] from nodes [N, n, 3] (x, y, intensity) in [-0.5, 0.5), masks [N, n].

    Inverts the MNIST graph normalisation (``data.mnist``): pixel column = x size + size / 2 (rounded), row
    likewise from y, grey value = intensity + 0.5. A node paints the (2 radius + 1)^2 pixels around it (1 suits
    superpixels); overlapping nodes keep the brightest value. Positions are clipped onto the image.
    """
    images = np.zeros((len(nodes), size, size))
    graph, node = np.nonzero(mask)
    x, y, value = (nodes[graph, node, i] for i in range(3))
    col = np.clip(np.rint(x * size + size / 2), 0, size - 1).astype(int)
    row = np.clip(np.rint(y * size + size / 2), 0, size - 1).astype(int)
    value = np.clip(value + 0.5, 0.0, 1.0)
    for dr in range(-radius, radius + 1):
        for dc in range(-radius, radius + 1):
            r, c = row + dr, col + dc
            ok = (r >= 0) & (r < size) & (c >= 0) & (c < size)
            np.maximum.at(images, (graph[ok], r[ok], c[ok]), value[ok])
    return images


def node_radius(nodes: np.ndarray, mask: np.ndarray, size: int = IMAGE_SIZE) -> int:
    """Pixels to paint around each node so that the nodes of graphs [N, n, 3] (masks [N, n]) tile their image: half
    the median distance from a real node to its nearest real neighbour, in pixels, rounded down. Sparse MNIST nodes
    are neighbouring pixels (distance 1: radius 0); 75 SLIC superpixels lie about 3 pixels apart (radius 1)."""
    pos = nodes[..., :2] * size
    dist = np.linalg.norm(pos[:, :, None] - pos[:, None, :], axis=-1)
    pairs = mask[:, :, None] & mask[:, None, :] & ~np.eye(mask.shape[1], dtype=bool)
    nearest = np.where(pairs, dist, np.inf).min(axis=-1)[mask]
    nearest = nearest[np.isfinite(nearest)]
    return int(np.median(nearest) // 2) if len(nearest) else 0


def digit_grid(real_nodes: np.ndarray, real_mask: np.ndarray, gen_nodes: np.ndarray, gen_mask: np.ndarray,
               path: str | Path, n: int = 8) -> None:
    """The first ``n`` real digits (top row) above the first ``n`` generated ones (bottom row), rasterised, each
    node painted over the :func:`node_radius` of the real graphs."""
    radius = node_radius(real_nodes[:n], real_mask[:n])
    rows = [("real", rasterise(real_nodes[:n], real_mask[:n], radius=radius)),
            ("generated", rasterise(gen_nodes[:n], gen_mask[:n], radius=radius))]
    n = max(len(images) for _, images in rows)
    fig = Figure(figsize=(1.3 * n, 3), layout="constrained")
    axes = fig.subplots(2, n, squeeze=False)
    for (label, images), ax_row in zip(rows, axes):
        for i, ax in enumerate(ax_row):
            if i < len(images):
                ax.imshow(images[i], cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
        ax_row[0].set_ylabel(label)
    save_figure(fig, path)


def training_curves(metrics_csv: str | Path, path: str | Path) -> Figure:
    """Losses (columns named ``*loss*``) and the other validation metrics (``val_*``) per epoch, saved to ``path``;
    returns the figure.

    Training means are solid lines, validation values dashed in the same colour; NaN entries (a non-finite value,
    or an epoch without validation) leave gaps. Validation metrics that are all positive get a log axis.
    """
    frame = read_metrics_csv(metrics_csv)
    epoch = frame["epoch"]
    losses = [c for c in frame.columns if "loss" in c and frame[c].notna().any()]
    others = [c for c in frame.columns if c.startswith("val_") and c not in losses and frame[c].notna().any()]
    fig = Figure(figsize=(11 if others else 6, 4), layout="constrained")
    axes = fig.subplots(1, 2 if others else 1, squeeze=False)[0]
    names = list(dict.fromkeys(c.removeprefix("train_").removeprefix("val_") for c in losses))
    for column in losses:
        colour = f"C{names.index(column.removeprefix('train_').removeprefix('val_'))}"
        axes[0].plot(epoch, frame[column], ls="--" if column.startswith("val_") else "-", marker=".", color=colour,
                     label=column)
    axes[0].set_title("losses")
    for column in others:
        axes[1].plot(epoch, frame[column], ls="--", marker=".", label=column)
    if others:
        axes[1].set_title("validation metrics")
        if np.nanmin(frame[others].to_numpy()) > 0:
            axes[1].set_yscale("log")
    for ax in axes:
        ax.set_xlabel("epoch")
        if ax.lines:
            ax.legend(frameon=False, fontsize="small")
    save_figure(fig, path)
    return fig
