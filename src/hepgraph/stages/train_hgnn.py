"""Train one track-finding model of Liu et al. 2023 (ec, emb_in, emb_hgnn or bc_hgnn) on constructed graphs.

    python -m hepgraph.stages.train_hgnn --kind bc_hgnn --train results/hgnn/pt1/graphs/train.pt \\
        --val results/hgnn/pt1/graphs/val.pt --epochs 30 --state-dir results/hgnn/pt1/bc_hgnn/training \\
        --model results/hgnn/pt1/bc_hgnn/model.pt --metrics-csv results/hgnn/pt1/bc_hgnn/metrics.csv

One event per step. After each epoch the validation events' tracks are built and scored; the best epoch has the
highest harmonic mean of tracking efficiency and purity. Killed runs resume from ``--state-dir``; other settings, data or code start
over.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging

import torch
from torch_geometric.loader import DataLoader

from hepgraph.data.hit_graphs import load_graphs
from hepgraph.evaluation.tracking import Cuts, event_scores
from hepgraph.models.hgnn import MODELS, HGNNConfig, TrackingTask
from hepgraph.train import loop

log = logging.getLogger(__name__)


def cuts_arguments(parser: argparse.ArgumentParser) -> None:
    """The paper's selections as options (see hepgraph.evaluation.tracking.Cuts)."""
    parser.add_argument("--pt-min", type=float, default=1.0, help="reconstructable particles: pT above (GeV)")
    parser.add_argument("--min-hits", type=int, default=5, help="reconstructable particles: at least these hits")
    parser.add_argument("--min-candidate-hits", type=int, default=3, help="track candidates: at least these hits")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kind", required=True, choices=MODELS)
    parser.add_argument("--train", required=True, help="graph file of stages.build_graphs_hgnn to train on")
    parser.add_argument("--val", required=True, help="graph file to choose the best epoch on")
    parser.add_argument("--set", default="{}", help="JSON object of HGNNConfig overrides, e.g. '{\"hidden\": 128}'")
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda, cuda:N")
    cuts_arguments(parser)
    parser.add_argument("--state-dir", required=True, help="resumable training state")
    parser.add_argument("--model", required=True, help="where to put the best epoch's model")
    parser.add_argument("--metrics-csv", required=True, help="where to put the per-epoch metrics")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    try:
        config = HGNNConfig(**json.loads(args.set))
    except TypeError as err:
        parser.error(f"--set {args.set}: {err}; keys: {', '.join(f.name for f in dataclasses.fields(HGNNConfig))}")
    cuts = Cuts(args.pt_min, args.min_hits, args.min_candidate_hits)
    (train, _), (val, _) = load_graphs(args.train), load_graphs(args.val)
    meta = {"kind": args.kind, "config": dataclasses.asdict(config), "cuts": dataclasses.asdict(cuts),
            "data": loop.fingerprint(args.train, args.val), "seed": args.seed,
            "code": loop.code_fingerprint(__spec__.name)}
    loop.discard_if_changed(args.state_dir, meta, args.epochs)

    def score(events, labels):
        return event_scores([e.pid.numpy() for e in events], [e.pt.numpy() for e in events], labels, cuts)

    loader = DataLoader(train, batch_size=1, shuffle=True, generator=torch.Generator().manual_seed(args.seed))
    log.info("%s: %d training events (%.0f hits, %.0f edges each), %d validation events", args.kind, len(train),
             sum(e.num_nodes for e in train) / len(train), sum(e.num_edges for e in train) / len(train), len(val))
    result = loop.fit(lambda device: TrackingTask(args.kind, config, device, val, score, len(train)), loader,
                      epochs=args.epochs, checkpoint_dir=args.state_dir, metrics_path=f"{args.state_dir}/metrics.csv",
                      seed=args.seed, device=args.device, best_metric="score", best_mode="max", meta=meta)
    loop.export(result, args.model, args.metrics_csv)
    log.info("best epoch %s (harmonic mean of efficiency and purity %.4f) -> %s", result.best_epoch, result.best_value,
             args.model)


if __name__ == "__main__":
    main()
