"""Scoring track candidates as Liu et al. 2023 do, plus the official TrackML score.

Track candidates are one label per hit (-1: in no candidate); candidates with fewer than ``min_candidate_hits``
hits are discarded. A candidate and a particle *match* when the candidate holds more than half of the particle's
hits and the particle more than half of the candidate's hits. A particle is *reconstructable* when its pT exceeds
``pt_min`` and it left at least ``min_hits`` hits. Then

    efficiency = matched reconstructable particles / reconstructable particles,
    purity     = matched reconstructable particles / (candidates - matched non-reconstructable particles).

Noise hits (particle id 0) count in a candidate's size but are no particle.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

MODEL_NAMES = {"emb_hgnn": "Embedding HGNN", "emb_in": "Embedding IN", "bc_hgnn": "Bipartite HGNN",
               "ec": "Edge Classifier IN", "truth_cc": "Truth CC"}
# Liu et al. 2023, tables "TrackML1GeV", "Inefficient Graph" (20 % of edges removed) and "Full TrackML":
# (efficiency %, purity %, time s/event; None where not given)
PUBLISHED = {
    ("pt1", False): {"emb_hgnn": (97.32, 95.78, 0.5280), "emb_in": (98.16, 90.15, 0.3514),
                     "bc_hgnn": (98.86, 98.76, 0.2625), "ec": (98.54, 93.79, 0.2108), "truth_cc": (99.91, 95.28, None)},
    ("pt1", True): {"emb_hgnn": (97.33, 94.08, None), "emb_in": (92.78, 92.19, None), "bc_hgnn": (98.83, 98.53, None),
                    "ec": (91.93, 74.52, None), "truth_cc": (97.19, 78.66, None)},
    ("all", False): {"emb_hgnn": (94.70, 32.74, 8.1718), "emb_in": (93.80, 32.92, 7.9430),
                     "bc_hgnn": (97.80, 35.31, 1.0262), "ec": (96.36, 31.57, 0.4188), "truth_cc": (97.75, 28.27, None)},
}


@dataclass(frozen=True)
class Cuts:
    """The paper's selections: reconstructable particles (pT > ``pt_min`` GeV, >= ``min_hits`` hits) and track
    candidates (>= ``min_candidate_hits`` hits)."""

    pt_min: float = 1.0
    min_hits: int = 5
    min_candidate_hits: int = 3


def candidates(labels: np.ndarray, min_hits: int) -> np.ndarray:
    """``labels`` with the candidates of fewer than ``min_hits`` hits set to -1."""
    labels = np.asarray(labels, np.int64).copy()
    ids, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    labels[(counts[inverse] < min_hits) | (ids[inverse] < 0)] = -1
    return labels


def match_particles(pid: np.ndarray, pt: np.ndarray, labels: np.ndarray, cuts: Cuts) -> dict[str, np.ndarray | int]:
    """Match one event's candidates to its particles.

    ``pid`` [N] particle of each hit (0 = noise), ``pt`` [N] its pT (GeV), ``labels`` [N] candidate of each hit.
    Returns per particle (sorted ids, noise excluded) ``particle_id``, ``n_hits``, ``reconstructable`` and
    ``matched`` [P], and the number of ``candidates``.
    """
    pid, labels = np.asarray(pid, np.int64), candidates(labels, cuts.min_candidate_hits)
    particles, first, n_hits = np.unique(pid, return_index=True, return_counts=True)
    real = particles != 0
    particles, first, n_hits = particles[real], first[real], n_hits[real]
    reconstructable = (np.asarray(pt)[first] > cuts.pt_min) & (n_hits >= cuts.min_hits)
    in_track = labels >= 0
    tracks, track_size = np.unique(labels[in_track], return_counts=True)
    pairs, shared = np.unique(np.stack([labels[in_track], pid[in_track]]), axis=1, return_counts=True)
    size_t = track_size[np.searchsorted(tracks, pairs[0])]
    is_particle = pairs[1] != 0
    p_index = np.searchsorted(particles, pairs[1][is_particle])
    good = (shared[is_particle] > size_t[is_particle] / 2) & (shared[is_particle] > n_hits[p_index] / 2)
    matched = np.zeros(len(particles), bool)
    matched[p_index[good]] = True
    return {"particle_id": particles, "n_hits": n_hits, "reconstructable": reconstructable, "matched": matched,
            "candidates": len(tracks)}


def tracking_counts(matches: Sequence[Mapping[str, np.ndarray | int]]) -> dict[str, int]:
    """Counts summed over events' :func:`match_particles` results: ``reconstructable``, ``matched_reconstructable``,
    ``matched_nonreconstructable``, ``candidates``."""
    def total(f):
        return int(sum(f(m) for m in matches))
    return {"reconstructable": total(lambda m: m["reconstructable"].sum()),
            "matched_reconstructable": total(lambda m: (m["matched"] & m["reconstructable"]).sum()),
            "matched_nonreconstructable": total(lambda m: (m["matched"] & ~m["reconstructable"]).sum()),
            "candidates": total(lambda m: m["candidates"])}


def efficiency_purity(counts: Mapping[str, int]) -> tuple[float, float]:
    """(efficiency, purity) from :func:`tracking_counts` (nan where a denominator is 0)."""
    denominator = counts["candidates"] - counts["matched_nonreconstructable"]
    efficiency = counts["matched_reconstructable"] / counts["reconstructable"] if counts["reconstructable"] else np.nan
    purity = counts["matched_reconstructable"] / denominator if denominator > 0 else np.nan
    return float(efficiency), float(purity)


def event_scores(pids: Sequence[np.ndarray], pts: Sequence[np.ndarray], labels: Sequence[np.ndarray],
                 cuts: Cuts) -> dict[str, float]:
    """Efficiency, purity and their harmonic mean (``score``, the best-epoch metric: a handful of pure candidates
    does not win it) over events given as per-hit particle ids, pT and labels; 0 where undefined (no reconstructable
    particle, no candidate), so that an epoch without tracks ranks last."""
    counts = tracking_counts([match_particles(p, t, l, cuts) for p, t, l in zip(pids, pts, labels)])
    efficiency, purity = np.nan_to_num(efficiency_purity(counts))
    score = 2 * efficiency * purity / (efficiency + purity) if efficiency + purity > 0 else 0.0
    return {"efficiency": float(efficiency), "purity": float(purity), "score": float(score)}


def trackml_score(pid: np.ndarray, labels: np.ndarray, weight: np.ndarray) -> float:
    """The official TrackML score of one event (Amrouche et al. 2019): every hit is in one track (label -1: a track
    of its own); a track's majority particle (noise, id 0, counting as one) is good if it holds more than half of
    the track's hits and the track more than half of its hits; the score is the summed weight [N] of the good
    tracks' hits of their majority particle."""
    pid, labels, weight = np.asarray(pid, np.int64), np.asarray(labels, np.int64).copy(), np.asarray(weight)
    alone = labels < 0
    labels[alone] = labels.max(initial=-1) + 1 + np.arange(alone.sum())
    _, track, track_size = np.unique(labels, return_inverse=True, return_counts=True)
    _, particle, particle_size = np.unique(pid, return_inverse=True, return_counts=True)
    pairs, pair, shared = np.unique(np.stack([track, particle]), axis=1, return_inverse=True, return_counts=True)
    order = np.lexsort((-shared, pairs[0]))  # per track, the pair with the most shared hits first
    first = order[np.r_[True, pairs[0][order][1:] != pairs[0][order][:-1]]]
    good = np.zeros(pairs.shape[1], bool)
    good[first] = ((shared[first] > track_size[pairs[0][first]] / 2)
                   & (shared[first] > particle_size[pairs[1][first]] / 2))
    return float(weight[good[pair.ravel()]].sum())


def drop_edges(edge_index: Tensor, fraction: float, generator: torch.Generator) -> Tensor:
    """``edge_index`` [2, E] without round(``fraction`` * E) of its edges, chosen at random (order kept)."""
    if not 0 <= fraction <= 1:
        raise ValueError(f"the fraction of edges to remove must be in [0, 1], got {fraction}")
    n = edge_index.shape[1]
    keep = torch.randperm(n, generator=generator)[:n - round(fraction * n)].sort().values
    return edge_index[:, keep.to(edge_index.device)]


def efficiency_by(values: np.ndarray, matched: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Efficiency and its binomial standard error per bin of ``edges`` for particles with ``values`` [P] and
    ``matched`` [P] (nan for empty bins)."""
    total = np.histogram(values, edges)[0]
    passed = np.histogram(values[matched.astype(bool)], edges)[0]
    with np.errstate(invalid="ignore", divide="ignore"):
        eff = passed / total
        err = np.sqrt(eff * (1 - eff) / total)
    return eff, err


def _cell(value: float | None, digits: int = 2, scale: float = 100.0) -> str:
    return "-" if value is None or not np.isfinite(value) else f"{value * scale:.{digits}f}"


def summary_markdown(results: Mapping[str, Mapping[str, Mapping]], graph_quality: Mapping[str, Mapping]) -> str:
    """The paper's table per event set: efficiency, purity (%) and time (s/event) of each model with and without
    20 % of the edges removed, beside the published numbers.

    ``results`` {events: {model: evaluation dict}} (events like "pt1/test" or "pt1/real"), ``graph_quality``
    {events: edge efficiency/purity of the constructed graphs}."""
    lines = ["# Track reconstruction with hierarchical GNNs (Liu et al. 2023)", "",
             "Efficiency and purity in %, the paper's definitions (matched: > 50 % of the particle's hits in the "
             "candidate and > 50 % of the candidate's hits from the particle; reconstructable: pT and hit-count "
             "cuts below; candidates of >= 3 hits). TrackML: the official score. Time: model inference and track "
             "building per event (s), on this machine's device. Cut: the score cut of EC and BC-HGNN, chosen on the "
             "validation events. Published: the paper's TrackML numbers.", ""]
    for events, models in results.items():
        variant = events.split("/")[0]
        any_result = next(iter(models.values()))
        lines += [f"## {events}", "", f"{any_result['n_events']} events, {any_result['n_hits_mean']:.0f} hits and "
                  f"{any_result['n_reconstructable_mean']:.0f} reconstructable particles per event (pT > "
                  f"{any_result['cuts']['pt_min']} GeV, >= {any_result['cuts']['min_hits']} hits).", ""]
        quality = graph_quality.get(events)
        if quality:
            lines += [f"Constructed graph: edge efficiency {_cell(quality['edge_efficiency'])} %, edge purity "
                      f"{_cell(quality['edge_purity'])} %, {quality['edges_per_hit']:.1f} edges per hit, "
                      f"{quality['seconds_per_event']:.3f} s per event.", ""]
        lines += ["| model | efficiency | purity | TrackML score | time (s) | efficiency, 20 % edges removed | "
                  "purity, 20 % removed | published eff. / pur. / time | published, 20 % removed | training (s) |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for model, r in models.items():
            pub = PUBLISHED.get((variant, False), {}).get(model)
            pub_drop = PUBLISHED.get((variant, True), {}).get(model)
            published = "-" if pub is None else " / ".join("-" if v is None else f"{v}" for v in pub)
            published_drop = "-" if pub_drop is None else f"{pub_drop[0]} / {pub_drop[1]}"
            full, drop = r["full"], r["dropped"]
            name = MODEL_NAMES.get(model, model) + (f" (cut {r['score_cut']:g})" if r.get("score_cut") else "")
            lines.append(f"| {name} | {_cell(full['efficiency'])} | {_cell(full['purity'])} "
                         f"| {_cell(full['trackml_score'], 4, 1)} | {_cell(full['seconds_per_event'], 4, 1)} "
                         f"| {_cell(drop['efficiency'])} | {_cell(drop['purity'])} | {published} | {published_drop} "
                         f"| {_cell(r.get('training_seconds'), 1, 1)} |")
        lines.append("")
    return "\n".join(lines)
