"""Events simulated with ACTS Fatras in the Generic detector (the TrackML geometry), digitised, as TrackML CSVs.

The ACTS Generic detector has the TrackML detector's layout: the same 18,728 sensitive modules in the same
volumes (pixel 7-9, short strips 12-14, long strips 16-18; 8, 13, 17 are barrels) and layers, here in a constant
solenoid field along +z. The particles come from :mod:`hepgraph.data.collisions` (Pythia 8 top pairs with
pile-up, or a particle gun) and enter Fatras through its CSV particle reader. Fatras propagates them with multiple
scattering, ionisation and radiation energy loss (and photon conversions) and records the true point where a
particle crosses a sensitive module. :func:`digitise` turns those into measured hits as TrackML's digitisation
does (per-region errors, :mod:`hepgraph.data.digitisation`) and adds noise hits (particle id 0). As in TrackML,
the particles tables list the charged particles (generated and Fatras' secondaries, with or without hits).

Particle ids encode the ACTS barcode in the legacy 64-bit ACTS layout that TrackML's own ids use: primary vertex
(bits 52-62), secondary vertex (40-51), particle (24-39), generation (12-23), sub-particle (0-11).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import acts
import acts.examples
import numpy as np
import pandas as pd
from acts.examples.simulation import addFatras

from hepgraph.data.collisions import Particles
from hepgraph.data.digitisation import generic_modules, n_noise_hits, noise, region_resolution, smear
from hepgraph.data.trackml import event_name, hit_weights, write_event
from hepgraph.io import atomic_directory

log = logging.getLogger(__name__)

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

    Hits [H]: ``hit_geometry`` int64 [H, 3] (volume, layer, sensitive), ``hit_barcode`` int64 [H, 5] (all 0 for
    noise), ``hit_position`` float64 [H, 4] (true x, y, z in mm, t in mm/c), ``hit_measured`` float64 [H, 3]
    (measured x, y, z in mm), ``hit_momentum`` float64 [H, 4] (px, py, pz, E in GeV, before the hit),
    ``hit_index`` int64 [H] (the hit's number along its particle). Particles [P]:
    ``barcode`` int64 [P, 5], ``pdg`` int64 [P], ``charge`` float64 [P] (e), ``vertex`` float64 [P, 4] and
    ``momentum`` float64 [P, 4] at production.
    """

    hit_geometry: np.ndarray
    hit_barcode: np.ndarray
    hit_position: np.ndarray
    hit_measured: np.ndarray
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

    Hits (x, y, z the measured position; tx, ty, tz the true one) are sorted by (volume, layer, module, particle,
    order along the particle) and numbered from 1; every simulated charged particle is listed, with ``nhits`` its
    number of hits (possibly 0).
    """
    hit_pid = barcode_to_particle_id(event.hit_barcode)
    charged = event.charge != 0
    pid = barcode_to_particle_id(event.barcode[charged])
    volume, layer, module = event.hit_geometry.T
    sort = np.lexsort((event.hit_index, hit_pid, module, layer, volume))
    pos, mom, hit_pid = event.hit_position[sort], event.hit_momentum[sort], hit_pid[sort]
    measured = event.hit_measured[sort]
    pt = np.hypot(event.momentum[charged, 0], event.momentum[charged, 1])
    known = np.isin(hit_pid, pid) | (hit_pid == 0)
    if not known.all():
        raise ValueError(f"Fatras returned hits of particle ids {np.unique(hit_pid[~known])[:5]} that are not "
                         "charged particles of its particle list")
    hit_pt = pd.Series(np.append(pt, 0.0), index=np.append(pid, 0)).reindex(hit_pid).to_numpy()
    hit_id = np.arange(1, len(sort) + 1, dtype=np.int64)
    hits = pd.DataFrame({"hit_id": hit_id, "x": measured[:, 0], "y": measured[:, 1], "z": measured[:, 2],
                         "volume_id": volume[sort], "layer_id": layer[sort], "module_id": module[sort]})
    truth = pd.DataFrame({"hit_id": hit_id, "particle_id": hit_pid, "tx": pos[:, 0], "ty": pos[:, 1],
                          "tz": pos[:, 2], "tpx": mom[:, 0], "tpy": mom[:, 1], "tpz": mom[:, 2],
                          "weight": hit_weights(hit_pid, event.hit_index[sort], hit_pt)})
    counts = pd.Series(hit_pid).value_counts()
    vertex, momentum = event.vertex[charged], event.momentum[charged]
    particles = pd.DataFrame({"particle_id": pid, "particle_type": event.pdg[charged], "vx": vertex[:, 0],
                              "vy": vertex[:, 1], "vz": vertex[:, 2], "px": momentum[:, 0],
                              "py": momentum[:, 1], "pz": momentum[:, 2],
                              "q": np.rint(event.charge[charged]).astype(np.int64),
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
    """Sequencer algorithm that hands each event's simulated hits and particles to ``handle(number, event)``.

    An exception in ``handle`` aborts the sequencer and is kept in ``error`` (the sequencer cannot carry it).
    """

    def __init__(self, hits_key: str, particles_key: str, handle: Callable[[int, SimulatedEvent], None]) -> None:
        acts.examples.IAlgorithm.__init__(self, "HepgraphRecorder", acts.logging.WARNING)
        self.handle = handle
        self.error: BaseException | None = None
        self.numbers: list[int] = []
        self.hits = acts.examples.ReadDataHandle(self, acts.examples.SimHitContainer, "InputSimHits")
        self.hits.initialize(hits_key)
        self.particles = acts.examples.ReadDataHandle(self, acts.examples.SimParticleContainer, "InputParticles")
        self.particles.initialize(particles_key)

    def execute(self, context: acts.examples.AlgorithmContext) -> acts.examples.ProcessCode:
        try:
            self.handle(context.eventNumber, self._event(context))
        except BaseException as error:  # noqa: BLE001  (re-raised by simulate_raw after the sequencer stops)
            self.error = error
            return acts.examples.ProcessCode.ABORT
        self.numbers.append(context.eventNumber)
        return acts.examples.ProcessCode.SUCCESS

    def _event(self, context: acts.examples.AlgorithmContext) -> SimulatedEvent:
        hits = list(self.hits(context.eventStore))
        particles = list(self.particles(context.eventStore))
        initial = [p.initialState for p in particles]
        geometry = [h.geometryId for h in hits]
        # Eigen vectors expose the buffer protocol: np.array converts a list of them in one go
        return SimulatedEvent(
            hit_geometry=np.array([(g.volume, g.layer, g.sensitive) for g in geometry], np.int64).reshape(-1, 3),
            hit_barcode=np.array([_barcode(h.particleId) for h in hits], np.int64).reshape(-1, 5),
            hit_position=(position := np.array([h.fourPosition for h in hits], np.float64).reshape(-1, 4)),
            hit_measured=position[:, :3].copy(),
            hit_momentum=np.array([h.momentum4Before for h in hits], np.float64).reshape(-1, 4),
            hit_index=np.array([h.index for h in hits], np.int64),
            barcode=np.array([_barcode(p.particleId) for p in particles], np.int64).reshape(-1, 5),
            pdg=np.array([int(p.pdg) for p in particles], np.int64),
            charge=np.array([p.charge for p in initial], np.float64),
            vertex=np.array([p.fourPosition for p in initial], np.float64).reshape(-1, 4),
            momentum=np.array([p.fourMomentum for p in initial], np.float64).reshape(-1, 4),
        )


MM_PER_NS = 299.792458  # c


def write_acts_particles(directory: Path, number: int, particles: Particles) -> None:
    """``particles`` as the CSV file of event ``number`` that ACTS' CsvParticleReader reads (stem ``particles``)."""
    barcode = particles.barcode
    frame = pd.DataFrame({
        "particle_id_pv": barcode[:, 0], "particle_id_sv": barcode[:, 1], "particle_id_part": barcode[:, 2],
        "particle_id_gen": barcode[:, 3], "particle_id_subpart": barcode[:, 4], "particle_type": particles.pdg,
        "process": 0, "vx": particles.vertex[:, 0], "vy": particles.vertex[:, 1], "vz": particles.vertex[:, 2],
        "vt": particles.vertex[:, 3] / MM_PER_NS, "px": particles.momentum[:, 0], "py": particles.momentum[:, 1],
        "pz": particles.momentum[:, 2], "m": particles.mass, "q": particles.charge})
    frame.to_csv(directory / f"event{number:09d}-particles.csv", index=False, float_format="%.17g")


def simulate_raw(events: Iterable[Particles], seed: int, handle: Callable[[int, SimulatedEvent], None], *,
                 b_field: float = 2.0, interactions: bool = True) -> int:
    """Propagate the particles of each event through the Generic detector with Fatras, single-threaded, and call
    ``handle(number, event)`` with each simulated event (numbered from 0, in order); return the number of events.

    ``b_field`` in tesla along +z; ``interactions`` switches Fatras' material effects (scattering, energy loss,
    conversions); ``seed`` seeds them: the same particles and seed give the same hits. Hits are not digitised.
    Memory holds one event at a time (and the particles of all, on disk).
    """
    quiet = acts.logging.WARNING
    _, geometry = generic_detector()
    with tempfile.TemporaryDirectory(prefix="hepgraph-particles-") as directory:
        n_events = 0
        for n_events, particles in enumerate(events, start=1):
            write_acts_particles(Path(directory), n_events - 1, particles)
        if n_events == 0:
            raise ValueError("no events to simulate")
        sequencer = acts.examples.Sequencer(events=n_events, numThreads=1, logLevel=quiet, trackFpes=False,
                                            outputTimingFile="")
        sequencer.addReader(acts.examples.CsvParticleReader(
            level=quiet, inputDir=directory, inputStem="particles", outputParticles="particles_generated"))
        addFatras(sequencer, geometry, acts.ConstantBField(acts.Vector3(0.0, 0.0, b_field * acts.UnitConstants.T)),
                  rnd=acts.examples.RandomNumbers(seed=seed), enableInteractions=interactions, logLevel=quiet,
                  inputParticles="particles_generated", outputParticles="particles_simulated",
                  outputSimHits="simhits")
        recorder = Recorder("simhits", "particles_simulated", handle)
        sequencer.addAlgorithm(recorder)
        try:
            sequencer.run()
        except RuntimeError:
            if recorder.error is None:
                raise
        if recorder.error is not None:
            raise recorder.error
    if recorder.numbers != list(range(n_events)):
        raise RuntimeError(f"the ACTS sequencer processed events {recorder.numbers}, expected 0..{n_events - 1}")
    return n_events


def digitise(event: SimulatedEvent, resolution: Mapping[str, tuple[float, float]], noise_fraction: float,
             rng: np.random.Generator) -> SimulatedEvent:
    """``event`` with measured hit positions (errors ``resolution`` per region, mm, see
    :func:`hepgraph.data.digitisation.smear`) and noise hits added, a ``noise_fraction`` share of all hits on average
    (barcode 0, true position = measured position, zero momentum)."""
    modules = generic_modules()
    row = modules.index(event.hit_geometry)
    measured = smear(modules, row, event.hit_position[:, :3], region_resolution(event.hit_geometry[:, 0], resolution),
                     rng)
    noise_row, noise_position = noise(modules, n_noise_hits(len(row), noise_fraction, rng), rng)
    n = len(noise_row)
    return dataclasses.replace(
        event, hit_geometry=np.concatenate([event.hit_geometry, modules.geometry[noise_row]]),
        hit_barcode=np.concatenate([event.hit_barcode, np.zeros((n, 5), np.int64)]),
        hit_position=np.concatenate([event.hit_position, np.column_stack([noise_position, np.zeros(n)])]),
        hit_measured=np.concatenate([measured, noise_position]),
        hit_momentum=np.concatenate([event.hit_momentum, np.zeros((n, 4))]),
        hit_index=np.concatenate([event.hit_index, np.zeros(n, np.int64)]))


def simulate_events(output_dir: str | Path, events: Iterable[Particles], seed: int, *,
                    resolution: Mapping[str, tuple[float, float]], noise_fraction: float, first_event: int = 0,
                    compress: bool = False, **fatras) -> float:
    """Simulate ``events`` with :func:`simulate_raw` (``fatras``: its keywords), :func:`digitise` them (seeded by
    ``seed``) and write them as TrackML CSVs, one event at a time.

    Events are numbered ``first_event``, ``first_event + 1``, ...; the directory is written under a temporary
    name and renamed onto ``output_dir`` only when complete. Returns the rate in events/s (generation, Fatras,
    digitisation and writing; without building the geometry).
    """
    if first_event < 0:
        raise ValueError(f"first_event must be >= 0, got {first_event}")
    generic_modules()
    rng = np.random.default_rng(seed)
    with atomic_directory(output_dir) as tmp:
        def write(number: int, event: SimulatedEvent) -> None:
            hits, truth, particles = trackml_tables(digitise(event, resolution, noise_fraction, rng))
            write_event(tmp, event_name(first_event + number), hits, truth, particles, compress=compress)
            log.info("event %d: %d particles, %d hits (%d noise)", first_event + number, len(particles), len(hits),
                     (truth["particle_id"] == 0).sum())

        start = time.perf_counter()
        n_events = simulate_raw(events, seed, write, **fatras)
        return n_events / (time.perf_counter() - start)
