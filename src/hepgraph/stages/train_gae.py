"""Train one graph autoencoder (Kluettermann 2021) on the background jets of a jets table with the shared loop.

    python -m hepgraph.stages.train_gae --train results/graphs/toptag/train.parquet \\
        --val results/graphs/toptag/val.parquet --label 0 --config '{"n_nodes": 4, "compression": [4]}' \\
        --epochs 10 --state-dir results/anomaly/qcd/seed0/gae4/training \\
        --checkpoint results/anomaly/qcd/seed0/gae4/model.pt --metrics-csv results/anomaly/qcd/seed0/gae4/metrics.csv

``--label`` keeps only the jets with that label (QCD 0 or top 1 of the top-tagging table). The best epoch (lowest
validation loss) is exported, with the model configuration in its ``meta`` (see :func:`load_gae`). A killed job
resumes from its last checkpoint; other settings, data or code start over.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from hepgraph.models.anomaly_inputs import particle_inputs, read_jets
from hepgraph.models.gae import GAEConfig, GAETask, GraphAutoencoder
from hepgraph.train import loop
from hepgraph.train.checkpoint import load_checkpoint

log = logging.getLogger(__name__)


def label_arg(value: str) -> int | None:
    """A jets table label, or None ("none": every jet)."""
    return None if value.lower() == "none" else int(value)


def load_inputs(path: str, label: int | None, n_nodes: int, limit: int | None) -> torch.Tensor:
    """(flag, eta, phi, lpt) [N, n_nodes, 4] of the first ``limit`` jets (with ``label``) of a jets table."""
    jets = read_jets(path, label, limit)
    return particle_inputs(torch.from_numpy(jets["nodes"]), torch.from_numpy(jets["mask"]), n_nodes)


def gae_config(overrides: dict) -> GAEConfig:
    """A GAEConfig from JSON-like overrides (lists become tuples); unknown keys are an error naming them."""
    known = {f.name for f in dataclasses.fields(GAEConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"unknown GAE setting(s) {unknown}; known: {sorted(known)}")
    return GAEConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()})


def load_gae(path: str | Path) -> GraphAutoencoder:
    """The trained GAE exported by this stage, in eval mode on the CPU."""
    checkpoint = load_checkpoint(path)
    model = GraphAutoencoder(gae_config(checkpoint["meta"]["config"]))
    model.load_state_dict(checkpoint["models"]["gae"])
    return model.eval()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", required=True)
    parser.add_argument("--val", required=True)
    parser.add_argument("--label", type=label_arg, default=None, help="train on jets with this label (none: all)")
    parser.add_argument("--config", default="{}", help="JSON object of GAEConfig settings")
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--n-train", type=int, default=None, help="training jets (first ones; default all)")
    parser.add_argument("--n-val", type=int, default=None, help="validation jets (first ones; default all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--grad-clip-norm", type=lambda v: None if v == "None" else float(v), default=1.0)
    parser.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda, cuda:N")
    parser.add_argument("--state-dir", required=True, help="resumable training state")
    parser.add_argument("--checkpoint", required=True, help="where to put the best epoch's model")
    parser.add_argument("--metrics-csv", required=True, help="where to put the per-epoch metrics")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    config = gae_config(json.loads(args.config))
    train = load_inputs(args.train, args.label, config.n_nodes, args.n_train)
    val = load_inputs(args.val, args.label, config.n_nodes, args.n_val)
    meta = {"config": dataclasses.asdict(config), "data": loop.fingerprint(args.train, args.val),
            "label": args.label, "n_train": args.n_train, "n_val": args.n_val, "batch_size": args.batch_size,
            "seed": args.seed, "grad_clip_norm": args.grad_clip_norm, "code": loop.code_fingerprint(__spec__.name)}
    state = Path(args.state_dir)
    loop.discard_if_changed(state, meta, args.epochs)
    generator = torch.Generator().manual_seed(args.seed)
    loader = DataLoader(train, batch_size=args.batch_size, shuffle=True, generator=generator,
                        drop_last=len(train) > args.batch_size)
    log.info("%d training and %d validation jets, %d particles; %s", len(train), len(val), config.n_nodes, config)
    result = loop.fit(lambda device: GAETask(config, device, train, val), loader, epochs=args.epochs,
                      checkpoint_dir=state, metrics_path=state / "metrics.csv", seed=args.seed, device=args.device,
                      grad_clip_norm=args.grad_clip_norm, best_metric="loss", best_mode="min", meta=meta)
    loop.export(result, args.checkpoint, args.metrics_csv)
    log.info("best epoch %s (validation loss %.4g) -> %s", result.best_epoch, result.best_value, args.checkpoint)


if __name__ == "__main__":
    main()
