"""TrackML events in the original Kaggle CSV layout: read, write, score weights, and the per-event hit arrays.

One event is three files ``{event}-hits.csv``, ``{event}-truth.csv`` and ``{event}-particles.csv`` (each may be
gzipped, ``.csv.gz``), where ``event`` is ``event`` followed by a zero-padded number (``event000000001``):

- hits: ``hit_id, x, y, z`` (mm), ``volume_id, layer_id, module_id``;
- truth: ``hit_id, particle_id`` (0 = noise), true position ``tx, ty, tz`` (mm), true momentum ``tpx, tpy, tpz``
  (GeV) at the hit, ``weight`` (the hit's weight in the TrackML score, summing to 1 over the event);
- particles: ``particle_id, particle_type`` (PDG code), production vertex ``vx, vy, vz`` (mm), momentum
  ``px, py, pz`` (GeV) at production, charge ``q`` (e), ``nhits``.

Other files of an event (``-cells``) and the detector description (``detectors.csv``) are ignored.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from hepgraph.data.kinematics import pt_eta_phi_m
from hepgraph.io import RAW_FIX, UnreadableFileError, atomic_output

COLUMNS: dict[str, dict[str, str]] = {
    "hits": {"hit_id": "int64", "x": "float64", "y": "float64", "z": "float64",
             "volume_id": "int64", "layer_id": "int64", "module_id": "int64"},
    "truth": {"hit_id": "int64", "particle_id": "int64", "tx": "float64", "ty": "float64", "tz": "float64",
              "tpx": "float64", "tpy": "float64", "tpz": "float64", "weight": "float64"},
    "particles": {"particle_id": "int64", "particle_type": "int64", "vx": "float64", "vy": "float64",
                  "vz": "float64", "px": "float64", "py": "float64", "pz": "float64", "q": "int64",
                  "nhits": "int64"},
}
SUFFIXES = (".csv", ".csv.gz")
FLOAT_FORMAT = "%.9g"  # enough digits to round-trip float32 exactly

# TrackML score weights (Amrouche et al. 2019): a hit's weight is the product of an order weight, given by the
# hit's position along its track, and a weight rising with the particle's pT. The order profile below, sampled at
# a track's hits (first hit at 0, last at 8), reproduces the weights of the real TrackML events exactly.
ORDER_PROFILE = np.array([10.0, 8.0, 6.0, 5.0, 3.0, 3.0, 3.0, 5.0, 6.0])
PT_WEIGHT = ((0.5, 3.0), (0.2, 1.0))  # pT (GeV) -> weight, linear in between, constant outside
MIN_WEIGHTED_HITS = 4  # hits of particles with fewer hits (and noise hits) weigh nothing

_EVENT = re.compile(r"^(event\d+)-hits\.csv(\.gz)?$")


def event_name(event_id: int) -> str:
    """File prefix of event ``event_id``: ``event`` and the id zero-padded to nine digits."""
    return f"event{event_id:09d}"


def event_id(event: str) -> int:
    """Inverse of :func:`event_name`: the number in an event prefix such as ``event000000001``."""
    match = re.fullmatch(r"event(\d+)", event)
    if match is None:
        raise ValueError(f"{event!r} is not a TrackML event name (expected 'event' followed by digits)")
    return int(match.group(1))


def list_events(directory: str | Path) -> list[str]:
    """Sorted prefixes (``event000000001``, ...) of the events whose hits file is in ``directory``."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"TrackML directory {directory} does not exist")
    events = sorted({m.group(1) for p in directory.iterdir() if (m := _EVENT.match(p.name))})
    if not events:
        raise FileNotFoundError(f"no TrackML events (event*-hits.csv or .csv.gz) in {directory}")
    return events


def _event_file(directory: Path, event: str, part: str) -> Path:
    for suffix in SUFFIXES:
        path = directory / f"{event}-{part}{suffix}"
        if path.is_file():
            return path
    raise FileNotFoundError(f"TrackML event {event}: neither {directory / f'{event}-{part}.csv'} nor its .csv.gz "
                            f"exists")


def _check_columns(frame: pd.DataFrame, part: str, where: str) -> pd.DataFrame:
    """``frame`` reduced to the TrackML columns of ``part`` in their canonical order and dtypes."""
    missing = [name for name in COLUMNS[part] if name not in frame.columns]
    if missing:
        raise ValueError(f"{where} lacks column(s) {missing}; TrackML {part} files have columns "
                         f"{', '.join(COLUMNS[part])}")
    out = {}
    for name, dtype in COLUMNS[part].items():
        try:
            out[name] = frame[name].astype(dtype)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{where}: column {name!r} cannot be read as {dtype} ({err})") from err
    return pd.DataFrame(out)


def read_event(directory: str | Path, event: str) -> dict[str, pd.DataFrame]:
    """The ``hits``, ``truth`` and ``particles`` tables of ``event`` in ``directory``, with the columns of
    :data:`COLUMNS` in that order (ids int64, quantities float64)."""
    paths = {part: _event_file(Path(directory), event, part) for part in COLUMNS}
    return {part: _check_columns(_read_csv(path), part, f"TrackML file {path}") for part, path in paths.items()}


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except (OSError, EOFError, zlib.error, pd.errors.ParserError) as err:
        raise UnreadableFileError(path, f"cannot be read as CSV ({type(err).__name__}: {err})", RAW_FIX) from err


def write_event(directory: str | Path, event: str, hits: pd.DataFrame, truth: pd.DataFrame,
                particles: pd.DataFrame, *, compress: bool = False) -> list[Path]:
    """Write ``event``'s three CSV files (gzipped if ``compress``) atomically into ``directory``; return their paths.

    Each table must have the columns of :data:`COLUMNS` for its part (extra columns are dropped).
    """
    directory = Path(directory)
    suffix = ".csv.gz" if compress else ".csv"
    paths = []
    for part, frame in (("hits", hits), ("truth", truth), ("particles", particles)):
        frame = _check_columns(frame, part, f"{part} table of event {event}")
        path = directory / f"{event}-{part}{suffix}"
        with atomic_output(path) as tmp:
            frame.to_csv(tmp, index=False, float_format=FLOAT_FORMAT,
                         compression={"method": "gzip", "mtime": 0} if compress else None)
        paths.append(path)
    return paths


def hit_weights(particle_id: np.ndarray, order: np.ndarray, particle_pt: np.ndarray) -> np.ndarray:
    """TrackML score weight [N] of each of N hits, summing to 1 (or all 0 when no hit is weighted).

    ``particle_id`` int [N] (0 = noise), ``order`` [N] any key increasing along each particle's trajectory
    (hit time, or distance from the production vertex), ``particle_pt`` [N] its particle's pT (GeV). Noise hits
    and hits of particles with fewer than ``MIN_WEIGHTED_HITS`` hits get weight 0.
    """
    particle_id = np.asarray(particle_id)
    sort = np.lexsort((np.asarray(order), particle_id))
    _, start, count = np.unique(particle_id[sort], return_index=True, return_counts=True)
    n_hits = np.repeat(count, count)
    rank = np.arange(len(sort)) - np.repeat(start, count)
    position = rank * (len(ORDER_PROFILE) - 1) / np.maximum(n_hits - 1, 1)
    weight = np.empty(len(sort))
    weight[sort] = np.interp(position, np.arange(len(ORDER_PROFILE)), ORDER_PROFILE) * (n_hits >= MIN_WEIGHTED_HITS)
    weight *= np.interp(particle_pt, *PT_WEIGHT) * (particle_id != 0)
    total = weight.sum()
    return weight / total if total > 0 else weight


def event_arrays(hits: pd.DataFrame, truth: pd.DataFrame, particles: pd.DataFrame,
                 pt_min: float = 0.0) -> dict[str, np.ndarray]:
    """One event's hits as the per-event arrays of a ``tracking_events`` table, sorted by ``hit_id``.

    Returns ``hit_id`` int64, ``x, y, z`` float32 (mm), ``volume_id, layer_id, module_id`` int32, ``particle_id``
    int64 (0 = noise), ``particle_pt`` float32 (GeV, 0 for noise), ``particle_eta`` float32 (0 for noise),
    ``hit_order`` int32 (rank of the hit along its particle by the distance of its true position from the
    particle's production vertex, from 0; -1 for noise), ``particle_q`` int32 (e) and ``particle_vx, particle_vy,
    particle_vz`` float32 (production vertex, mm), all [n_hits] (particle quantities 0 for noise). With ``pt_min``
    > 0 only hits of particles with pT > ``pt_min`` are kept (noise is dropped).
    """
    if pt_min < 0:
        raise ValueError(f"pt_min must be >= 0 GeV, got {pt_min}")
    hits = _check_columns(hits, "hits", "hits table")
    truth = _check_columns(truth, "truth", "truth table")
    particles = _check_columns(particles, "particles", "particles table")
    merged = hits.merge(truth[["hit_id", "particle_id", "tx", "ty", "tz"]], on="hit_id", how="inner",
                        validate="one_to_one")
    if len(merged) != len(hits) or len(merged) != len(truth):
        raise ValueError(f"hits ({len(hits)}) and truth ({len(truth)}) tables do not list the same hit_ids "
                         f"({len(merged)} in common)")
    p = particles[["px", "py", "pz"]].to_numpy()
    pt, eta, _, _ = pt_eta_phi_m(np.column_stack([np.linalg.norm(p, axis=1), p]))
    kinematics = pd.DataFrame({"particle_id": particles["particle_id"], "particle_pt": pt, "particle_eta": eta,
                               "particle_q": particles["q"], "particle_vx": particles["vx"],
                               "particle_vy": particles["vy"], "particle_vz": particles["vz"]})
    merged = merged.merge(kinematics, on="particle_id", how="left", validate="many_to_one")
    unknown = merged["particle_pt"].isna() & (merged["particle_id"] != 0)
    if unknown.any():
        raise ValueError(f"truth table refers to particle_id(s) {sorted(set(merged.loc[unknown, 'particle_id']))[:5]} "
                         "that are not in the particles table")
    merged = merged.fillna({name: 0 for name in kinematics.columns[1:]})
    distance = np.linalg.norm(merged[["tx", "ty", "tz"]].to_numpy()
                              - merged[["particle_vx", "particle_vy", "particle_vz"]].to_numpy(), axis=1)
    sort = np.lexsort((distance, merged["particle_id"].to_numpy()))
    pid = merged["particle_id"].to_numpy()[sort]
    start = np.searchsorted(pid, pid)  # first position of each particle in the sorted hits
    rank = np.empty(len(sort), np.int64)
    rank[sort] = np.arange(len(sort)) - start
    merged["hit_order"] = np.where(merged["particle_id"] == 0, -1, rank)
    merged = merged.sort_values("hit_id")
    if pt_min > 0:
        merged = merged[merged["particle_pt"] > pt_min]
    dtypes: Mapping[str, str] = {"hit_id": "int64", "x": "float32", "y": "float32", "z": "float32",
                                 "volume_id": "int32", "layer_id": "int32", "module_id": "int32",
                                 "particle_id": "int64", "particle_pt": "float32", "particle_eta": "float32",
                                 "hit_order": "int32", "particle_q": "int32", "particle_vx": "float32",
                                 "particle_vy": "float32", "particle_vz": "float32"}
    return {name: merged[name].to_numpy(dtype) for name, dtype in dtypes.items()}
