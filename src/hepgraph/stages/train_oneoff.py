"""Train an ensemble of oneoff networks (Kluettermann 2021, ch. 7) on background jets with the shared loop, on the
particles' normalised features (raw inputs) or on the latent space of a trained GAE.

    python -m hepgraph.stages.train_oneoff --train results/graphs/toptag/train.parquet \\
        --val results/graphs/toptag/val.parquet --label 0 --gae results/anomaly/qcd/seed0/gae4/model.pt \\
        --epochs 20 --state-dir results/anomaly/qcd/seed0/oneoff_gae4/training \\
        --checkpoint results/anomaly/qcd/seed0/oneoff_gae4/model.pt \\
        --metrics-csv results/anomaly/qcd/seed0/oneoff_gae4/metrics.csv

Without ``--gae`` the inputs are the ``--n-nodes`` leading particles with ``--normalisation`` (its ``standard``
statistics fixed on the training jets). The best epoch is exported with its configuration and the members' mean
outputs on the training jets (``q``) in its ``meta`` (see :func:`load_oneoff`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
from pathlib import Path

import torch
from torch.utils.data import DataLoader, TensorDataset

from hepgraph.models.anomaly_inputs import InputNormalisation
from hepgraph.models.gae import reconstruct
from hepgraph.models.oneoff import OneoffConfig, OneoffEnsemble, OneoffTask, raw_features
from hepgraph.stages.train_gae import label_arg, load_gae, load_inputs
from hepgraph.train import loop
from hepgraph.train.checkpoint import load_checkpoint

log = logging.getLogger(__name__)


def feature_maker(train_path: str, label: int | None, n_train: int | None, gae: str | None, n_nodes: int,
                  normalisation: str):
    """(n_nodes, f): f maps particle inputs [N, n_nodes, 4] to oneoff inputs, the latent vectors of the GAE at path
    ``gae`` or the raw features normalised as fixed on the first ``n_train`` training jets."""
    if gae:
        model = load_gae(gae)
        return model.config.n_nodes, lambda x: reconstruct(model, x)["latent"]
    norm = InputNormalisation(normalisation).fit(load_inputs(train_path, label, n_nodes, n_train))
    return n_nodes, lambda x: raw_features(x, norm)


def load_oneoff(path: str | Path) -> tuple[OneoffEnsemble, dict]:
    """The trained ensemble exported by this stage (``q`` and input scale included), on the CPU, and its ``meta``
    (``n_nodes`` and ``normalisation`` of raw inputs, ``gae``: None for raw inputs)."""
    checkpoint = load_checkpoint(path)
    settings = checkpoint["meta"]["config"]
    config = OneoffConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in settings.items()})
    model = OneoffEnsemble(config)
    model.load_state_dict(checkpoint["models"]["oneoff"])
    model.q.copy_(torch.tensor(checkpoint["meta"]["q"]))
    return model, checkpoint["meta"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", required=True)
    parser.add_argument("--val", required=True)
    parser.add_argument("--label", type=label_arg, default=None, help="train on jets with this label (none: all)")
    parser.add_argument("--gae", help="train on the latent space of this GAE (model.pt of train_gae)")
    parser.add_argument("--n-nodes", type=int, default=4, help="leading particles of the raw inputs (without --gae)")
    parser.add_argument("--normalisation", default="invariant", help="of the raw inputs (without --gae)")
    parser.add_argument("--config", default="{}", help="JSON object of OneoffConfig settings (not inputs)")
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--n-train", type=int, default=None)
    parser.add_argument("--n-val", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--metrics-csv", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    n_nodes, features = feature_maker(args.train, args.label, args.n_train, args.gae, args.n_nodes,
                                      args.normalisation)
    with torch.no_grad():
        train = features(load_inputs(args.train, args.label, n_nodes, args.n_train))
        val = features(load_inputs(args.val, args.label, n_nodes, args.n_val))
    overrides = {k: tuple(v) if isinstance(v, list) else v for k, v in json.loads(args.config).items()}
    config = OneoffConfig(inputs=train.shape[1], **overrides)
    meta = {"config": dataclasses.asdict(config), "data": loop.fingerprint(args.train, args.val),
            "gae": loop.fingerprint(args.gae) if args.gae else None, "n_nodes": n_nodes,
            "normalisation": None if args.gae else args.normalisation, "label": args.label,
            "n_train": args.n_train, "n_val": args.n_val, "batch_size": args.batch_size, "seed": args.seed,
            "code": loop.code_fingerprint(__spec__.name)}
    state = Path(args.state_dir)
    loop.discard_if_changed(state, meta, args.epochs)
    generator = torch.Generator().manual_seed(args.seed)
    loader = DataLoader(TensorDataset(train), batch_size=args.batch_size, shuffle=True, generator=generator,
                        drop_last=len(train) > args.batch_size)
    log.info("%d training and %d validation jets, %d features; %s", len(train), len(val), train.shape[1], config)
    result = loop.fit(lambda device: OneoffTask(config, device, train, val), loader, epochs=args.epochs,
                      checkpoint_dir=state, metrics_path=state / "metrics.csv", seed=args.seed, device=args.device,
                      best_metric="loss", best_mode="min", meta=meta)
    model = OneoffEnsemble(config)
    model.load_state_dict(load_checkpoint(result.best_checkpoint)["models"]["oneoff"])
    q = model.calibrate(train)
    loop.export(result, args.checkpoint, args.metrics_csv, meta={"q": q.tolist()})
    log.info("best epoch %s (validation loss %.4g); q = %s -> %s", result.best_epoch, result.best_value,
             q.numpy().round(3).tolist(), args.checkpoint)


if __name__ == "__main__":
    main()
