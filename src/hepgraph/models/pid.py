"""Quark/gluon classifiers of the end-to-end particle-ID family: CNNs on calorimeter images, graph networks on
the image's pixels and on the jet's particles.

Every model maps a batch (a dict of tensors) to one logit per jet [B], positive for "quark" (the tables'
label 1); ``torch.sigmoid`` of it is the quark probability. Batches hold, after :mod:`hepgraph.data.pid_inputs`:

- image models: ``image`` float [B, 3, H, W] (track pT, ECAL, HCAL; preprocessed) and ``scalars`` [B, 2]
  (standardised log jet pT and jet mass);
- constituent models: ``points`` [B, n, 2] (eta_rel, phi_rel), ``features`` [B, n, F] (standardised), ``mask``
  [B, n] bool.

Models (``MODELS``):

- ``cnn``: the ML4SCI reference notebook's Keras network in PyTorch: Conv(32, 3x3, GELU) - BN - MaxPool 2 -
  Dropout 0.3, two DepthwiseConv(3x3, GELU) - BN - MaxPool 2 - Dropout 0.5 blocks, flatten; a Dense(32, GELU)
  branch on (pT, m0); concatenated into Dense(128, GELU) - BN - Dropout 0.5 - Dense(64, ReLU) - BN - Dropout 0.5
  - Dense(1).
- ``resnet15``: a ResNet-15 in the style of Andrews et al. 2020 (arXiv:1902.08276): a 3x3 stem convolution
  and seven residual blocks of two 3x3 convolutions (15 convolutions), widths ``width`` x (1, 1, 2, 2, 4, 4, 4)
  halving the resolution where the width doubles, global max pooling, concatenated with the (pT, m0) branch.
- ``image_gnn``: the image as a point cloud: its ``n_nodes`` brightest non-zero pixels (summed over channels)
  become nodes with coordinates (eta, phi) of the pixel centre and features (eta, phi, three channel values),
  then ParticleNet's EdgeConv blocks, average pooling over the real nodes and the (pT, m0) branch.
- ``particlenet``: ParticleNet (Qu & Gouskos 2020, arXiv:1902.08570) on the particles: EdgeConv blocks on
  k-nearest-neighbour graphs, the first in (eta_rel, phi_rel), the next in the previous block's features
  (dynamic graphs), average pooling over the real particles, a dense layer with dropout.

k-nearest neighbours are found densely per batch (``torch.cdist`` on [B, n, n]): graphs of a few hundred nodes
need no clustering library.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hepgraph.data.calo import ECAL_CRYSTAL
from hepgraph.data.labels import QUARK
from hepgraph.device import autocast, to_device
from hepgraph.evaluation.pid import accuracy, roc_auc


@dataclass(frozen=True)
class CNNConfig:
    """The reference notebook's CNN (its sizes are the defaults)."""

    filters: int = 32
    scalar_units: int = 32
    dense: tuple[int, int] = (128, 64)
    dropout: tuple[float, float] = (0.3, 0.5)  # after the first conv block; after every later block
    scalars: bool = True


@dataclass(frozen=True)
class ResNetConfig:
    """ResNet-15: stem + 7 residual blocks; ``width`` channels in the first blocks (Andrews et al.: 16 and up)."""

    width: int = 16
    stem_pool: int = 2  # max-pool the stem's output by this factor (1: keep full resolution)
    scalar_units: int = 32
    dense: int = 64
    dropout: float = 0.2
    scalars: bool = True


@dataclass(frozen=True)
class GNNConfig:
    """EdgeConv network: ParticleNet's default sizes (k = 16; (64, 64, 64), (128, 128, 128), (256, 256, 256);
    dense 256, dropout 0.1). ParticleNet-Lite is k = 7, ((32,) * 3, (64,) * 3), dense 128.
    ``n_nodes`` is the number of pixels kept per image (image_gnn only)."""

    k: int = 16
    blocks: tuple[tuple[int, ...], ...] = ((64, 64, 64), (128, 128, 128), (256, 256, 256))
    dense: int = 256
    dropout: float = 0.1
    n_nodes: int = 128
    scalar_units: int = 32
    scalars: bool = True


CONFIGS = {"cnn": CNNConfig, "resnet15": ResNetConfig, "image_gnn": GNNConfig, "particlenet": GNNConfig}
IMAGE_MODELS = ("cnn", "resnet15", "image_gnn")
CONSTITUENT_MODELS = ("particlenet",)
MODELS = (*IMAGE_MODELS, *CONSTITUENT_MODELS)


def model_config(name: str, **overrides: Any) -> CNNConfig | ResNetConfig | GNNConfig:
    """The configuration of model ``name`` with ``overrides`` (lists become tuples); unknown keys are an error."""
    if name not in CONFIGS:
        raise ValueError(f"unknown quark/gluon model {name!r}; models: {', '.join(MODELS)}")
    cls = CONFIGS[name]
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(overrides) - known
    if unknown:
        raise ValueError(f"{name} has no settings {sorted(unknown)}; settings: {', '.join(sorted(known))}")

    def tuples(value: Any) -> Any:
        return tuple(map(tuples, value)) if isinstance(value, (list, tuple)) else value

    return cls(**{k: tuples(v) for k, v in overrides.items()})


def _scalar_branch(units: int, enabled: bool) -> nn.Module | None:
    return nn.Sequential(nn.Linear(2, units), nn.GELU()) if enabled else None


class NotebookCNN(nn.Module):
    """The reference notebook's CNN; ``image`` [B, 3, H, W], ``scalars`` [B, 2] -> logits [B]."""

    def __init__(self, config: CNNConfig, image_size: int = 125) -> None:
        super().__init__()
        c, (d1, d2) = config.filters, config.dropout
        self.features = nn.Sequential(
            nn.Conv2d(3, c, 3), nn.GELU(), nn.BatchNorm2d(c), nn.MaxPool2d(2), nn.Dropout(d1),
            nn.Conv2d(c, c, 3, groups=c), nn.GELU(), nn.BatchNorm2d(c), nn.MaxPool2d(2), nn.Dropout(d2),
            nn.Conv2d(c, c, 3, groups=c), nn.GELU(), nn.BatchNorm2d(c), nn.MaxPool2d(2), nn.Dropout(d2),
            nn.Flatten())
        size = image_size
        for _ in range(3):
            size = (size - 2) // 2
        self.scalars = _scalar_branch(config.scalar_units, config.scalars)
        width = c * size * size + (config.scalar_units if config.scalars else 0)
        h1, h2 = config.dense
        self.head = nn.Sequential(nn.Linear(width, h1), nn.GELU(), nn.BatchNorm1d(h1), nn.Dropout(d2),
                                  nn.Linear(h1, h2), nn.ReLU(), nn.BatchNorm1d(h2), nn.Dropout(d2), nn.Linear(h2, 1))

    def forward(self, batch: Mapping[str, Tensor]) -> Tensor:
        x = self.features(batch["image"])
        if self.scalars is not None:
            x = torch.cat([x, self.scalars(batch["scalars"])], dim=1)
        return self.head(x).squeeze(1)


class ResBlock(nn.Module):
    """Two 3x3 conv - BN layers with a ReLU between and after the sum with the (1x1-projected) input."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(),
                                  nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False), nn.BatchNorm2d(c_out))
        self.skip = (nn.Identity() if c_in == c_out and stride == 1 else
                     nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out)))

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.body(x) + self.skip(x))


class ResNet15(nn.Module):
    """ResNet-15 on ``image`` [B, 3, H, W] with the (pT, m0) branch -> logits [B]."""

    WIDTHS = (1, 1, 2, 2, 4, 4, 4)

    def __init__(self, config: ResNetConfig) -> None:
        super().__init__()
        w = config.width
        layers: list[nn.Module] = [nn.Conv2d(3, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU()]
        if config.stem_pool > 1:
            layers.append(nn.MaxPool2d(config.stem_pool))
        c_in = w
        for factor in self.WIDTHS:
            layers.append(ResBlock(c_in, w * factor, stride=2 if w * factor > c_in else 1))
            c_in = w * factor
        self.features = nn.Sequential(*layers, nn.AdaptiveMaxPool2d(1), nn.Flatten())
        self.scalars = _scalar_branch(config.scalar_units, config.scalars)
        width = c_in + (config.scalar_units if config.scalars else 0)
        self.head = nn.Sequential(nn.Linear(width, config.dense), nn.ReLU(), nn.Dropout(config.dropout),
                                  nn.Linear(config.dense, 1))

    def forward(self, batch: Mapping[str, Tensor]) -> Tensor:
        x = self.features(batch["image"])
        if self.scalars is not None:
            x = torch.cat([x, self.scalars(batch["scalars"])], dim=1)
        return self.head(x).squeeze(1)


def knn(points: Tensor, mask: Tensor, k: int) -> Tensor:
    """Indices [B, n, k] of the ``k`` nearest other real nodes of every node, by Euclidean distance of ``points``
    [B, n, D] (``mask`` [B, n] marks real nodes). Where a graph has fewer than k + 1 real nodes, the remaining
    neighbours are padding nodes (whose features the EdgeConv zeroes)."""
    dist = torch.cdist(points, points).masked_fill(~mask[:, None, :], torch.finfo(points.dtype).max)
    dist.diagonal(dim1=1, dim2=2).fill_(float("inf"))  # no self-loops: a node comes after even the padding
    return dist.topk(min(k, points.shape[1] - 1), dim=-1, largest=False).indices


class EdgeConvBlock(nn.Module):
    """ParticleNet's EdgeConv block: for every node i and its k neighbours j, an MLP of (x_i, x_j - x_i) (1x1
    convolutions with BN and ReLU), averaged over j, plus a projected shortcut of x_i, then ReLU.

    ``features`` [B, n, C_in] and neighbour indices [B, n, k] -> [B, n, C_out] (zero on padding nodes).
    """

    def __init__(self, c_in: int, channels: tuple[int, ...]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = 2 * c_in
        for c_out in channels:
            layers += [nn.Conv2d(c, c_out, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]
            c = c_out
        self.mlp = nn.Sequential(*layers)
        self.shortcut = nn.Sequential(nn.Conv1d(c_in, c, 1, bias=False), nn.BatchNorm1d(c))

    def forward(self, features: Tensor, neighbours: Tensor, mask: Tensor) -> Tensor:
        b, n, c = features.shape
        k = neighbours.shape[-1]
        flat = neighbours.reshape(b, n * k, 1).expand(-1, -1, c)
        x_j = features.gather(1, flat).reshape(b, n, k, c)
        x_i = features[:, :, None, :].expand(-1, -1, k, -1)
        edges = torch.cat([x_i, x_j - x_i], dim=-1).permute(0, 3, 1, 2)  # [B, 2C, n, k]
        out = self.mlp(edges).mean(dim=-1) + self.shortcut(features.transpose(1, 2))
        return F.relu(out).transpose(1, 2) * mask[..., None]


class EdgeConvNet(nn.Module):
    """ParticleNet's body: EdgeConv blocks on kNN graphs (coordinates first, then each block's output) and the
    average of the last block's features over the real nodes -> [B, C_last]."""

    def __init__(self, n_features: int, config: GNNConfig) -> None:
        super().__init__()
        self.k = config.k
        self.input_norm = nn.BatchNorm1d(n_features)
        blocks, c = [], n_features
        for channels in config.blocks:
            blocks.append(EdgeConvBlock(c, channels))
            c = channels[-1]
        self.blocks = nn.ModuleList(blocks)
        self.out_features = c

    def forward(self, points: Tensor, features: Tensor, mask: Tensor) -> Tensor:
        x = self.input_norm(features.transpose(1, 2)).transpose(1, 2) * mask[..., None]
        coords = points
        for block in self.blocks:
            x = block(x, knn(coords, mask, self.k), mask)
            coords = x
        return x.sum(dim=1) / mask.sum(dim=1, keepdim=True).clamp_min(1)


class ParticleNet(nn.Module):
    """ParticleNet on ``points`` [B, n, 2], ``features`` [B, n, F], ``mask`` [B, n] -> logits [B]."""

    def __init__(self, n_features: int, config: GNNConfig) -> None:
        super().__init__()
        self.body = EdgeConvNet(n_features, config)
        self.head = nn.Sequential(nn.Linear(self.body.out_features, config.dense), nn.ReLU(),
                                  nn.Dropout(config.dropout), nn.Linear(config.dense, 1))

    def forward(self, batch: Mapping[str, Tensor]) -> Tensor:
        return self.head(self.body(batch["points"], batch["features"], batch["mask"])).squeeze(1)


def pixel_cloud(image: Tensor, n_nodes: int, pixel_size: float = ECAL_CRYSTAL) -> tuple[Tensor, Tensor, Tensor]:
    """The ``n_nodes`` brightest non-zero pixels of ``image`` [B, C, H, W] (by the sum over channels) as nodes.

    Returns points [B, n, 2] = (eta, phi) of the pixel centres relative to the image centre (units of
    ``pixel_size``, i.e. radians and units of pseudorapidity), features [B, n, 2 + C] = (eta, phi, channel values)
    and mask [B, n] (False where an image has fewer non-zero pixels; such nodes are zero).
    """
    b, c, h, w = image.shape
    n = min(n_nodes, h * w)
    total = image.sum(dim=1).reshape(b, h * w)
    value, index = total.topk(n, dim=1)
    mask = value > 0
    eta = ((index // w).to(image.dtype) + 0.5 - h / 2) * pixel_size
    phi = ((index % w).to(image.dtype) + 0.5 - w / 2) * pixel_size
    points = torch.stack([eta, phi], dim=-1) * mask[..., None]
    channels = image.reshape(b, c, h * w).gather(2, index[:, None, :].expand(-1, c, -1)).transpose(1, 2)
    return points, torch.cat([points, channels * mask[..., None]], dim=-1), mask


class ImageGNN(nn.Module):
    """EdgeConv network on an image's pixel cloud (:func:`pixel_cloud`) with the (pT, m0) branch -> logits [B]."""

    def __init__(self, config: GNNConfig, channels: int = 3) -> None:
        super().__init__()
        self.n_nodes = config.n_nodes
        self.body = EdgeConvNet(2 + channels, config)
        self.scalars = _scalar_branch(config.scalar_units, config.scalars)
        width = self.body.out_features + (config.scalar_units if config.scalars else 0)
        self.head = nn.Sequential(nn.Linear(width, config.dense), nn.ReLU(), nn.Dropout(config.dropout),
                                  nn.Linear(config.dense, 1))

    def forward(self, batch: Mapping[str, Tensor]) -> Tensor:
        points, features, mask = pixel_cloud(batch["image"], self.n_nodes)
        x = self.body(points / ECAL_CRYSTAL, features, mask)  # kNN in pixel units
        if self.scalars is not None:
            x = torch.cat([x, self.scalars(batch["scalars"])], dim=1)
        return self.head(x).squeeze(1)


def build_model(name: str, config: CNNConfig | ResNetConfig | GNNConfig, n_features: int | None = None,
                image_size: int = 125) -> nn.Module:
    """Model ``name`` with ``config``; ``particlenet`` needs ``n_features`` (per-particle inputs)."""
    if name == "cnn":
        return NotebookCNN(config, image_size)
    if name == "resnet15":
        return ResNet15(config)
    if name == "image_gnn":
        return ImageGNN(config)
    if name == "particlenet":
        if not n_features:
            raise ValueError("particlenet needs n_features, the number of per-particle input features")
        return ParticleNet(n_features, config)
    raise ValueError(f"unknown quark/gluon model {name!r}; models: {', '.join(MODELS)}")


@dataclass
class ClassifierTask:
    """A quark/gluon classifier for :func:`hepgraph.train.loop.fit`: binary cross-entropy with logits (quark = 1),
    Adam with learning rate ``lr``; ``validate`` gives the loss, accuracy and ROC AUC on ``val`` (a list of
    batches, each a dict with ``label`` [B])."""

    model: nn.Module
    device: torch.device
    lr: float
    val: list[dict[str, Tensor]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.model.to(self.device)
        self.models = {"classifier": self.model}
        self.optimizers = {"classifier": torch.optim.Adam(self.model.parameters(), lr=self.lr)}

    def train_step(self, batch: dict[str, Tensor]) -> dict[str, float]:
        self.model.train()
        with autocast(self.device):
            logits = self.model(batch).float()
        loss = F.binary_cross_entropy_with_logits(logits, batch["label"].float())
        opt = self.optimizers["classifier"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return {"loss": loss.item()}

    def validate(self) -> dict[str, float]:
        if not self.val:
            return {}
        logits = predict(self.model, self.val, self.device)
        labels = torch.cat([b["label"] for b in self.val]).float()
        loss = F.binary_cross_entropy_with_logits(logits, labels).item()
        is_quark = labels.numpy() == QUARK
        return {"loss": loss, "accuracy": accuracy(logits.numpy(), is_quark, threshold=0.0),
                "auc": roc_auc(logits.numpy(), is_quark)}


@torch.no_grad()
def predict(model: nn.Module, batches: list[dict[str, Tensor]] | Any, device: torch.device) -> Tensor:
    """Logits [N] (float32, on the CPU) of ``model`` in evaluation mode over ``batches`` (dicts of tensors)."""
    model.eval()
    out = []
    for batch in batches:
        with autocast(device):
            out.append(model(to_device(batch, device)).float().cpu())
    return torch.cat(out)
