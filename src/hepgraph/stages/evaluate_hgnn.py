"""Build and score the track candidates of one model (or Truth CC) on constructed graphs, as built and with a
fraction of their edges removed at random.

    python -m hepgraph.stages.evaluate_hgnn --kind bc_hgnn --model results/hgnn/pt1/bc_hgnn/model.pt \\
        --events results/hgnn/pt1/graphs/test.pt --output-json results/hgnn/pt1/bc_hgnn/test.json \\
        --output-tracks results/hgnn/pt1/bc_hgnn/test_tracks.npz

``truth_cc`` needs no model: the graph pruned to its edges between hits of one particle, then connected components.
The JSON holds efficiency, purity, the TrackML score (hit weights from the hits' order along their track), counts
and the seconds per event of inference + track building (after one untimed warm-up event); the .npz holds, per
particle of the built graphs, ``pt``, ``eta``, ``n_hits``, ``reconstructable``, ``matched``, and the first event's
hits ``pos`` [N, 3] (mm), ``pid``, candidate ``labels`` and ``missed`` (hits of unmatched reconstructable particles)
for the track displays.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import time
from pathlib import Path

import numpy as np
import torch

from hepgraph.data.hit_graphs import load_graphs
from hepgraph.data.trackml import hit_weights
from hepgraph.device import pick_device
from hepgraph.evaluation.tracking import (Cuts, drop_edges, efficiency_purity, match_particles, tracking_counts,
                                          trackml_score)
from hepgraph.io import atomic_output
from hepgraph.models.hgnn import CUT_MODELS, MODELS, HGNNConfig, TrackingGNN, component_labels
from hepgraph.models.metric_learning import edge_truth
from hepgraph.stages.train_hgnn import cuts_arguments
from hepgraph.train.checkpoint import load_checkpoint, load_states

log = logging.getLogger(__name__)


def load_model(path: str, device: torch.device) -> TrackingGNN:
    ckpt = load_checkpoint(path, device)
    model = TrackingGNN(ckpt["meta"]["kind"], HGNNConfig(**ckpt["meta"]["config"])).to(device)
    load_states(path, ckpt["models"], {model.kind: model})
    return model.eval()


def score(events, labels, cuts: Cuts, seconds: float) -> tuple[dict, list[dict]]:
    matches = [match_particles(e.pid.numpy(), e.pt.numpy(), lab, cuts) for e, lab in zip(events, labels)]
    counts = tracking_counts(matches)
    efficiency, purity = efficiency_purity(counts)
    trackml = [trackml_score(e.pid.numpy(), lab, hit_weights(e.pid.numpy(), e.order.numpy(), e.pt.numpy()))
               for e, lab in zip(events, labels)]
    return {"efficiency": efficiency, "purity": purity, "trackml_score": float(np.mean(trackml)),
            "seconds_per_event": seconds / len(events), **counts}, matches


def missed_hits(pid: np.ndarray, match: dict) -> np.ndarray:
    """bool [N]: hits of reconstructable particles that no candidate matched."""
    index = np.searchsorted(match["particle_id"], pid).clip(0, len(match["particle_id"]) - 1)
    missed = match["reconstructable"] & ~match["matched"]
    return (pid != 0) & missed[index] & (match["particle_id"][index] == pid)


def training_seconds(metrics_csv: str | None) -> float | None:
    if not metrics_csv:
        return None
    with open(metrics_csv, newline="") as f:
        return float(sum(float(row["time_s"]) for row in csv.DictReader(f)))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kind", required=True, choices=(*MODELS, "truth_cc"))
    parser.add_argument("--model", help="model.pt of stages.train_hgnn (not for truth_cc)")
    parser.add_argument("--training-metrics", help="metrics.csv of the training run (for the training time)")
    parser.add_argument("--events", required=True, help="graph file of stages.build_graphs_hgnn")
    parser.add_argument("--drop-fraction", type=float, default=0.2, help="fraction of edges removed at random")
    parser.add_argument("--seed", type=int, default=0, help="seed of the edge removal")
    parser.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda, cuda:N")
    cuts_arguments(parser)
    parser.add_argument("--output-json", required=True)
    parser.add_argument("--output-tracks", required=True, help=".npz of per-particle results and one event display")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if (args.kind == "truth_cc") != (args.model is None):
        parser.error("--model is required for a trained model and not allowed for truth_cc")

    cuts = Cuts(args.pt_min, args.min_hits, args.min_candidate_hits)
    device = pick_device(args.device)
    events, meta = load_graphs(args.events)
    model = None if args.model is None else load_model(args.model, device)

    def tracks(event, edge_index):
        if model is None:
            return component_labels(event.num_nodes, edge_index[:, edge_truth(edge_index, event.pid)], 2)
        return model.tracks(event.x.to(device), edge_index.to(device))

    tracks(events[0], events[0].edge_index)  # warm-up, untimed
    generator = torch.Generator().manual_seed(args.seed)
    results, matches = {}, None
    for name, fraction in (("full", 0.0), ("dropped", args.drop_fraction)):
        graphs = [drop_edges(e.edge_index, fraction, generator) for e in events]
        start = time.perf_counter()
        labels = [tracks(e, g) for e, g in zip(events, graphs)]
        seconds = time.perf_counter() - start
        results[name], event_matches = score(events, labels, cuts, seconds)
        results[name]["drop_fraction"] = fraction
        if matches is None:
            matches, display = event_matches, labels[0]
        log.info("%s, %s edges: efficiency %.4f, purity %.4f, TrackML score %.4f, %.4f s/event", args.kind, name,
                 results[name]["efficiency"], results[name]["purity"], results[name]["trackml_score"],
                 results[name]["seconds_per_event"])
    n_reco = [m["reconstructable"].sum() for m in matches]
    summary = {"model": args.kind, "events": str(Path(args.events)), "source": meta.get("events"),
               "n_events": len(events), "n_hits_mean": float(np.mean([e.num_nodes for e in events])),
               "n_reconstructable_mean": float(np.mean(n_reco)), "cuts": vars(cuts), "device": str(device),
               "torch_threads": torch.get_num_threads(), "training_seconds": training_seconds(args.training_metrics),
               "score_cut": float(model.cut) if args.kind in CUT_MODELS else None, **results}
    firsts = [np.unique(e.pid.numpy(), return_index=True)[1][np.unique(e.pid.numpy()) != 0] for e in events]
    particles = {"pt": np.concatenate([e.pt.numpy()[f] for e, f in zip(events, firsts)]),
                 "eta": np.concatenate([e.eta.numpy()[f] for e, f in zip(events, firsts)]),
                 "n_hits": np.concatenate([m["n_hits"] for m in matches]),
                 "reconstructable": np.concatenate([m["reconstructable"] for m in matches]),
                 "matched": np.concatenate([m["matched"] for m in matches])}
    with atomic_output(args.output_tracks) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, **particles, pos=events[0].pos.numpy(), pid=events[0].pid.numpy(), labels=display,
                            missed=missed_hits(events[0].pid.numpy(), matches[0]))
    with atomic_output(args.output_json) as tmp:
        tmp.write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
