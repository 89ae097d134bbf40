"""Particles entering the tracker: Pythia 8 top-pair events at sqrt(s) = 14 TeV with minimum-bias pile-up, or a gun.

This is how TrackML's events were made (Amrouche et al. 2019): a hard ttbar interaction plus a Poisson number of
soft inelastic (minimum-bias) interactions, mean 200 at the HL-LHC, each at its own vertex drawn from the
luminous region. Pythia decays the short-lived hadrons (K0S, Lambda, charm, bottom), so their products start at
displaced vertices; charged pions, kaons and muons stay stable (Pythia's default; Fatras does not decay them
either). Only charged particles are kept, above ``pt_min`` within ``|eta| < eta_max``: TrackML's events carry
almost no conversion electrons (1 of the 548 particles of the reference event is an electron), so photons, which
would convert in the material, are left out as they evidently were there. :func:`particle_gun` is the simple alternative: particles of one type
from one vertex, flat in pT and eta. Lengths in mm, momenta and masses in GeV, charge in e.

Each particle gets the ACTS barcode fields (primary vertex, secondary vertex, particle, generation, sub-particle)
that :func:`hepgraph.data.tracking_sim.barcode_to_particle_id` packs into TrackML ids: primary vertex 1 is the
ttbar interaction, 2, 3, ... the pile-up interactions; secondary vertex 0 is the interaction point and 1, 2, ...
the distinct decay vertices of that interaction; particles are numbered from 1 within their vertex.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

SQRT_S = 14000.0  # GeV, the HL-LHC's (TrackML's) centre-of-mass energy
SEED_MAX = 900_000_000  # Pythia's Random:seed range
PROMPT_MM = 1e-3  # production vertices closer than this to the interaction point count as the interaction point
_DECAYS_INSIDE = ("ParticleDecays:limitCylinder = on", "ParticleDecays:xyMax = 1000", "ParticleDecays:zMax = 2900")
"""Pythia decays particles only inside the tracker (r < 1 m, |z| < 2.9 m of the interaction point): beyond it their
products would start outside the Generic detector's world volume (r < 1028.5 mm, |z| < 3001 mm)."""
_PROCESSES = {"ttbar": ("Top:gg2ttbar = on", "Top:qqbar2ttbar = on"), "minbias": ("SoftQCD:inelastic = on",)}


@dataclass(frozen=True)
class Particles:
    """The generated particles of one event, [P] rows: ``barcode`` int64 [P, 5], ``pdg`` int64 [P], ``charge``
    float64 [P] (e), ``mass`` float64 [P] (GeV), ``vertex`` float64 [P, 4] (x, y, z, t in mm and mm/c) and
    ``momentum`` float64 [P, 3] (px, py, pz in GeV) at production."""

    barcode: np.ndarray
    pdg: np.ndarray
    charge: np.ndarray
    mass: np.ndarray
    vertex: np.ndarray
    momentum: np.ndarray

    def __len__(self) -> int:
        return len(self.pdg)


def _pythia(process: str, seed: int):
    import pythia8mc as pythia8

    pythia = pythia8.Pythia("", False)
    for setting in (f"Beams:eCM = {SQRT_S!r}", *_PROCESSES[process], *_DECAYS_INSIDE, "Random:setSeed = on",
                    f"Random:seed = {seed}", "Next:numberCount = 0", "Print:quiet = on"):
        if not pythia.readString(setting):
            raise RuntimeError(f"Pythia rejected the setting {setting!r}")
    if not pythia.init():
        raise RuntimeError(f"Pythia failed to initialise {process} at sqrt(s) = {SQRT_S} GeV")
    return pythia


def _final_state(pythia, pt_min: float, eta_max: float) -> np.ndarray:
    """float64 [P, 10]: pdg, charge, mass, x, y, z, t, px, py, pz of the visible final-state particles of the
    current Pythia event: charged, pT > pt_min, |eta| < eta_max."""
    rows = [(p.id(), p.charge(), p.m(), p.xProd(), p.yProd(), p.zProd(), p.tProd(), p.px(), p.py(), p.pz())
            for p in pythia.event if p.isFinal() and p.isCharged()]
    rows = np.array(rows, dtype=np.float64).reshape(-1, 10)
    pt = np.hypot(rows[:, 7], rows[:, 8])
    with np.errstate(divide="ignore"):
        eta = np.arcsinh(rows[:, 9] / pt)
    return rows[(pt > pt_min) & (np.abs(eta) < eta_max)]


def _barcodes(interaction: int, offset: np.ndarray) -> np.ndarray:
    """int64 [P, 5] barcode fields of the particles of one interaction from their production points [P, 3] (mm,
    relative to the interaction point): one secondary vertex per distinct displaced production point."""
    displaced = np.linalg.norm(offset, axis=1) >= PROMPT_MM
    secondary = np.zeros(len(offset), np.int64)
    if displaced.any():
        _, vertex = np.unique(np.round(offset[displaced], 9), axis=0, return_inverse=True)
        secondary[displaced] = vertex.reshape(-1) + 1
    order = np.argsort(secondary, kind="stable")  # particles of a vertex keep their Pythia order
    number = np.empty(len(offset), np.int64)
    number[order] = np.arange(len(offset)) - np.searchsorted(secondary[order], secondary[order]) + 1
    fields = np.zeros((len(offset), 5), np.int64)
    fields[:, 0], fields[:, 1], fields[:, 2] = interaction + 1, secondary, number
    return fields


def ttbar_events(n_events: int, seed: int, *, pileup: float, pt_min: float, eta_max: float,
                 vertex_sigma_xy: float = 0.0125, vertex_sigma_z: float = 55.5) -> Iterator[Particles]:
    """``n_events`` events of one ttbar interaction plus Poisson(``pileup``) minimum-bias ones (see the module doc).

    Interaction points are Gaussian with widths ``vertex_sigma_xy`` (x and y) and ``vertex_sigma_z`` (mm) around
    the origin. ``seed`` (1..900000000) seeds both Pythia instances and the vertex and pile-up draws: the same
    arguments give the same events.
    """
    if not 1 <= seed <= SEED_MAX // 2:
        raise ValueError(f"seed {seed} is outside 1..{SEED_MAX // 2} (Pythia's Random:seed range, halved: the "
                         "pile-up generator uses seed + 450000000)")
    if not (n_events >= 1 and pileup >= 0 and pt_min >= 0 and eta_max > 0):
        raise ValueError(f"need n_events >= 1, pileup >= 0, pt_min >= 0, eta_max > 0; got n_events={n_events}, "
                         f"pileup={pileup}, pt_min={pt_min}, eta_max={eta_max}")
    return _ttbar_events(n_events, seed, pileup, pt_min, eta_max, (vertex_sigma_xy, vertex_sigma_xy, vertex_sigma_z))


def _ttbar_events(n_events: int, seed: int, pileup: float, pt_min: float, eta_max: float,
                  vertex_sigma: tuple[float, float, float]) -> Iterator[Particles]:
    rng = np.random.default_rng(seed)
    hard = _pythia("ttbar", seed)
    soft = _pythia("minbias", seed + SEED_MAX // 2) if pileup > 0 else None
    for _ in range(n_events):
        parts = []
        for interaction in range(1 + (rng.poisson(pileup) if soft else 0)):
            pythia = hard if interaction == 0 else soft
            while not pythia.next():
                pass
            rows = _final_state(pythia, pt_min, eta_max)
            point = rng.normal(0.0, vertex_sigma)
            parts.append((rows, _barcodes(interaction, rows[:, 3:6]), point))
        rows = np.concatenate([r for r, _, _ in parts])
        vertex = rows[:, 3:7].copy()
        vertex[:, :3] += np.concatenate([np.broadcast_to(p, (len(r), 3)) for r, _, p in parts])
        yield Particles(barcode=np.concatenate([b for _, b, _ in parts]), pdg=rows[:, 0].astype(np.int64),
                        charge=rows[:, 1], mass=rows[:, 2], vertex=vertex, momentum=rows[:, 7:10])


GUN_PDG = {11: (0.51099895e-3, -1.0), 13: (0.1056583755, -1.0), 211: (0.13957039, 1.0), 321: (0.493677, 1.0),
           2212: (0.93827208816, 1.0)}
"""Particles the gun can shoot, |PDG code| -> (mass in GeV, charge in e of the positive code): e, mu, pi, K, p."""


def particle_gun(n_events: int, seed: int, *, n_particles: int, pt_min: float, pt_max: float, eta_max: float,
                 pdg: int = 211, vertex_sigma_xy: float = 0.0125, vertex_sigma_z: float = 55.5) -> Iterator[Particles]:
    """``n_events`` events of ``n_particles`` particles of type ``|pdg|`` (charge random) from one Gaussian vertex
    (widths as in :func:`ttbar_events`), pT uniform in [``pt_min``, ``pt_max``] GeV, eta uniform in
    [-``eta_max``, ``eta_max``], phi uniform; the same ``seed`` gives the same events."""
    if abs(pdg) not in GUN_PDG:
        raise ValueError(f"pdg {pdg} is not a particle the gun can shoot; choose one of {tuple(GUN_PDG)} "
                         "(e, mu, pi, K, p)")
    if not (n_events >= 1 and n_particles >= 1 and 0 < pt_min < pt_max and eta_max > 0):
        raise ValueError(f"need n_events >= 1, n_particles >= 1, 0 < pt_min < pt_max, eta_max > 0; got "
                         f"n_events={n_events}, n_particles={n_particles}, pt=[{pt_min}, {pt_max}], eta_max={eta_max}")
    return _gun(n_events, seed, n_particles, pt_min, pt_max, eta_max, abs(pdg),
                (vertex_sigma_xy, vertex_sigma_xy, vertex_sigma_z))


def _gun(n_events: int, seed: int, n_particles: int, pt_min: float, pt_max: float, eta_max: float, pdg: int,
         vertex_sigma: tuple[float, float, float]) -> Iterator[Particles]:
    mass, charge = GUN_PDG[pdg]
    rng = np.random.default_rng(seed)
    barcode = np.zeros((n_particles, 5), np.int64)
    barcode[:, 0], barcode[:, 2] = 1, np.arange(1, n_particles + 1)
    for _ in range(n_events):
        sign = rng.choice([-1, 1], size=n_particles)
        pt = rng.uniform(pt_min, pt_max, n_particles)
        eta = rng.uniform(-eta_max, eta_max, n_particles)
        phi = rng.uniform(-np.pi, np.pi, n_particles)
        point = rng.normal(0.0, vertex_sigma)
        yield Particles(barcode=barcode.copy(), pdg=sign * pdg, charge=sign * charge,
                        mass=np.full(n_particles, mass), vertex=np.tile(np.append(point, 0.0), (n_particles, 1)),
                        momentum=np.stack([pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)], axis=1))
