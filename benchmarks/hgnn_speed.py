"""Tracking GNN speed (Liu et al. 2023 models): graph construction, inference and training per event.

    .venv/bin/python benchmarks/hgnn_speed.py --embedding results/hgnn/pt1/embedding/model.pt \\
        --models results/hgnn/pt1/models --events results/graphs/trackml_pt1/test.parquet big_event.parquet

For the first event of each tracking_events table: the seconds of graph construction (embedding + FAISS radius
graph), then for each trained model (``<models>/<kind>/model.pt``) the seconds of inference + track building
(best of ``--repeats``) and of one training step (forward, loss, backward, optimiser step; best of ``--repeats``),
which gives the training throughput in events/s. Appends a table to benchmarks/results.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from record import append

from hepgraph.data.hit_graphs import read_events
from hepgraph.device import pick_device
from hepgraph.evaluation.tracking import MODEL_NAMES
from hepgraph.models.hgnn import MODELS, TrackingTask
from hepgraph.models.metric_learning import EmbeddingConfig, HitEmbedding, radius_graph
from hepgraph.stages.evaluate_hgnn import load_model
from hepgraph.train.checkpoint import load_checkpoint, load_states


def best_time(fn, repeats: int, device: torch.device) -> float:
    """Smallest wall time of ``repeats`` calls of ``fn`` (CUDA synchronised), after one untimed warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--embedding", required=True, help="model.pt of stages.train_embedding_hgnn")
    parser.add_argument("--models", required=True, help="directory of <kind>/model.pt of stages.train_hgnn")
    parser.add_argument("--events", nargs="+", required=True, help="tracking_events tables (first event of each)")
    parser.add_argument("--kinds", nargs="+", choices=MODELS, default=MODELS, help="models to time")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--no-record", action="store_true", help="print the table without appending it")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = pick_device(args.device)

    ckpt = load_checkpoint(args.embedding, device)
    config = EmbeddingConfig(**ckpt["meta"]["config"])
    embedding = HitEmbedding(config).to(device).eval()
    load_states(args.embedding, ckpt["models"], {"embedding": embedding})
    models = {kind: load_model(str(Path(args.models) / kind / "model.pt"), device) for kind in args.kinds
              if (Path(args.models) / kind / "model.pt").is_file()}

    rows = ["| event | hits | edges | graph construction (s) | model | inference + tracks (s/event) | "
            "training step (s) | training (events/s) |", "|---|---|---|---|---|---|---|---|"]
    for path in args.events:
        event = read_events(path, max_events=1)[0].to(device)
        with torch.no_grad():
            build = best_time(lambda: radius_graph(embedding(event.x), config.radius, config.k_max), args.repeats,
                              device)
            event.edge_index = radius_graph(embedding(event.x), config.radius, config.k_max)
        for kind, model in models.items():
            infer = best_time(lambda: model.tracks(event.x, event.edge_index), args.repeats, device)
            task = TrackingTask(kind, model.config, device, [], lambda e, labels: {}, 1)
            task.model.load_state_dict(model.state_dict())
            step = best_time(lambda: task.train_step(event), args.repeats, device)
            rows.append(f"| {Path(path).parent.name}/{Path(path).name} | {event.num_nodes} | {event.num_edges} | "
                        f"{build:.3f} | {MODEL_NAMES[kind]} | {infer:.3f} | {step:.3f} | {1 / step:.2f} |")
            print(rows[-1], flush=True)
    table = "\n".join(rows) + (f"\n\nCommand: `{' '.join(sys.argv)}`; device {device}; trained models of "
                               f"{args.models}; best of {args.repeats} after a warm-up.")
    print(table)
    if not args.no_record:
        append("tracking GNN speed", table)


if __name__ == "__main__":
    main()
