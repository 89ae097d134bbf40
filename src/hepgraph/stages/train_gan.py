"""Train one graph GAN (Kansal et al. 2020) on a jets or image-graphs table with the shared training loop.

    python -m hepgraph.stages.train_gan --kind jets --train results/graphs/jetnet_g/train.parquet \\
        --val results/graphs/jetnet_g/val.parquet --model jets --epochs 10 --state-dir results/gan/jetnet_g/training \\
        --checkpoint results/gan/jetnet_g/model.pt --metrics-csv results/gan/jetnet_g/metrics.csv

The resumable state (last.pt, best.pt, metrics.csv) lives in ``--state-dir``: a killed job rerun with the same
settings, data and code resumes there (more epochs continue it); other settings, other data (the tables' content),
edited code or fewer epochs start over. Node features are mapped linearly
from their range in the training set onto the generator's tanh range [-1, 1] (JetNet's generators also shift
pt_rel), so that a generated pt_rel or intensity cannot fall below the smallest real one; the ``shift`` and
``scale`` that undo the map are stored in the checkpoint. The best epoch is chosen by W1M (jets, as MPGAN does)
or by the node-feature W1 (images).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from hepgraph.data.tables import read_nodes
from hepgraph.metrics.jets import w1m
from hepgraph.models import graph_gan
from hepgraph.models.graph_gan import GraphGANTask, graph_gan_config
from hepgraph.train import loop

log = logging.getLogger(__name__)


def feature_range(nodes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-feature (shift, scale) [F] of nodes [N, n, F]: (x - shift) / scale maps their range onto [-1, 1]."""
    low, high = nodes.amin(dim=(0, 1)), nodes.amax(dim=(0, 1))
    return (high + low) / 2, ((high - low) / 2).clamp_min(1e-6)


def jet_w1m(real: np.ndarray, real_mask: np.ndarray, fake: np.ndarray, fake_mask: np.ndarray,
            shift: np.ndarray, scale: np.ndarray) -> dict[str, float]:
    """W1 of jet m/pT between validation and generated jets, in physical units (the best-epoch metric)."""
    score = w1m(real * scale + shift, real_mask, fake * scale + shift, fake_mask, np.random.default_rng(0),
                num_eval_samples=len(real), num_batches=1)
    return {"w1m": score.value}


def settings_fingerprint(config: graph_gan.GraphGANConfig, args: argparse.Namespace) -> dict:
    """What defines a training run: model config, the content of the training and validation tables, digit,
    validation size, batch size, seed and the code (this stage and every hepgraph module it imports)."""
    return {"config": dataclasses.asdict(config), "kind": args.kind, "data": loop.fingerprint(args.train, args.val),
            "digit": args.digit, "n_val": args.n_val, "batch_size": args.batch_size, "seed": args.seed,
            "grad_clip_norm": args.grad_clip_norm, "code": loop.code_fingerprint(__spec__.name)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kind", required=True, choices=("jets", "image_graphs"))
    parser.add_argument("--train", required=True)
    parser.add_argument("--val", required=True)
    parser.add_argument("--digit", type=int, help="train on graphs of this label only (one GAN per MNIST digit)")
    parser.add_argument("--model", required=True, choices=sorted(graph_gan.CONFIGS), help="paper configuration")
    parser.add_argument("--set", default="{}",
                        help="JSON object of GraphGANConfig overrides, e.g. '{\"gen_mask\": true}'")
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--n-val", type=int, default=2000, help="validation graphs compared each epoch")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoint-every", type=int, default=1)
    parser.add_argument("--grad-clip-norm", type=lambda v: None if v == "None" else float(v), default=None,
                        help="clip each optimiser's gradients to this L2 norm (None: no clipping)")
    parser.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda, cuda:N")
    parser.add_argument("--state-dir", required=True, help="resumable training state")
    parser.add_argument("--checkpoint", required=True, help="where to put the best epoch's models")
    parser.add_argument("--metrics-csv", required=True, help="where to put the per-epoch metrics")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    train_nodes, train_mask = map(torch.from_numpy, read_nodes(args.train, args.kind, args.digit))
    val_nodes, val_mask = (torch.from_numpy(t[:args.n_val]) for t in read_nodes(args.val, args.kind, args.digit))
    shift, scale = feature_range(train_nodes)
    config = graph_gan_config(args.model, num_nodes=train_nodes.shape[1], node_features=train_nodes.shape[2],
                              **json.loads(args.set))
    meta = settings_fingerprint(config, args)
    state = Path(args.state_dir)
    loop.discard_if_changed(state, meta, args.epochs)

    units = {"shift": shift.numpy(), "scale": scale.numpy()}
    metrics = (lambda *arrays: jet_w1m(*arrays, **units)) if args.kind == "jets" else None
    generator = torch.Generator().manual_seed(args.seed)
    loader = DataLoader(TensorDataset((train_nodes - shift) / scale, train_mask), batch_size=args.batch_size,
                        shuffle=True, drop_last=len(train_nodes) > args.batch_size, generator=generator)
    log.info("%d training graphs of %d nodes, %d validation graphs; model %s %s", len(train_nodes),
             config.num_nodes, len(val_nodes), args.model, args.set)
    result = loop.fit(lambda device: GraphGANTask(config, device, (val_nodes - shift) / scale, val_mask,
                                                  metrics=metrics),
                      loader, epochs=args.epochs, checkpoint_dir=state, metrics_path=state / "metrics.csv",
                      seed=args.seed, device=args.device, checkpoint_every=args.checkpoint_every,
                      grad_clip_norm=args.grad_clip_norm,
                      best_metric="w1m" if args.kind == "jets" else "w1_nodes", best_mode="min", meta=meta)
    best = loop.export(result, args.checkpoint, args.metrics_csv,
                       meta={k: v.tolist() for k, v in units.items()})
    log.info("best epoch %s (%s = %.4g) -> %s", result.best_epoch, best["best"]["metric"], result.best_value,
             args.checkpoint)


if __name__ == "__main__":
    main()
