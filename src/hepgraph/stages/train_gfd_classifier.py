"""Train the MoNet classifier of MNIST graphs behind the graph Frechet distance (GFD) and report its test accuracy.

Reads ``image_graphs`` tables (sparse MNIST or superpixels) and trains with the shared loop; best = highest
validation accuracy. The resumable state (last.pt, best.pt, metrics.csv) lives in ``--state-dir``: a killed job
rerun with the same settings, data and code resumes there; other settings, data, seed or code, or fewer epochs,
start over. Writes the best epoch's model (``--model``, read by the GFD), the per-epoch metrics and the test
accuracy, overall and per digit, as JSON. Example:

    python -m hepgraph.stages.train_gfd_classifier --train results/graphs/mnist_sparse/train.parquet \\
        --val results/graphs/mnist_sparse/val.parquet --test results/graphs/mnist_sparse/test.parquet \\
        --epochs 15 --batch-size 16 --lr 1e-3 --seed 0 --state-dir results/gan/gfd_classifier/mnist_sparse/training \\
        --model results/gan/gfd_classifier/mnist_sparse/model.pt \\
        --metrics-csv results/gan/gfd_classifier/mnist_sparse/metrics.csv \\
        --output-json results/gan/gfd_classifier/mnist_sparse/accuracy.json
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from pathlib import Path

import torch
from torch.utils.data import DataLoader, TensorDataset

from hepgraph.data.tables import read_dense
from hepgraph.device import pick_device
from hepgraph.io import atomic_output
from hepgraph.models.monet import (MoNetConfig, MoNetTask, accuracy, apply_batched, checkpoint_meta,
                                   load_classifier)
from hepgraph.train import loop

log = logging.getLogger(__name__)


def load_graphs(path: str | Path, n_classes: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """nodes [N, n, 3], mask [N, n], label [N] of an ``image_graphs`` table, labels checked to be in 0..n_classes-1."""
    table = read_dense(path, "image_graphs")
    label = table["label"]
    if len(label) == 0:
        raise ValueError(f"table {path} holds no graphs; rerun the split step that writes it")
    if label.min() < 0 or label.max() >= n_classes:
        raise ValueError(f"table {path}: labels must be digits 0..{n_classes - 1}, found "
                         f"{int(label.min())}..{int(label.max())}")
    return table["nodes"], table["mask"], label


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", required=True, help="image_graphs table to train on")
    parser.add_argument("--val", required=True, help="image_graphs table for the best-epoch choice")
    parser.add_argument("--test", required=True, help="image_graphs table for the reported accuracy")
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--batch-size", type=int, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--k", type=int, default=MoNetConfig.k, help="nearest neighbours per node")
    parser.add_argument("--kernel-size", type=int, default=MoNetConfig.kernel_size,
                        help="Gaussian kernels per GMMConv layer")
    parser.add_argument("--lr", type=float, default=MoNetConfig.lr, help="Adam learning rate")
    parser.add_argument("--weight-decay", type=float, default=MoNetConfig.weight_decay)
    parser.add_argument("--state-dir", required=True, help="resumable training state")
    parser.add_argument("--model", required=True, help="where to put the best epoch's model")
    parser.add_argument("--metrics-csv", required=True, help="per-epoch training metrics (CSV) to write")
    parser.add_argument("--output-json", required=True, help="test accuracy, overall and per digit (JSON)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if args.batch_size < 1:
        parser.error(f"--batch-size must be at least 1, got {args.batch_size}")
    try:
        config = MoNetConfig(k=args.k, kernel_size=args.kernel_size, lr=args.lr, weight_decay=args.weight_decay)
    except ValueError as err:
        parser.error(str(err))
    device = pick_device(args.device)

    train, val, test = (load_graphs(path, config.n_classes) for path in (args.train, args.val, args.test))
    log.info("MoNet classifier on %s: %d train, %d val, %d test graphs of %d nodes; device %s", args.train,
             len(train[0]), len(val[0]), len(test[0]), train[0].shape[1], device)
    loader = DataLoader(TensorDataset(*train), batch_size=args.batch_size, shuffle=True,
                        generator=torch.Generator().manual_seed(args.seed))
    meta = checkpoint_meta(config, batch_size=args.batch_size, seed=args.seed,
                           data=loop.fingerprint(args.train, args.val), code=loop.code_fingerprint(__spec__.name))
    state = Path(args.state_dir)
    loop.discard_if_changed(state, meta, args.epochs)
    result = loop.fit(lambda dev: MoNetTask(config, dev, val=val), loader, epochs=args.epochs,
                      checkpoint_dir=state, metrics_path=state / "metrics.csv", seed=args.seed,
                      device=device, best_metric="accuracy", best_mode="max", meta=meta)
    loop.export(result, args.model, args.metrics_csv)

    model = load_classifier(args.model, device)
    total, per_digit = accuracy(apply_batched(model, model, test[0], test[1]), test[2], config.n_classes)
    report = {"accuracy": total,  # per digit: null for digits absent from the test table
              "per_digit": {str(d): None if math.isnan(a) else a for d, a in enumerate(per_digit)},
              "n_test": len(test[2]), "best_epoch": result.best_epoch, "val_accuracy": result.best_value,
              "model": str(args.model), "test": str(args.test)}
    with atomic_output(args.output_json) as tmp:
        tmp.write_text(json.dumps(report, indent=2) + "\n")
    log.info("test accuracy %.4f (best epoch %s, validation accuracy %.4f) -> %s", total, result.best_epoch,
             result.best_value, args.output_json)


if __name__ == "__main__":
    main()
