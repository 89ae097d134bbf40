"""Tracking events as graph inputs: hit features, truth and the true edges along each particle's track.

Node features are the hit's cylindrical coordinates scaled as in the Exa.TrkX pipeline (Ju et al. 2021; Liu et al.
2023): ``r / 1000 mm``, ``phi / pi``, ``z / 1000 mm``. A particle's hits are ordered along its track by their
distance from the origin, and consecutive hits in that order form its true edges (the truth graph).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch_geometric.data import Data

from hepgraph.data.tables import iter_batches
from hepgraph.io import TABLE_FIX, UnreadableFileError, atomic_output

SCALES = (1000.0, math.pi, 1000.0)  # r (mm), phi (rad), z (mm)


def hit_features(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Scaled (r, phi, z) float32 [N, 3] of N hits at x, y, z (mm)."""
    r, phi = np.hypot(x, y), np.arctan2(y, x)
    return (np.stack([r, phi, z], axis=1) / np.array(SCALES)).astype(np.float32)


def true_edges(particle_id: np.ndarray, order: np.ndarray) -> np.ndarray:
    """int64 [2, M]: pairs of consecutive hits of each particle, sorted by ``order`` (noise, id 0, has none)."""
    sort = np.lexsort((order, particle_id))
    pid = particle_id[sort]
    same = (pid[1:] == pid[:-1]) & (pid[1:] != 0)
    return np.stack([sort[:-1][same], sort[1:][same]]).astype(np.int64)


def event_graph(x: np.ndarray, y: np.ndarray, z: np.ndarray, particle_id: np.ndarray, particle_pt: np.ndarray,
                particle_eta: np.ndarray, event_id: int = 0) -> Data:
    """One event as a graph without edges: ``x`` features [N, 3], ``pos`` [N, 3] (mm), per hit ``pid`` int64,
    ``pt`` (GeV), ``eta``, ``order`` (distance from the origin, mm), and ``true_index`` [2, M] (:func:`true_edges`)."""
    pos = np.stack([x, y, z], axis=1).astype(np.float32)
    order = np.linalg.norm(pos.astype(np.float64), axis=1)
    pid = np.array(particle_id, np.int64)
    return Data(x=torch.from_numpy(hit_features(x, y, z)), pos=torch.from_numpy(pos), pid=torch.from_numpy(pid),
                pt=torch.as_tensor(particle_pt, dtype=torch.float32),
                eta=torch.as_tensor(particle_eta, dtype=torch.float32),
                order=torch.from_numpy(order.astype(np.float32)),
                true_index=torch.from_numpy(true_edges(pid, order)), event_id=int(event_id), num_nodes=len(pid))


def read_events(path: str | Path, max_events: int | None = None) -> list[Data]:
    """The events of a ``tracking_events`` table (the first ``max_events``) as :func:`event_graph` graphs."""
    columns = ["event_id", "x", "y", "z", "particle_id", "particle_pt", "particle_eta"]
    events = []
    for batch in iter_batches(path, "tracking_events", columns):
        for i, number in enumerate(batch["event_id"]):
            if max_events is not None and len(events) >= max_events:
                return events
            events.append(event_graph(*(batch[c][i] for c in columns[1:]), event_id=int(number)))
    if not events:
        raise ValueError(f"{path} holds no events; rerun the step that writes it with more events")
    return events


def save_graphs(path: str | Path, events: list[Data], meta: dict) -> None:
    """Write events (graphs of :func:`event_graph` plus ``edge_index``) and ``meta`` to ``path`` atomically."""
    with atomic_output(path) as tmp:
        torch.save({"meta": meta, "events": [e.to_dict() for e in events]}, tmp)


def load_graphs(path: str | Path) -> tuple[list[Data], dict]:
    """The events and meta written by :func:`save_graphs`."""
    try:
        payload = torch.load(path, weights_only=True)
    except FileNotFoundError:
        raise FileNotFoundError(f"graph file {path} does not exist: run the workflow step that writes it "
                                f"(snakemake --cores N {path})") from None
    except (RuntimeError, EOFError, ValueError) as err:
        raise UnreadableFileError(path, f"not a readable graph file ({err})", TABLE_FIX) from err
    return [Data(**e) for e in payload["events"]], payload["meta"]
