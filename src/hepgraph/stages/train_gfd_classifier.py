"""Train the MoNet classifier of MNIST graphs (the GFD's feature network) and report its test accuracy.

Reads ``image_graphs`` tables (sparse MNIST or superpixels), trains with the shared loop (checkpoints
``last.pt``/``best.pt`` in ``--checkpoint-dir``, resumable; best = highest validation accuracy), evaluates
``best.pt`` on the test table and writes the accuracy, overall and per digit, as JSON. Example:

    python -m hepgraph.stages.train_classifier --train results/graphs/mnist_sparse/train.parquet \\
        --val results/graphs/mnist_sparse/val.parquet --test results/graphs/mnist_sparse/test.parquet \\
        --epochs 15 --batch-size 16 --lr 1e-3 --seed 0 --checkpoint-dir results/gfd/mnist_sparse \\
        --metrics-csv results/gfd/mnist_sparse/metrics.csv --output-json results/gfd/mnist_sparse/accuracy.json
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from pathlib import Path

import torch
from torch.utils.data import DataLoader, TensorDataset

from hepgraph.data.tables import read_dense, read_meta
from hepgraph.device import pick_device
from hepgraph.io import atomic_output
from hepgraph.models import monet
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
    parser.add_argument("--checkpoint-dir", required=True)
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
    code = loop.code_fingerprint(monet.__file__, loop.__file__, __file__)
    meta = checkpoint_meta(config, batch_size=args.batch_size, train=read_meta(args.train), n_train=len(train[0]),
                           code=code)
    loop.discard_if_changed(args.checkpoint_dir, meta)
    result = loop.fit(lambda dev: MoNetTask(config, dev, val=val), loader, epochs=args.epochs,
                      checkpoint_dir=args.checkpoint_dir, metrics_path=args.metrics_csv, seed=args.seed,
                      device=device, best_metric="accuracy", best_mode="max", meta=meta)

    model = load_classifier(result.best_checkpoint, device)
    total, per_digit = accuracy(apply_batched(model, model, test[0], test[1]), test[2], config.n_classes)
    report = {"accuracy": total,  # per digit: null for digits absent from the test table
              "per_digit": {str(d): None if math.isnan(a) else a for d, a in enumerate(per_digit)},
              "n_test": len(test[2]), "best_epoch": result.best_epoch, "val_accuracy": result.best_value,
              "checkpoint": str(result.best_checkpoint), "test": str(args.test)}
    with atomic_output(args.output_json) as tmp:
        tmp.write_text(json.dumps(report, indent=2) + "\n")
    log.info("test accuracy %.4f (best epoch %s, validation accuracy %.4f) -> %s", total, result.best_epoch,
             result.best_value, args.output_json)


if __name__ == "__main__":
    main()
