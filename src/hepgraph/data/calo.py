"""Calorimeter jet images in the layout of the CMS End-to-End (E2E) / ML4SCI quark-gluon dataset.

Images are [3, 125, 125] around the jet axis: channel 0 is the pT of charged-particle tracks, channel 1 the
ECAL energy, channel 2 the HCAL energy (GeV); axis 1 is eta, axis 2 is phi, both increasing with the index,
as in the CMS crops ``img[:, ieta, iphi]``. One pixel is one CMS ECAL barrel crystal, 0.0174 x 0.0174 in
(eta, phi) (360 crystals in phi: 2 pi / 360 = 0.01745), so 125 pixels span +-1.09 around the axis; one HCAL
barrel tower covers 5 x 5 crystals (0.087 x 0.087).

Detector model (simple, documented): particles fly from the origin; in the solenoid field a charged particle
keeps its eta and reaches the ECAL front face (r = 1.29 m) with its phi turned by
-asin(0.3 q B r / (2 pT)); one with pT below 0.3 |q| B r / 2 (0.74 GeV at 3.8 T) curls up and leaves nothing.
Every charged particle leaves its pT in the track channel at that point; photons and electrons leave their
energy in the ECAL; all other visible particles (charged and neutral hadrons, as the CMS HCAL measures the
hadronic shower) leave their energy in the HCAL, spread evenly over the 5 x 5 pixels of their HCAL tower
(the real images upsample the HCAL the same way); muons leave only a track; neutrinos leave nothing.

Calorimeter response (:class:`Detector`; ``IDEAL`` turns it off), applied in this order:

1. energy resolution of each particle's deposit, sigma/E = stochastic / sqrt(E) (+) constant (Gaussian, clipped
   at 0), with the CMS barrel terms: ECAL 2.8 % sqrt(GeV) and 0.3 % (electron test beam, 3x3 crystals,
   JINST 2 (2007) P04004); HCAL, for hadrons measured by ECAL + HCAL as here, 84.7 % sqrt(GeV) and 7.4 %
   (pion test beam, Eur. Phys. J. C 60 (2009) 359);
2. lateral shower spread: a deposit at (eta, phi) spreads over the pixels as a 2D Gaussian of width
   ``ecal_spread`` / ``hcal_spread`` crystals integrated over each pixel. ECAL 0.69 crystals puts 94 % of a
   photon hitting a crystal centre in its 3 x 3 crystals (the CMS ECAL TDR's containment; Moliere radius
   2.19 cm ~ one 2.2 cm crystal); HCAL 2.2 crystals puts 95 % of a hadron shower within one interaction length
   of brass (16.4 cm, 5.3 crystals at the HCAL face, r = 1.77 m), the usual lateral containment;
3. noise: Gaussian, per crystal in the ECAL (40 MeV: the test beam's 3 x 3 noise term of 0.12 GeV over nine
   uncorrelated channels) and per HCAL tower (0.2 GeV, a quarter of the HCAL cell threshold below);
4. zero suppression: crystals below 0.12 GeV (3 sigma of noise) and HCAL towers below 0.8 GeV (the CMS
   particle-flow HCAL barrel cell threshold, JINST 12 (2017) P10003) read 0; HCAL towers are then spread
   evenly over their 5 x 5 pixels.

The noise term of the test-beam formula (sigma = noise / E) is thus the sum of the pixel noise over the pixels
summed. Tracks are not smeared (the CMS tracker's 1-2 % pT resolution is far below the calorimeters').
Pile-up, when asked for, is more particles: minimum-bias events overlaid on the jet's particles before the
images are formed (see ``hepgraph.stages.simulate_calo``).

Files: the real E2E parquet files hold one row per jet with ``X_jets`` as nested lists
list<list<list<double>>> of shape [3, 125, 125] (channels first: reading it as [125, 125, 3] scrambles the
channels, so the reader checks every axis length) and ``pt``, ``m0`` (jet mass), ``y`` doubles. Which ``y``
is a quark is not stored; see ``hepgraph.data.labels``. Files simulated here add ``particles``: per jet, a list
of the jet's constituents as (pT GeV, rapidity, phi, pdgid) lists, the layout of the Pythia quark/gluon files
(Zenodo 3164691), and record ``quark_label`` = 1 in their provenance.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from scipy.special import ndtr

from hepgraph.data.kinematics import pt_eta_phi_m, wrap_phi
from hepgraph.io import RAW_FIX, UnreadableFileError, atomic_output

E2E_SHAPE = (3, 125, 125)
E2E_COLUMNS = ("X_jets", "pt", "m0", "y")
PARTICLES = "particles"  # optional column of simulated files: per jet, [M][4] (pT, rapidity, phi, pdgid)
ECAL_CRYSTAL = 0.0174  # CMS ECAL barrel crystal size in eta and phi
HCAL_TOWER = 5  # ECAL crystals per CMS HCAL barrel tower side (0.087 / 0.0174)
B_FIELD = 3.8  # CMS solenoid field, tesla
R_ECAL = 1.29  # radius of the CMS ECAL barrel front face, metres
C_GEV = 0.299792458  # GeV per (tesla metre): pT = C_GEV * B * radius of curvature
META_KEY = b"hepgraph_e2e"  # schema-metadata key of the provenance written beside the real layout

_ECAL_PDG = (11, 22)
_INVISIBLE_PDG = (12, 14, 16)
_MUON_PDG = 13


@dataclass(frozen=True)
class Detector:
    """Calorimeter response of :func:`jet_images` (see the module docstring); the defaults are the CMS barrel's.

    Resolution terms: stochastic in sqrt(GeV), constant as a fraction; noise in GeV per ECAL crystal and per
    HCAL tower; spreads (Gaussian sigma) in crystals; thresholds in GeV per crystal and per tower.
    """

    ecal_stochastic: float = 0.028
    ecal_constant: float = 0.003
    ecal_noise: float = 0.04
    hcal_stochastic: float = 0.847
    hcal_constant: float = 0.074
    hcal_noise: float = 0.2
    ecal_spread: float = 0.69
    hcal_spread: float = 2.2
    ecal_threshold: float = 0.12
    hcal_threshold: float = 0.8

    def __post_init__(self) -> None:
        negative = {name: value for name, value in vars(self).items() if not value >= 0}
        if negative:
            raise ValueError(f"detector settings must be >= 0, got {negative}")


IDEAL = Detector(**{name: 0.0 for name in Detector.__dataclass_fields__})
"""No smearing, spread, noise or zero suppression: every deposit lands whole in its pixel."""


def phi_at_radius(phi: np.ndarray, pt: np.ndarray, charge: np.ndarray, *, b_field: float = B_FIELD,
                  radius: float = R_ECAL) -> tuple[np.ndarray, np.ndarray]:
    """Azimuth where a particle from the origin crosses the cylinder of ``radius`` (m) in ``b_field`` (T, along +z).

    ``phi`` (rad), ``pt`` (GeV) and ``charge`` (e) broadcast together. Returns (phi at the cylinder in [-pi, pi),
    bool ``reaches``); particles that curl up before the cylinder get ``reaches`` False. Neutral particles keep phi.
    """
    sin_turn = np.divide(C_GEV * b_field * radius * np.asarray(charge, np.float64), 2 * pt,
                         out=np.full(np.broadcast(pt, charge).shape, np.inf), where=pt > 0)
    neutral = np.asarray(charge) == 0
    reaches = neutral | (np.abs(sin_turn) <= 1)
    turn = np.where(neutral | ~reaches, 0.0, np.arcsin(np.clip(sin_turn, -1.0, 1.0)))
    return wrap_phi(phi - turn), reaches


def deposits(p4: np.ndarray, pdgid: np.ndarray, charge: np.ndarray) -> np.ndarray:
    """What each particle leaves in (track pT, ECAL energy, HCAL energy), float64 [..., 3] in GeV.

    ``p4`` [..., 4] = (E, px, py, pz) GeV, ``pdgid`` and ``charge`` [...]; padding (pdgid 0) leaves nothing.
    """
    p4 = np.asarray(p4, dtype=np.float64)
    apid = np.abs(pdgid)
    energy, pt = p4[..., 0], np.hypot(p4[..., 1], p4[..., 2])
    ecal = np.isin(apid, _ECAL_PDG)
    hcal = (apid != 0) & ~ecal & ~np.isin(apid, _INVISIBLE_PDG) & (apid != _MUON_PDG)
    return np.stack([np.where(charge != 0, pt, 0.0), np.where(ecal, energy, 0.0), np.where(hcal, energy, 0.0)], -1)


def _smear(energy: np.ndarray, stochastic: float, constant: float, rng: np.random.Generator | None) -> np.ndarray:
    """Deposits [K] (GeV) smeared by sigma/E = stochastic / sqrt(E) (+) constant, clipped at 0."""
    if stochastic == constant == 0:
        return energy
    sigma = np.sqrt(stochastic**2 * energy + constant**2 * energy**2)
    return np.maximum(energy + sigma * rng.standard_normal(energy.shape), 0.0)


def _spread(jet: np.ndarray, u: np.ndarray, v: np.ndarray, energy: np.ndarray, sigma: float, n_jets: int,
            n_pixels: int) -> np.ndarray:
    """Deposits ``energy`` [K] of jets ``jet`` [K] at continuous pixel coordinates (u, v) [K] (pixel i spans
    [i, i + 1)) spread as 2D Gaussians of width ``sigma`` pixels (0: into their pixel) -> float64 [N, n, n];
    what falls outside the window is lost."""
    if sigma == 0:
        i, j = np.floor(u).astype(np.int64), np.floor(v).astype(np.int64)
        weights, i, j = np.ones((len(u), 1, 1)), i[:, None, None], j[:, None, None]
    else:
        offsets = np.arange(-int(np.ceil(4 * sigma)), int(np.ceil(4 * sigma)) + 1)
        i = np.floor(u).astype(np.int64)[:, None] + offsets  # [K, W]
        j = np.floor(v).astype(np.int64)[:, None] + offsets
        wu = ndtr((i + 1 - u[:, None]) / sigma) - ndtr((i - u[:, None]) / sigma)
        wv = ndtr((j + 1 - v[:, None]) / sigma) - ndtr((j - v[:, None]) / sigma)
        weights, i, j = wu[:, :, None] * wv[:, None, :], i[:, :, None], j[:, None, :]
    inside = (i >= 0) & (i < n_pixels) & (j >= 0) & (j < n_pixels)
    flat = (jet[:, None, None] * n_pixels + i) * n_pixels + j
    values = energy[:, None, None] * weights
    return np.bincount(np.broadcast_to(flat, values.shape)[inside & (values > 0)],
                       values[inside & (values > 0)], n_jets * n_pixels**2).reshape(n_jets, n_pixels, n_pixels)


def _read_out(energy: np.ndarray, noise: float, threshold: float, rng: np.random.Generator | None) -> np.ndarray:
    """Cells [...] (GeV) plus Gaussian ``noise`` per cell, cells below ``threshold`` set to 0."""
    if noise:
        energy = energy + noise * rng.standard_normal(energy.shape)
    return np.where(energy < threshold, 0.0, energy) if threshold else energy


def jet_images(p4: np.ndarray, pdgid: np.ndarray, charge: np.ndarray, jet_p4: np.ndarray, *, n_pixels: int = 125,
               pixel_size: float = ECAL_CRYSTAL, hcal_tower: int = HCAL_TOWER, b_field: float = B_FIELD,
               radius: float = R_ECAL, detector: Detector = IDEAL,
               rng: np.random.Generator | None = None) -> np.ndarray:
    """Calorimeter images float32 [N, 3, n_pixels, n_pixels] (track pT, ECAL E, HCAL E in GeV) of N jets.

    ``p4`` float [N, M, 4] constituent (E, px, py, pz) GeV, zero-padded; ``pdgid`` int [N, M] (0 = padding);
    ``charge`` [N, M] in e; ``jet_p4`` [N, 4]. Pixel (i, j) of jet k holds what lands at
    eta - eta_jet in [(i - n/2) s, (i + 1 - n/2) s) and wrapped phi - phi_jet likewise in j, s = ``pixel_size``;
    the jet axis is in the centre pixel. HCAL deposits are summed in towers of ``hcal_tower`` x ``hcal_tower``
    pixels aligned with the image (1 = pixel granularity). Deposits outside the window are dropped.
    ``detector`` is the calorimeter response (``IDEAL``: none); a non-ideal one draws from ``rng``.
    See the module docstring for the detector model.
    """
    p4 = np.asarray(p4, dtype=np.float64)
    n_jets, n_particles = np.shape(pdgid)
    if (p4.shape != (n_jets, n_particles, 4) or np.shape(charge) != (n_jets, n_particles)
            or np.shape(jet_p4) != (n_jets, 4)):
        raise ValueError(f"jet_images needs p4 [N, M, 4], pdgid and charge [N, M], jet_p4 [N, 4]; got p4 {p4.shape}, "
                         f"pdgid {np.shape(pdgid)}, charge {np.shape(charge)}, jet_p4 {np.shape(jet_p4)}")
    if n_pixels % hcal_tower:
        raise ValueError(f"n_pixels={n_pixels} must be a multiple of hcal_tower={hcal_tower}")
    if detector != IDEAL and rng is None:
        raise ValueError("a detector with resolution, noise or spread needs a random generator: pass rng")
    pt, eta, phi, _ = pt_eta_phi_m(p4)
    _, jet_eta, jet_phi, _ = pt_eta_phi_m(jet_p4)
    phi_calo, reaches = phi_at_radius(phi, pt, charge, b_field=b_field, radius=radius)
    u = (eta - jet_eta[:, None]) / pixel_size + n_pixels / 2  # continuous pixel coordinates
    v = wrap_phi(phi_calo - jet_phi[:, None]) / pixel_size + n_pixels / 2
    margin = np.ceil(4 * max(detector.ecal_spread, detector.hcal_spread) * ECAL_CRYSTAL / pixel_size)  # showers
    inside = reaches & (u >= -margin) & (u < n_pixels + margin) & (v >= -margin) & (v < n_pixels + margin)
    jet = np.broadcast_to(np.arange(n_jets)[:, None], inside.shape)[inside]
    u, v, dep = u[inside], v[inside], deposits(p4, pdgid, charge)[inside]

    images = np.empty((n_jets, 3, n_pixels, n_pixels), dtype=np.float32)
    images[:, 0] = _spread(jet, u, v, dep[:, 0], 0.0, n_jets, n_pixels)
    d = detector
    ecal = _spread(jet, u, v, _smear(dep[:, 1], d.ecal_stochastic, d.ecal_constant, rng), d.ecal_spread * ECAL_CRYSTAL
                   / pixel_size, n_jets, n_pixels)
    images[:, 1] = _read_out(ecal, d.ecal_noise, d.ecal_threshold, rng)
    hcal = _spread(jet, u, v, _smear(dep[:, 2], d.hcal_stochastic, d.hcal_constant, rng), d.hcal_spread * ECAL_CRYSTAL
                   / pixel_size, n_jets, n_pixels)
    n_towers = n_pixels // hcal_tower
    towers = hcal.reshape(n_jets, n_towers, hcal_tower, n_towers, hcal_tower).sum(axis=(2, 4))
    towers = _read_out(towers, d.hcal_noise, d.hcal_threshold, rng) / hcal_tower**2
    images[:, 2] = towers.repeat(hcal_tower, axis=1).repeat(hcal_tower, axis=2)
    return images


def write_e2e_parquet(path: str | Path, images: np.ndarray, pt: np.ndarray, m0: np.ndarray, y: np.ndarray, *,
                      particles: np.ndarray | None = None, meta: Mapping[str, Any] | None = None,
                      row_group_size: int = 64) -> None:
    """Write jets atomically in the real E2E layout: ``X_jets`` list<list<list<double>>> [3, 125, 125], ``pt``,
    ``m0`` (GeV) and ``y`` doubles (this project's files: 1 = quark, 0 = gluon), ``row_group_size`` jets per row
    group (64 jets are ~24 MB before compression). ``particles`` float [N, M, 4] (pT, rapidity, phi, pdgid;
    rows with pT = 0 are padding and are dropped) adds the column ``particles`` list<list<double>> [M_i][4].
    ``meta`` (JSON provenance) goes in the schema metadata under ``hepgraph_e2e``, which other readers ignore.
    """
    images = np.asarray(images)
    n_jets = len(images)
    if images.shape[1:] != E2E_SHAPE:
        raise ValueError(f"{path}: E2E images must have shape [N, {', '.join(map(str, E2E_SHAPE))}], "
                         f"got {images.shape}")
    scalars = {"pt": np.asarray(pt, np.float64), "m0": np.asarray(m0, np.float64), "y": np.asarray(y, np.float64)}
    bad = {name: a.shape for name, a in scalars.items() if a.shape != (n_jets,)}
    if bad:
        raise ValueError(f"{path}: pt, m0 and y must have shape ({n_jets},) like the images, got {bad}")
    if not np.isin(scalars["y"], (0.0, 1.0)).all():
        raise ValueError(f"{path}: labels y must be 0 or 1, got {np.unique(scalars['y'])}")
    fields = [("X_jets", pa.list_(pa.list_(pa.list_(pa.float64())))), *((name, pa.float64()) for name in scalars)]
    if particles is not None:
        particles = np.asarray(particles, np.float64)
        if particles.ndim != 3 or particles.shape[0] != n_jets or particles.shape[2] != 4:
            raise ValueError(f"{path}: particles must have shape [{n_jets}, M, 4] (pT, rapidity, phi, pdgid), "
                             f"got {particles.shape}")
        fields.append((PARTICLES, pa.list_(pa.list_(pa.float64()))))
    schema = pa.schema(fields, metadata={META_KEY: json.dumps(dict(meta or {})).encode()})
    with atomic_output(path) as tmp, \
            pq.ParquetWriter(tmp, schema, compression="zstd", write_page_checksum=True) as writer:
        for start in range(0, n_jets, row_group_size):
            rows = slice(start, start + row_group_size)
            columns = [_nested_lists(images[rows]), *(pa.array(a[rows]) for a in scalars.values())]
            if particles is not None:
                columns.append(_particle_lists(particles[rows]))
            writer.write_table(pa.Table.from_arrays(columns, schema=schema), row_group_size=row_group_size)


def _particle_lists(particles: np.ndarray) -> pa.Array:
    """[B, M, 4] zero-padded particles as a list<list<double>> array of B rows of [M_i][4] (padding dropped)."""
    real = particles[..., 0] > 0
    offsets = np.zeros(len(particles) + 1, np.int32)
    np.cumsum(real.sum(axis=1), out=offsets[1:])
    rows = pa.ListArray.from_arrays(pa.array(np.arange(0, 4 * offsets[-1] + 1, 4, dtype=np.int32)),
                                    pa.array(particles[real].reshape(-1)))
    return pa.ListArray.from_arrays(pa.array(offsets), rows)


def _nested_lists(images: np.ndarray) -> pa.Array:
    """[B, C, H, W] images as a list<list<list<double>>> array of B rows."""
    values: pa.Array = pa.array(np.ascontiguousarray(images, dtype=np.float64).reshape(-1))
    for size in reversed(images.shape[1:]):
        offsets = np.arange(0, len(values) + 1, size, dtype=np.int32)
        values = pa.ListArray.from_arrays(pa.array(offsets), values)
    return values


def read_e2e_meta(path: str | Path) -> dict[str, Any] | None:
    """The provenance written by :func:`write_e2e_parquet`, or None for files written elsewhere (real CMS files)."""
    metadata = _open(path).schema_arrow.metadata or {}
    return json.loads(metadata[META_KEY]) if META_KEY in metadata else None


def has_particles(path: str | Path) -> bool:
    """Whether an E2E-layout file carries the ``particles`` column (files simulated here; not the CMS files)."""
    return PARTICLES in _open(path).schema_arrow.names


def read_e2e_parquet(path: str | Path, batch_size: int = 64) -> Iterator[dict[str, np.ndarray]]:
    """Stream an E2E-layout parquet file in batches of up to ``batch_size`` jets, row group by row group; memory
    holds the Arrow buffers of ``batch_size`` jets or one row group, whichever is more, whatever the file's size.

    Yields dicts with ``X_jets`` float32 [B, 3, 125, 125], ``pt`` and ``m0`` float32 [B] (GeV), ``y`` int64 [B]
    (the file's raw 0/1 labels: map them with ``hepgraph.data.labels.table_labels``) and, for files with a
    ``particles`` column, ``particles`` float64 [B, M, 4] (pT, rapidity, phi, pdgid), zero-padded to the batch's
    largest multiplicity. Reads simulated and real CMS files alike (any row-group size); the columns and their
    types are checked before the first batch, the image shape (channels first: a [125, 125, 3] file is refused,
    never reshaped) and labels in every batch.
    """
    file = _open(path)
    schema = file.schema_arrow
    missing = [name for name in E2E_COLUMNS if name not in schema.names]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; E2E files need columns {list(E2E_COLUMNS)} "
                         f"(found {schema.names})")
    image_type = schema.field("X_jets").type
    for _ in E2E_SHAPE:
        if not pa.types.is_list(image_type) and not pa.types.is_large_list(image_type) \
                and not pa.types.is_fixed_size_list(image_type):
            raise ValueError(f"{path}: column 'X_jets' has type {schema.field('X_jets').type}; expected nested lists "
                             f"of floats with shape {list(E2E_SHAPE)} (list<list<list<double>>>)")
        image_type = image_type.value_type
    for name, leaf in [("X_jets", image_type), *((name, schema.field(name).type) for name in E2E_COLUMNS[1:])]:
        if not (pa.types.is_floating(leaf) or pa.types.is_integer(leaf)):
            raise ValueError(f"{path}: column {name!r} holds {leaf}, expected numbers (double)")
    return _batches(file, path, batch_size)


def read_e2e_arrays(paths: Sequence[str | Path], batch_size: int = 64) -> dict[str, np.ndarray]:
    """All jets of the E2E files ``paths`` in order, as :func:`read_e2e_parquet` yields them (without
    ``particles``), concatenated.

    The files are streamed into arrays allocated once, so memory holds the result (187.5 kB per jet) and one batch.
    """
    streams = [read_e2e_parquet(path, batch_size) for path in paths]  # checks every file's columns up front
    n_jets = sum(_open(path).metadata.num_rows for path in paths)
    out = {"X_jets": np.empty((n_jets, *E2E_SHAPE), np.float32), "pt": np.empty(n_jets, np.float32),
           "m0": np.empty(n_jets, np.float32), "y": np.empty(n_jets, np.int64)}
    start = 0
    for stream in streams:
        for batch in stream:
            stop = start + len(batch["y"])
            for name, values in out.items():
                values[start:stop] = batch[name]
            start = stop
    return out


def _open(path: str | Path) -> pq.ParquetFile:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"E2E parquet file {path} does not exist: check the path in the config, or run the "
                                "simulate_calo step that writes it")
    try:
        return pq.ParquetFile(path, page_checksum_verification=True)  # verifies the pages that carry checksums
    except (OSError, pa.ArrowException) as err:
        raise UnreadableFileError(path, f"not a readable parquet file ({type(err).__name__}: {err})",
                                  RAW_FIX) from err


def _reader_groups(file: pq.ParquetFile, batch_size: int) -> list[list[int]]:
    """Runs of consecutive row groups, each of at least ``batch_size`` jets or a single row group: the CMS files
    hold one jet per row group, files written here 64."""
    runs, run, rows = [], [], 0
    for group in range(file.num_row_groups):
        run.append(group)
        rows += file.metadata.row_group(group).num_rows
        if rows >= batch_size:
            runs.append(run)
            run, rows = [], 0
    return runs + [run] if run else runs


def _batches(file: pq.ParquetFile, path: str | Path, batch_size: int) -> Iterator[dict[str, np.ndarray]]:
    """Batches read by one Arrow reader per run of row groups (:func:`_reader_groups`), so Arrow frees each run's
    buffers (a single reader over the whole file holds on to them: 260 MiB after 10 row groups of 64 jets)."""
    columns = [*E2E_COLUMNS, *([PARTICLES] if PARTICLES in file.schema_arrow.names else [])]
    group_starts = np.cumsum([0, *(file.metadata.row_group(i).num_rows for i in range(file.num_row_groups))])
    start = 0
    for groups in _reader_groups(file, batch_size):
        reader = file.iter_batches(batch_size=batch_size, row_groups=groups, columns=columns)
        while True:
            try:
                batch = next(reader)
            except StopIteration:
                break
            except (OSError, pa.ArrowException) as err:
                group = int(np.searchsorted(group_starts, start, side="right")) - 1
                raise UnreadableFileError(path, f"the jets from row {start} (row group {group} of "
                                          f"{file.num_row_groups}) cannot be read ({type(err).__name__}: {err})",
                                          RAW_FIX) from err
            start += batch.num_rows
            yield _arrays(batch, path)


def _arrays(batch: pa.RecordBatch, path: str | Path) -> dict[str, np.ndarray]:
    """A record batch of an E2E file as :func:`read_e2e_parquet` yields it, after checking its values."""
    scalars = {name: batch.column(name) for name in E2E_COLUMNS[1:]}
    for name, column in scalars.items():
        if column.null_count:
            raise ValueError(f"{path}: column {name!r} has {column.null_count} null entries")
    y = scalars["y"].to_numpy(zero_copy_only=False)
    if not np.isin(y, (0, 1)).all():
        raise ValueError(f"{path}: column 'y' must hold the labels 0 and 1, found {np.unique(y)}")
    out = {"X_jets": _images(batch.column("X_jets"), path),
           "pt": scalars["pt"].to_numpy(zero_copy_only=False).astype(np.float32),
           "m0": scalars["m0"].to_numpy(zero_copy_only=False).astype(np.float32),
           "y": y.astype(np.int64)}
    if PARTICLES in batch.schema.names:
        out[PARTICLES] = _particles(batch.column(PARTICLES), path)
    return out


def _particles(column: pa.Array, path: str | Path) -> np.ndarray:
    """``particles`` column of B rows of [M_i][4] -> float64 [B, max M_i (at least 1), 4], zero-padded."""
    counts = pc.list_value_length(column).to_numpy(zero_copy_only=False)
    rows = column.flatten()
    if column.null_count or rows.null_count or (pc.list_value_length(rows).to_numpy(zero_copy_only=False) != 4).any():
        raise ValueError(f"{path}: column 'particles' must hold, per jet, lists of 4 numbers (pT, rapidity, phi, "
                         "pdgid)")
    values = rows.flatten().to_numpy(zero_copy_only=False).reshape(-1, 4)
    out = np.zeros((len(column), max(1, int(counts.max(initial=0))), 4))
    out[np.arange(out.shape[1]) < counts[:, None]] = values
    return out


def _images(column: pa.Array, path: str | Path) -> np.ndarray:
    """Nested-list ``X_jets`` column of B rows -> float32 [B, 3, 125, 125], checking every list length."""
    values = column
    for depth, size in enumerate(E2E_SHAPE):
        lengths = pc.list_value_length(values).to_numpy(zero_copy_only=False)
        if values.null_count or (lengths != size).any():
            found = sorted(set(lengths[lengths != size].tolist())) if (lengths != size).any() else "null lists"
            raise ValueError(f"{path}: 'X_jets' must have shape {list(E2E_SHAPE)} per jet (channels first), but "
                             f"axis {depth} has length(s) {found} instead of {size}; a channels-last file "
                             "([125, 125, 3]) is not in the E2E layout and is not reshaped")
        values = values.flatten()
    if values.null_count:
        raise ValueError(f"{path}: 'X_jets' has {values.null_count} null pixel values")
    return values.to_numpy(zero_copy_only=False).astype(np.float32).reshape(len(column), *E2E_SHAPE)
