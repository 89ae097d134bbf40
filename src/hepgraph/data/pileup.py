"""Pile-up for the calorimeter images: minimum-bias pp interactions from Pythia 8, overlaid on a jet's particles.

A minimum-bias interaction is Pythia's full inelastic cross-section (``SoftQCD:inelastic``: non-diffractive plus
single, double and central diffractive), with its visible final-state particles. Every jet gets a Poisson number
(mean ``mu``) of them, all from the nominal interaction point (the luminous region's ~5 cm length is ignored).
The real E2E files are 2012 CMS simulation with that year's pile-up, about 21 interactions per crossing on average.
Momenta in GeV.
"""

from __future__ import annotations

import numpy as np

SEED_MAX = 900_000_000  # Pythia's Random:seed range


def minimum_bias(n_events: int, seed: int, sqrt_s: float) -> list[np.ndarray]:
    """``n_events`` minimum-bias interactions at ``sqrt_s`` GeV, each float64 [K, 6] (E, px, py, pz, pdgid, charge)
    of its visible final-state particles. ``seed`` (1..900000000) seeds a fresh Pythia: same seed, same events."""
    import pythia8mc as pythia8

    if not 1 <= seed <= SEED_MAX:
        raise ValueError(f"seed {seed} is outside 1..{SEED_MAX}, the range Pythia's Random:seed accepts")
    if n_events == 0:
        return []
    pythia = pythia8.Pythia("", False)
    for setting in ("SoftQCD:inelastic = on", f"Beams:eCM = {sqrt_s!r}", "Random:setSeed = on",
                    f"Random:seed = {seed}", "Print:quiet = on"):
        if not pythia.readString(setting):
            raise RuntimeError(f"Pythia rejected the setting {setting!r}")
    if not pythia.init():
        raise RuntimeError(f"Pythia failed to initialise minimum-bias events at sqrt_s = {sqrt_s} GeV")
    events = []
    while len(events) < n_events:
        if pythia.next():
            events.append(np.array([(p.e(), p.px(), p.py(), p.pz(), p.id(), p.charge()) for p in pythia.event
                                    if p.isFinal() and p.isVisible()], dtype=np.float64).reshape(-1, 6))
    return events


def overlay(p4: np.ndarray, pdgid: np.ndarray, charge: np.ndarray, counts: np.ndarray,
            events: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Jets' particles ``p4`` [N, M, 4], ``pdgid``, ``charge`` [N, M] with ``counts`` [N] of the minimum-bias
    ``events`` (used in order, sum(counts) of them) appended: [N, M + P, ...], zero-padded to the largest P."""
    if len(events) != int(np.sum(counts)):
        raise ValueError(f"overlay needs sum(counts) = {int(np.sum(counts))} minimum-bias events, got {len(events)}")
    bounds = np.concatenate([[0], np.cumsum(counts)]).astype(int)
    extra = [np.concatenate(events[a:b]) if b > a else np.zeros((0, 6)) for a, b in zip(bounds[:-1], bounds[1:])]
    width = max((len(e) for e in extra), default=0)
    added = np.zeros((len(extra), width, 6))
    for row, particles in zip(added, extra):
        row[:len(particles)] = particles
    return (np.concatenate([p4, added[..., :4]], axis=1),
            np.concatenate([pdgid, added[..., 4].astype(np.asarray(pdgid).dtype)], axis=1),
            np.concatenate([charge, added[..., 5].astype(np.asarray(charge).dtype)], axis=1))
