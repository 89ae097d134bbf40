"""Build the tracking graphs of a table's events with a trained metric-learning embedding; measure their quality.

    python -m hepgraph.stages.build_graphs_hgnn --embedding results/hgnn/pt1/embedding/model.pt \\
        --events results/graphs/trackml_pt1/test.parquet --output results/hgnn/pt1/graphs/test.pt \\
        --quality results/hgnn/pt1/graphs/test.json

The quality file holds the edge efficiency (true edges, consecutive hits of a particle, found), edge purity
(edges joining hits of one particle), edges per hit and the seconds per event of embedding + neighbour search.
"""

from __future__ import annotations

import argparse
import json
import logging
import time

import torch

from hepgraph.data.hit_graphs import read_events, save_graphs
from hepgraph.device import pick_device
from hepgraph.io import atomic_output
from hepgraph.models.metric_learning import EmbeddingConfig, HitEmbedding, edge_quality, radius_graph
from hepgraph.train.checkpoint import load_checkpoint, load_states

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--embedding", required=True, help="model.pt of stages.train_embedding_hgnn")
    parser.add_argument("--events", required=True, help="tracking_events table")
    parser.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda, cuda:N")
    parser.add_argument("--output", required=True, help="graph file to write")
    parser.add_argument("--quality", required=True, help="JSON file of the graphs' edge efficiency and purity")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    device = pick_device(args.device)
    ckpt = load_checkpoint(args.embedding, device)
    config = EmbeddingConfig(**ckpt["meta"]["config"])
    model = HitEmbedding(config).to(device)
    load_states(args.embedding, ckpt["models"], {"embedding": model})
    model.eval()
    events = read_events(args.events)
    totals: dict[str, int] = {}
    seconds = 0.0
    for event in events:
        start = time.perf_counter()
        with torch.no_grad():
            event.edge_index = radius_graph(model(event.x.to(device)), config.radius, config.k_max).cpu()
        seconds += time.perf_counter() - start
        for k, v in edge_quality(event.edge_index, event.pid, event.true_index).items():
            totals[k] = totals.get(k, 0) + v
    quality = {"events": len(events), **totals,
               "edge_efficiency": totals["true_found"] / max(totals["true_edges"], 1),
               "edge_purity": totals["same_particle"] / max(totals["edges"], 1),
               "edges_per_hit": totals["edges"] / sum(e.num_nodes for e in events),
               "seconds_per_event": seconds / len(events), "device": str(device)}
    save_graphs(args.output, events, {"events": args.events, "embedding": args.embedding, "radius": config.radius,
                                      "k_max": config.k_max})
    with atomic_output(args.quality) as tmp:
        tmp.write_text(json.dumps(quality, indent=1))
    log.info("%d events: edge efficiency %.4f, purity %.4f, %.1f edges per hit, %.3f s per event", len(events),
             quality["edge_efficiency"], quality["edge_purity"], quality["edges_per_hit"], quality["seconds_per_event"])


if __name__ == "__main__":
    main()
