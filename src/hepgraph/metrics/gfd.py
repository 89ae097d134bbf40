"""Graph Frechet distance (GFD), Kansal et al. 2020 (arXiv:2012.00173), eq. 3.

The Frechet distance between Gaussians fitted to the activations of the first fully connected layer of a MoNet
classifier (:mod:`hepgraph.models.monet`, trained on the real graphs) for real and for generated graphs, the
graph analogue of the FID. As in the seed code (rkansal47/mnist_graph_gan, ``mnist_superpixels/evaluation.py``):
fc1's output before its activation, means and ``np.cov`` covariances, pytorch-fid's Frechet distance.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from hepgraph.metrics.distances import frechet_distance
from hepgraph.models.monet import MoNet, apply_batched, load_classifier


def _graphs(nodes: np.ndarray | torch.Tensor, mask: np.ndarray | torch.Tensor,
            name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Checked float32 nodes [N, n, 3] and bool mask [N, n] as tensors."""
    nodes, mask = torch.as_tensor(nodes, dtype=torch.float32), torch.as_tensor(mask, dtype=torch.bool)
    if nodes.dim() != 3 or nodes.shape[-1] != 3 or mask.shape != nodes.shape[:2]:
        raise ValueError(f"GFD: {name} graphs need nodes [N, n, 3] = (x, y, intensity) and mask [N, n]; got "
                         f"nodes {tuple(nodes.shape)} and mask {tuple(mask.shape)}")
    if len(nodes) < 2:
        raise ValueError(f"GFD: {name} graphs: need at least 2 graphs for a covariance, got {len(nodes)}")
    if not torch.isfinite(nodes[mask]).all():
        raise ValueError(f"GFD: {name} graphs have NaN or infinite node features at real (mask True) nodes")
    return nodes, mask


def activation_statistics(model: MoNet, nodes: np.ndarray | torch.Tensor, mask: np.ndarray | torch.Tensor,
                          batch_size: int = 256, name: str = "input") -> tuple[np.ndarray, np.ndarray]:
    """Mean [d] and covariance [d, d] (float64) of ``model``'s fc1 activations for nodes [N, n, 3], mask [N, n]."""
    nodes, mask = _graphs(nodes, mask, name)
    features = apply_batched(model.fc1_activations, model, nodes, mask, batch_size).double().numpy()
    return features.mean(axis=0), np.cov(features, rowvar=False)


def gfd_from_model(model: MoNet, real_nodes: np.ndarray | torch.Tensor, real_mask: np.ndarray | torch.Tensor,
                   gen_nodes: np.ndarray | torch.Tensor, gen_mask: np.ndarray | torch.Tensor,
                   batch_size: int = 256) -> float:
    """GFD between real and generated graphs (each nodes [N, n, 3], mask [N, n]) with classifier ``model``."""
    real, gen = _graphs(real_nodes, real_mask, "real"), _graphs(gen_nodes, gen_mask, "generated")  # both first
    real_stats = activation_statistics(model, *real, batch_size, "real")
    gen_stats = activation_statistics(model, *gen, batch_size, "generated")
    return frechet_distance(*real_stats, *gen_stats)


def gfd(real_nodes: np.ndarray | torch.Tensor, real_mask: np.ndarray | torch.Tensor,
        gen_nodes: np.ndarray | torch.Tensor, gen_mask: np.ndarray | torch.Tensor, checkpoint: str | Path,
        device: str | torch.device = "cpu", batch_size: int = 256) -> float:
    """GFD with the classifier saved in ``checkpoint`` (the model.pt of
    ``python -m hepgraph.stages.train_gfd_classifier``)."""
    return gfd_from_model(load_classifier(checkpoint, device), real_nodes, real_mask, gen_nodes, gen_mask,
                          batch_size)
