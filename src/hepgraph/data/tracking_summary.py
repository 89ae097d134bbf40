"""Event multiplicities of tracking_events tables: hits, noise, particles and reconstructable particles per event."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from hepgraph.data.tables import iter_batches

COUNTS = ("hits", "noise_hits", "particles", "reconstructable")


def event_multiplicities(particle_id: np.ndarray, particle_pt: np.ndarray, *, pt_min: float,
                         min_hits: int) -> dict[str, int]:
    """Counts of one event from its hits' ``particle_id`` [H] (0 = noise) and ``particle_pt`` [H] (GeV): ``hits``,
    ``noise_hits``, ``particles`` (particles with at least one hit) and ``reconstructable`` (particles with pT >
    ``pt_min`` and at least ``min_hits`` hits)."""
    particle_id = np.asarray(particle_id)
    signal = particle_id != 0
    ids, first, n_hits = np.unique(particle_id[signal], return_index=True, return_counts=True)
    pt = np.asarray(particle_pt)[signal][first]
    return {"hits": len(particle_id), "noise_hits": int((~signal).sum()), "particles": len(ids),
            "reconstructable": int(((pt > pt_min) & (n_hits >= min_hits)).sum())}


def table_multiplicities(path: str | Path, *, pt_min: float, min_hits: int) -> pd.DataFrame:
    """One row per event of a tracking_events table: ``event_id`` and the :func:`event_multiplicities`."""
    rows = []
    for batch in iter_batches(path, "tracking_events", ["event_id", "particle_id", "particle_pt"]):
        for event, pid, pt in zip(batch["event_id"], batch["particle_id"], batch["particle_pt"]):
            rows.append({"event_id": int(event), **event_multiplicities(pid, pt, pt_min=pt_min, min_hits=min_hits)})
    return pd.DataFrame(rows, columns=["event_id", *COUNTS])


def summary_markdown(title: str, parts: Mapping[str, pd.DataFrame], *, pt_min: float, min_hits: int) -> str:
    """A markdown page: per part (e.g. train/val/test), the number of events and the mean, min and max per event
    of each count, and the noise fraction (noise hits / hits over the part)."""
    lines = [f"# {title}", "",
             f"Per event: hits, noise hits (particle id 0), particles with hits, and reconstructable particles "
             f"(pT > {pt_min:g} GeV and >= {min_hits} hits). Mean [min-max] over the events of each part.", "",
             "| part | events | hits | noise hits | particles | reconstructable | noise fraction |",
             "|---|---|---|---|---|---|---|"]
    for name, frame in parts.items():
        cells = [f"{frame[c].mean():.1f} [{frame[c].min()}-{frame[c].max()}]" if len(frame) else "-" for c in COUNTS]
        hits = frame["hits"].sum()
        fraction = f"{frame['noise_hits'].sum() / hits:.3f}" if hits else "-"
        lines.append(f"| {name} | {len(frame)} | {' | '.join(cells)} | {fraction} |")
    return "\n".join(lines) + "\n"
