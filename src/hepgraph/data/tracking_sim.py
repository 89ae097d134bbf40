"""Particle-gun events simulated with ACTS Fatras in the Generic detector (the TrackML geometry), as TrackML CSVs.

The ACTS Generic detector has the TrackML detector's layout: the same 18,728 sensitive modules in the same
volumes (pixel 7-9, short strips 12-14, long strips 16-18; 8, 13, 17 are barrels) and layers, here in a constant
solenoid field along +z. Each event has one primary vertex, Gaussian-smeared around the origin, from which
``n_particles`` particles of one type (charge randomised) fly out, uniform in pT and in eta. Fatras propagates
them with multiple scattering, ionisation and radiation energy loss and photon conversions, and records a hit
where a particle crosses a sensitive module. The hit position is the true crossing point (``x = tx``: no
digitisation into pixel or strip cells) and there are no noise hits.

Particle ids encode the ACTS barcode in the legacy 64-bit ACTS layout that TrackML's own ids use: primary vertex
(bits 52-62), secondary vertex (40-51), particle (24-39), generation (12-23), sub-particle (0-11).
"""

from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import acts
import acts.examples
import numpy as np
import pandas as pd
from acts.examples.simulation import EtaConfig, MomentumConfig, ParticleConfig, addFatras, addParticleGun

from hepgraph.data.trackml import event_name, hit_weights, write_event
from hepgraph.io import atomic_directory

log = logging.getLogger(__name__)

GUN_PDG = (11, 13, 211, 321, 2212)  # |PDG code| of charged particles the gun can shoot: e, mu, pi, K, p
BARCODE_BITS = (("vertexPrimary", 11, 52), ("vertexSecondary", 12, 40), ("particle", 16, 24),
                ("generation", 12, 12), ("subParticle", 12, 0))  # (field, width, shift) in the 64-bit id


def barcode_to_particle_id(fields: np.ndarray) -> np.ndarray:
    """Positive int64 particle ids from ACTS barcode fields [N, 5] (primary vertex, secondary vertex, particle,
    generation, sub-particle), packed as in TrackML ids (see :data:`BARCODE_BITS`)."""
    fields = np.asarray(fields, dtype=np.int64).reshape(-1, len(BARCODE_BITS))
    ids = np.zeros(len(fields), dtype=np.int64)
    for column, (name, width, shift) in enumerate(BARCODE_BITS):
        value = fields[:, column]
        if (value < 0).any() or (value >= 1 << width).any():
            raise ValueError(f"barcode field {name} = {value.max()} does not fit the {width} bits of a TrackML "
                             "particle id; simulate fewer vertices/particles per event")
        ids |= value << shift
    return ids


@dataclass(frozen=True)
class SimulatedEvent:
    """Raw Fatras output of one event, as arrays.

    Hits [H]: ``hit_geometry`` int64 [H, 3] (volume, layer, sensitive), ``hit_barcode`` int64 [H, 5],
    ``hit_position`` float64 [H, 4] (x, y, z in mm, t in mm/c), ``hit_momentum`` float64 [H, 4] (px, py, pz, E in
    GeV, before the hit), ``hit_index`` int64 [H] (the hit's number along its particle). Particles [P]:
    ``barcode`` int64 [P, 5], ``pdg`` int64 [P], ``charge`` float64 [P] (e), ``vertex`` float64 [P, 4] and
    ``momentum`` float64 [P, 4] at production.
    """

    hit_geometry: np.ndarray
    hit_barcode: np.ndarray
    hit_position: np.ndarray
    hit_momentum: np.ndarray
    hit_index: np.ndarray
    barcode: np.ndarray
    pdg: np.ndarray
    charge: np.ndarray
    vertex: np.ndarray
    momentum: np.ndarray


def _barcode(b) -> tuple[int, int, int, int, int]:
    return b.vertexPrimary, b.vertexSecondary, b.particle, b.generation, b.subParticle


def trackml_tables(event: SimulatedEvent) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """TrackML ``hits``, ``truth`` and ``particles`` tables of one simulated event.

    Hits are sorted by (volume, layer, module, particle, order along the particle) and numbered from 1; every
    simulated particle is listed, with ``nhits`` its number of hits (possibly 0).
    """
    hit_pid = barcode_to_particle_id(event.hit_barcode)
    pid = barcode_to_particle_id(event.barcode)
    volume, layer, module = event.hit_geometry.T
    sort = np.lexsort((event.hit_index, hit_pid, module, layer, volume))
    pos, mom, hit_pid = event.hit_position[sort], event.hit_momentum[sort], hit_pid[sort]
    pt = np.hypot(event.momentum[:, 0], event.momentum[:, 1])
    known = np.isin(hit_pid, pid)
    if not known.all():
        raise ValueError(f"Fatras returned hits of particle ids {np.unique(hit_pid[~known])[:5]} that are not in "
                         "its particle list")
    hit_pt = pd.Series(pt, index=pid).reindex(hit_pid).to_numpy()
    hit_id = np.arange(1, len(sort) + 1, dtype=np.int64)
    hits = pd.DataFrame({"hit_id": hit_id, "x": pos[:, 0], "y": pos[:, 1], "z": pos[:, 2],
                         "volume_id": volume[sort], "layer_id": layer[sort], "module_id": module[sort]})
    truth = pd.DataFrame({"hit_id": hit_id, "particle_id": hit_pid, "tx": pos[:, 0], "ty": pos[:, 1],
                          "tz": pos[:, 2], "tpx": mom[:, 0], "tpy": mom[:, 1], "tpz": mom[:, 2],
                          "weight": hit_weights(hit_pid, event.hit_index[sort], hit_pt)})
    counts = pd.Series(hit_pid).value_counts()
    particles = pd.DataFrame({"particle_id": pid, "particle_type": event.pdg, "vx": event.vertex[:, 0],
                              "vy": event.vertex[:, 1], "vz": event.vertex[:, 2], "px": event.momentum[:, 0],
                              "py": event.momentum[:, 1], "pz": event.momentum[:, 2],
                              "q": np.rint(event.charge).astype(np.int64),
                              "nhits": counts.reindex(pid, fill_value=0).to_numpy()})
    return hits, truth, particles.sort_values("particle_id", ignore_index=True)


@functools.cache
def generic_detector() -> tuple[acts.examples.GenericDetector, acts.TrackingGeometry]:
    """The ACTS Generic detector (built once per process, quietly) and its tracking geometry."""
    config = acts.examples.GenericDetector.Config()
    for level in ("logLevel", "layerLogLevel", "surfaceLogLevel", "volumeLogLevel"):
        setattr(config, level, acts.logging.WARNING)
    detector = acts.examples.GenericDetector(config)
    return detector, detector.trackingGeometry()


class Recorder(acts.examples.IAlgorithm):
    """Sequencer algorithm that copies each event's simulated hits and particles into ``events`` (by event number)."""

    def __init__(self, hits_key: str, particles_key: str) -> None:
        acts.examples.IAlgorithm.__init__(self, "HepgraphRecorder", acts.logging.WARNING)
        self.events: dict[int, SimulatedEvent] = {}
        self.hits = acts.examples.ReadDataHandle(self, acts.examples.SimHitContainer, "InputSimHits")
        self.hits.initialize(hits_key)
        self.particles = acts.examples.ReadDataHandle(self, acts.examples.SimParticleContainer, "InputParticles")
        self.particles.initialize(particles_key)

    def execute(self, context: acts.examples.AlgorithmContext) -> acts.examples.ProcessCode:
        hits = list(self.hits(context.eventStore))
        particles = list(self.particles(context.eventStore))
        initial = [p.initialState for p in particles]
        geometry = [h.geometryId for h in hits]
        # Eigen vectors expose the buffer protocol: np.array converts a list of them in one go
        self.events[context.eventNumber] = SimulatedEvent(
            hit_geometry=np.array([(g.volume, g.layer, g.sensitive) for g in geometry], np.int64).reshape(-1, 3),
            hit_barcode=np.array([_barcode(h.particleId) for h in hits], np.int64).reshape(-1, 5),
            hit_position=np.array([h.fourPosition for h in hits], np.float64).reshape(-1, 4),
            hit_momentum=np.array([h.momentum4Before for h in hits], np.float64).reshape(-1, 4),
            hit_index=np.array([h.index for h in hits], np.int64),
            barcode=np.array([_barcode(p.particleId) for p in particles], np.int64).reshape(-1, 5),
            pdg=np.array([int(p.pdg) for p in particles], np.int64),
            charge=np.array([p.charge for p in initial], np.float64),
            vertex=np.array([p.fourPosition for p in initial], np.float64).reshape(-1, 4),
            momentum=np.array([p.fourMomentum for p in initial], np.float64).reshape(-1, 4),
        )
        return acts.examples.ProcessCode.SUCCESS


def simulate_raw(n_events: int, seed: int, *, n_particles: int, pt_min: float, pt_max: float, eta_max: float,
                 pdg: int = 211, vertex_sigma_xy: float = 0.0125, vertex_sigma_z: float = 55.5,
                 b_field: float = 2.0, interactions: bool = True) -> list[SimulatedEvent]:
    """Simulate ``n_events`` particle-gun events with Fatras, single-threaded; the same ``seed`` gives the same events.

    ``pdg``: particle type (|PDG code| in :data:`GUN_PDG`; the charge of each particle is random), pT uniform in
    [``pt_min``, ``pt_max``] GeV, eta uniform in [-``eta_max``, ``eta_max``]; vertex Gaussian with widths
    ``vertex_sigma_xy`` (x and y) and ``vertex_sigma_z`` (mm); ``b_field`` in tesla along +z; ``interactions``
    switches Fatras' material effects (scattering, energy loss, conversions).
    """
    if abs(pdg) not in GUN_PDG:
        raise ValueError(f"pdg {pdg} is not a particle the gun can shoot; choose one of {GUN_PDG} (e, mu, pi, K, p)")
    if not (n_events >= 1 and n_particles >= 1 and 0 < pt_min < pt_max and eta_max > 0):
        raise ValueError(f"need n_events >= 1, n_particles >= 1, 0 < pt_min < pt_max, eta_max > 0; got "
                         f"n_events={n_events}, n_particles={n_particles}, pt=[{pt_min}, {pt_max}], eta_max={eta_max}")
    u = acts.UnitConstants
    quiet = acts.logging.WARNING
    _, geometry = generic_detector()
    field = acts.ConstantBField(acts.Vector3(0.0, 0.0, b_field * u.T))
    rnd = acts.examples.RandomNumbers(seed=seed)
    sequencer = acts.examples.Sequencer(events=n_events, numThreads=1, logLevel=quiet, trackFpes=False,
                                        outputTimingFile="")
    vertex = acts.examples.GaussianVertexGenerator(
        mean=acts.Vector4(0, 0, 0, 0),
        stddev=acts.Vector4(vertex_sigma_xy * u.mm, vertex_sigma_xy * u.mm, vertex_sigma_z * u.mm, 0))
    addParticleGun(sequencer, MomentumConfig(pt_min * u.GeV, pt_max * u.GeV, transverse=True),
                   EtaConfig(-eta_max, eta_max, uniform=True),
                   ParticleConfig(n_particles, acts.PdgParticle(abs(pdg)), randomizeCharge=True),
                   vtxGen=vertex, rnd=rnd, logLevel=quiet)
    addFatras(sequencer, geometry, field, rnd=rnd, enableInteractions=interactions, logLevel=quiet,
              outputParticles="particles_simulated", outputSimHits="simhits")
    recorder = Recorder("simhits", "particles_simulated")
    sequencer.addAlgorithm(recorder)
    sequencer.run()
    if sorted(recorder.events) != list(range(n_events)):
        raise RuntimeError(f"the ACTS sequencer processed events {sorted(recorder.events)}, expected 0..{n_events - 1}")
    return [recorder.events[i] for i in range(n_events)]


def simulate_events(output_dir: str | Path, n_events: int, seed: int, *, n_particles: int, pt_min: float,
                    pt_max: float, eta_max: float, first_event: int = 0, compress: bool = False, **gun) -> float:
    """Simulate events with :func:`simulate_raw` (``gun``: its optional keywords) and write them as TrackML CSVs.

    Events are numbered ``first_event``, ``first_event + 1``, ...; the directory is written under a temporary
    name and renamed onto ``output_dir`` only when complete. Returns the simulation rate in events/s (Fatras and
    copying its output to numpy; without building the geometry and writing the files).
    """
    if first_event < 0:
        raise ValueError(f"first_event must be >= 0, got {first_event}")
    generic_detector()
    start = time.perf_counter()
    events = simulate_raw(n_events, seed, n_particles=n_particles, pt_min=pt_min, pt_max=pt_max, eta_max=eta_max,
                          **gun)
    rate = n_events / (time.perf_counter() - start)
    with atomic_directory(output_dir) as tmp:
        for number, event in enumerate(events, start=first_event):
            hits, truth, particles = trackml_tables(event)
            write_event(tmp, event_name(number), hits, truth, particles, compress=compress)
            log.info("event %d: %d particles, %d hits", number, len(particles), len(hits))
    return rate
