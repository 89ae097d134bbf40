"""Train the metric-learning embedding that builds the tracking graphs (first stage of the HGNN pipeline).

    python -m hepgraph.stages.train_embedding_hgnn --train results/graphs/trackml_pt1/train.parquet \\
        --val results/graphs/trackml_pt1/val.parquet --epochs 20 --state-dir results/hgnn/pt1/embedding/training \\
        --model results/hgnn/pt1/embedding/model.pt --metrics-csv results/hgnn/pt1/embedding/metrics.csv

One event per step; the best epoch has the highest edge efficiency + 0.1 x edge purity of the validation graphs.
Killed runs resume from ``--state-dir``; other settings, data or code start over.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging

import torch
from torch_geometric.loader import DataLoader

from hepgraph.data.hit_graphs import read_events
from hepgraph.models.metric_learning import EmbeddingConfig, EmbeddingTask
from hepgraph.train import loop

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", required=True, help="tracking_events table to train on")
    parser.add_argument("--val", required=True, help="tracking_events table to choose the best epoch on")
    parser.add_argument("--set", default="{}", help="JSON object of EmbeddingConfig overrides, e.g. '{\"dim\": 12}'")
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda, cuda:N")
    parser.add_argument("--state-dir", required=True, help="resumable training state")
    parser.add_argument("--model", required=True, help="where to put the best epoch's embedding")
    parser.add_argument("--metrics-csv", required=True, help="where to put the per-epoch metrics")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    try:
        config = EmbeddingConfig(**json.loads(args.set))
    except TypeError as err:
        parser.error(f"--set {args.set}: {err}; keys: {', '.join(f.name for f in dataclasses.fields(EmbeddingConfig))}")
    train, val = read_events(args.train), read_events(args.val)
    meta = {"config": dataclasses.asdict(config), "data": loop.fingerprint(args.train, args.val), "seed": args.seed,
            "code": loop.code_fingerprint(__spec__.name)}
    loop.discard_if_changed(args.state_dir, meta, args.epochs)
    loader = DataLoader(train, batch_size=1, shuffle=True, generator=torch.Generator().manual_seed(args.seed))
    log.info("%d training events (%.0f hits each), %d validation events", len(train),
             sum(e.num_nodes for e in train) / len(train), len(val))
    result = loop.fit(lambda device: EmbeddingTask(config, device, val), loader, epochs=args.epochs,
                      checkpoint_dir=args.state_dir, metrics_path=f"{args.state_dir}/metrics.csv", seed=args.seed,
                      device=args.device, best_metric="score", best_mode="max", meta=meta)
    loop.export(result, args.model, args.metrics_csv)
    log.info("best epoch %s (score %.4f) -> %s", result.best_epoch, result.best_value, args.model)


if __name__ == "__main__":
    main()
