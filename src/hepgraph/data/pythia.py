"""Jets from pp and lepton collisions simulated with Pythia 8 and clustered with FastJet (anti-kT).

Each process gives jets of one truth class:

* ``"g"``, ``"q"``: hard QCD 2->2; a jet is a gluon (light-quark u, d, s) jet when the closest outgoing hard
  parton within Delta R < R is a gluon (light quark).
* ``"t"``, ``"top"``: ttbar with both W -> quarks; a jet is a top jet when the top and all its decay quarks
  (b, q, q') lie within Delta R < R of the jet axis.
* ``"w"``: WZ with W -> quarks and Z -> neutrinos; ``"z"``: ZZ with each Z -> quarks or neutrinos. A jet is a W (Z)
  jet when a hadronically decaying W (Z) and both its decay quarks lie within Delta R < R.
* ``"qcd"``: hard QCD 2->2 without any truth requirement (the top-tagging background).
* ``"dark"``: a Hidden Valley dark shower (``DARK_SHOWER``); a jet is a dark jet when a dark quark of the hard
  process lies within Delta R < R.
* ``"lepton"``: l+l- -> gamma*/Z -> q qbar (q = u, d, s, c, b) in e+e- and mu+mu- collisions; a jet is a lepton-
  collision jet when one of the two quarks lies within Delta R < R.
* ``"tau"``: l+l- -> gamma*/Z -> tau+ tau- in the same collisions; a jet is a tau jet when a tau that decays
  hadronically lies within Delta R < R.

"t", "w", "z", "g", "q" are meant for a JetNet-like window (pT ~ 1 TeV), "top", "qcd" for a top-tagging-like
window (550-650 GeV), "dark" for 150-270 GeV (its 500 GeV Z' gives dark quarks of pT up to about 250 GeV) and
"lepton", "tau" for any window below sqrt(s) / 2; the window itself is an argument. Multi-parton interactions, showers, hadronisation and
decays stay on: they shape jets. Only the two leading jets of an event are candidates; the ones inside the pT
window, inside |eta| < eta_max and matching the truth are kept. Momenta in GeV.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)

PROCESSES = ("g", "q", "t", "w", "z", "qcd", "top", "dark", "lepton", "tau")
LEPTON_COLLIDER = ("lepton", "tau")
"""Processes of lepton collisions; the others are pp collisions."""
BEAMS = {"pp": ((2212, 2212),), "leptons": ((11, -11), (13, -13))}
"""PDG ids (idA, idB) of the beams of each collision: protons, or electrons and muons (the thesis's lepton
collisions had "any combination of electrons and muons"; each sqrt_s is run with both pairs)."""
ANOMALY_PROCESSES = {"qcd_light": "qcd", "dark": "dark", "quark": "q", "gluon": "g", "lepton": "lepton", "tau": "tau"}
"""The process simulating each dataset of the anomaly thesis's cross matrix that is not in the top-tagging data."""
TWO_TO_ONE = ("dark", "lepton", "tau")
"""Processes produced through an s-channel resonance (2 -> 1): PhaseSpace:pTHat cuts do not apply to them."""
SEED_MAX = 900_000_000
N_LEADING = 2
PTHAT_MIN_FRACTION = 0.8
"""Default PhaseSpace:pTHatMin / pt_min. Jets that gained pT beyond their hard parton's (ISR recoil, merged
radiation) are lost below it: measured for gluon jets at 550-650 GeV, 15-24 % of them come from partons below
0.8 * pt_min (3 % below 0.6), and they are heavier (median mass 124 vs 101 GeV); 0.6 costs ~4x the time."""
PTHAT_MAX_FRACTION = 1.5
"""PhaseSpace:pTHatMax = this * pt_max: jets rarely lose more than a third of their parton's pT."""
LIGHT_QUARKS = (1, 2, 3)
QUARKS = (1, 2, 3, 4, 5)

_W_TO_QUARKS = ("24:onMode = off", "24:onIfAny = 1 2 3 4 5")
_DARK_RHO_DECAYS = tuple(f"{rho}:{'oneChannel' if q == 1 else 'addChannel'} = 1 0.25 91 {q} -{q}"
                         for rho in (4900113, 4900213) for q in (1, 2, 3, 4))
DARK_SHOWER = (
    # Production: q qbar -> Z' (Pythia's Zv, 500 GeV) -> a dark-quark pair; the Jacobian peak of the dark quarks'
    # pT (m_Z' / 2 = 250 GeV) lies in the thesis's 150-270 GeV window.
    "HiddenValley:ffbar2Zv = on", "4900023:m0 = 500.", "4900023:onMode = off", "4900023:onIfAny = 4900101",
    # Dark QCD: SU(3) with two light dark flavours and a running coupling, Lambda_D = 5 GeV; the dark shower stops
    # at 1.1 Lambda_D, as the Snowmass dark-shower report recommends (Albouy et al. 2022, arXiv:2203.09503).
    "HiddenValley:Ngauge = 3", "HiddenValley:nFlav = 2", "HiddenValley:FSR = on", "HiddenValley:fragment = on",
    "HiddenValley:alphaOrder = 1", "HiddenValley:Lambda = 5.", "HiddenValley:pTminFSR = 5.5", "4900101:m0 = 2.5",
    # Dark hadrons in the pattern of the light dark-matter model of Bernreuther, Kahlhoefer, Kraemer and Tunney
    # (2019, arXiv:1907.04346): dark pions (5 GeV) are stable and invisible (the dark matter); dark rhos (8 GeV
    # < 2 m_pi, so rho -> pi pi is closed) decay promptly to SM quarks (u, d, s, c alike) through the mediator,
    # here every dark rho, a simplification. Vector mesons are 3/4 of the dark hadrons (spin counting).
    "4900111:m0 = 5.", "4900211:m0 = 5.", "4900113:m0 = 8.", "4900213:m0 = 8.", "HiddenValley:probVector = 0.75",
    *_DARK_RHO_DECAYS,
)
"""Pythia settings of the light dark-matter jets. The thesis's sample (made by T. Finke with the model of the
thesis's ref. [40], whose parameters it does not give) is not public: these parameters are this project's."""
_PROCESS_SETTINGS: dict[str, tuple[str, ...]] = {
    "g": ("HardQCD:all = on",),
    "q": ("HardQCD:all = on",),
    "qcd": ("HardQCD:all = on",),
    "t": ("Top:gg2ttbar = on", "Top:qqbar2ttbar = on", *_W_TO_QUARKS),
    "top": ("Top:gg2ttbar = on", "Top:qqbar2ttbar = on", *_W_TO_QUARKS),
    "w": ("WeakDoubleBoson:ffbar2ZW = on", *_W_TO_QUARKS, "23:onMode = off", "23:onIfAny = 12 14 16"),
    "z": ("WeakDoubleBoson:ffbar2gmZgmZ = on", "WeakZ0:gmZmode = 2", "23:onMode = off",
          "23:onIfAny = 1 2 3 4 5 12 14 16"),
    "dark": DARK_SHOWER,
    "lepton": ("WeakSingleBoson:ffbar2gmZ = on", "23:onMode = off", "23:onIfAny = 1 2 3 4 5"),
    "tau": ("WeakSingleBoson:ffbar2gmZ = on", "23:onMode = off", "23:onIfAny = 15"),
}
_RESONANCE = {"t": 6, "top": 6, "w": 24, "z": 23}
_OUTGOING = {"g": None, "q": None, "dark": (4900101,), "lepton": QUARKS, "tau": (15,)}
"""|pdg id| of the outgoing hard-process particles a jet of these processes is matched to (None: any parton)."""


@dataclass(frozen=True)
class JetSample:
    """Simulated jets with their constituents; momenta in GeV."""

    p4: np.ndarray
    """float64 [N, M, 4] constituent (E, px, py, pz), pT-descending, zero-padded."""
    pdgid: np.ndarray
    """int32 [N, M] PDG id, 0 for padding."""
    charge: np.ndarray
    """float32 [N, M] charge in units of e, 0 for padding."""
    jet_p4: np.ndarray
    """float64 [N, 4] jet (E, px, py, pz), E-scheme sum of all constituents (before truncation to M)."""
    n_constituents: np.ndarray
    """int32 [N] multiplicity before truncation to M."""
    parton_p4: np.ndarray
    """float64 [N, 4] matched truth object (hard parton, top, W, Z, dark quark or decaying tau); 0 for "qcd"."""


@dataclass(frozen=True)
class _Truth:
    """A truth object of the hard process: its (rapidity, phi), its pdg id, its decay quarks' (y, phi), its p4."""

    id: int
    y: float
    phi: float
    products: np.ndarray  # float64 [K, 2] (y, phi) of the decay quarks; [0, 2] for a bare parton
    p4: np.ndarray  # float64 [4] (E, px, py, pz)


def _delta_r(y1: float | np.ndarray, phi1: float | np.ndarray, y2: float, phi2: float) -> np.ndarray:
    dphi = (np.asarray(phi1) - phi2 + np.pi) % (2 * np.pi) - np.pi
    return np.hypot(np.asarray(y1) - y2, dphi)


def _truth_of(particle) -> tuple[float, float, np.ndarray]:
    return particle.y(), particle.phi(), np.array([particle.e(), particle.px(), particle.py(), particle.pz()])


def _final_products(record, i: int) -> list[int]:
    """Indices of the final (positive-status) descendants of entry ``i`` in the hard-process record."""
    out = []
    for d in record[i].daughterList():
        out.extend([d] if record[d].status() > 0 else _final_products(record, d))
    return out


def _bare(particle) -> _Truth:
    y, phi, p4 = _truth_of(particle)
    return _Truth(particle.id(), y, phi, np.zeros((0, 2)), p4)


def _truth_objects(record, event, process: str) -> list[_Truth]:
    """Truth objects a jet of ``process`` may match, read from Pythia's hard-process ``record`` or, for the
    hadronically decaying taus (the last copy of each tau, as it decays), from its full ``event`` record."""
    if process == "qcd":
        return []
    if process == "tau":
        return [_bare(event[i]) for i in range(event.size()) if event[i].idAbs() == 15
                and event[i].iBotCopyId() == i and not any(event[d].idAbs() in (11, 13)
                                                           for d in event[i].daughterList())]
    if process in ("g", "q"):  # outgoing partons of the hard 2 -> 2
        return [_bare(record[i]) for i in range(record.size()) if record[i].status() == 23
                and record[i].mother1() == 3]
    if process in _OUTGOING:  # outgoing products of the resonance
        return [_bare(record[i]) for i in range(record.size()) if record[i].status() == 23
                and record[i].idAbs() in _OUTGOING[process]]
    objects = []
    for i in range(record.size()):
        p = record[i]
        if p.idAbs() != _RESONANCE[process] or p.status() != -22:
            continue
        products = _final_products(record, i)
        if not all(record[d].idAbs() in QUARKS for d in products):
            continue  # leptonic or invisible decay
        y, phi, p4 = _truth_of(p)
        coords = np.array([[record[d].y(), record[d].phi()] for d in products])
        objects.append(_Truth(p.id(), y, phi, coords, p4))
    return objects


def _has_flavour(process: str, pdg_id: int) -> bool:
    """Whether the truth object of id ``pdg_id`` nearest to a jet makes it a jet of ``process``: a gluon for "g",
    a u, d or s quark for "q", any of ``_truth_objects`` for the other processes matched to one object."""
    if process == "g":
        return pdg_id == 21
    return abs(pdg_id) in LIGHT_QUARKS if process == "q" else True


def _may_match(process: str, objects: list[_Truth]) -> bool:
    """Whether an event with these truth objects can hold a jet of ``process`` (else skip its clustering)."""
    if process in _OUTGOING:
        return any(_has_flavour(process, o.id) for o in objects)
    return process == "qcd" or bool(objects)


def _match(process: str, jet_y: float, jet_phi: float, objects: list[_Truth], jet_r: float) -> np.ndarray | None:
    """p4 of the truth object that the jet at (y, phi) matches, zeros for "qcd", None when unmatched."""
    if process == "qcd":
        return np.zeros(4)
    if process in _OUTGOING:  # the nearest object, within R
        dr = [float(_delta_r(o.y, o.phi, jet_y, jet_phi)) for o in objects]
        best = objects[int(np.argmin(dr))]
        return best.p4 if min(dr) < jet_r and _has_flavour(process, best.id) else None
    for o in objects:
        if _delta_r(o.y, o.phi, jet_y, jet_phi) < jet_r and np.all(
                _delta_r(o.products[:, 0], o.products[:, 1], jet_y, jet_phi) < jet_r):
            return o.p4
    return None


def _pythia_settings(process: str, seed: int, pthat_min: float, pthat_max: float, sqrt_s: float,
                     beams: tuple[int, int] = (2212, 2212)) -> list[str]:
    pthat = () if process in TWO_TO_ONE else (f"PhaseSpace:pTHatMin = {pthat_min!r}",
                                              f"PhaseSpace:pTHatMax = {pthat_max!r}")
    beam_ids = () if beams == (2212, 2212) else (f"Beams:idA = {beams[0]}", f"Beams:idB = {beams[1]}")
    return [
        *beam_ids,
        f"Beams:eCM = {sqrt_s!r}",
        *_PROCESS_SETTINGS[process],
        *pthat,
        "Random:setSeed = on",
        f"Random:seed = {seed}",
        "Print:quiet = on",
    ]


def _collision_seed(seed: int, k: int) -> int:
    """Pythia seed of the ``k``-th collision setting of a run seeded with ``seed``: ``seed`` itself for the first,
    then seeds derived from (seed, k), so that no two settings of a run share their random numbers."""
    return seed if k == 0 else int(np.random.SeedSequence([seed, k]).generate_state(1)[0]) % SEED_MAX + 1


def _validate(process: str, n_jets: int, seed: int, pt_min: float, pt_max: float, eta_max: float, jet_r: float,
              max_constituents: int, energies: tuple[float, ...], pthat_min_fraction: float) -> None:
    if process not in PROCESSES:
        raise ValueError(f"process {process!r} is not one of {PROCESSES}")
    if not 1 <= seed <= SEED_MAX:
        raise ValueError(f"seed {seed} is outside 1..{SEED_MAX}, the range Pythia's Random:seed accepts")
    if n_jets < 1 or max_constituents < 1:
        raise ValueError(f"n_jets ({n_jets}) and max_constituents ({max_constituents}) must be >= 1")
    if not 0 < pt_min < pt_max:
        raise ValueError(f"pT window [{pt_min}, {pt_max}] GeV must satisfy 0 < pt_min < pt_max")
    if not energies:
        raise ValueError("sqrt_s holds no collision energy")
    for sqrt_s in energies:
        if process in LEPTON_COLLIDER and not pt_min < sqrt_s / 2:
            raise ValueError(f"pt_min = {pt_min} GeV must be below sqrt_s / 2 = {sqrt_s / 2} GeV, the largest pT "
                             "a jet of a lepton collision can have")
        if process not in LEPTON_COLLIDER and not PTHAT_MAX_FRACTION * pt_max < sqrt_s / 2:
            raise ValueError(f"pT window [{pt_min}, {pt_max}] GeV must satisfy {PTHAT_MAX_FRACTION} * pt_max < "
                             f"sqrt_s / 2 = {sqrt_s / 2} GeV")
    if eta_max <= 0 or jet_r <= 0:
        raise ValueError(f"eta_max ({eta_max}) and jet_r ({jet_r}) must be > 0")
    if not 0 < pthat_min_fraction <= 1:
        raise ValueError(f"pthat_min_fraction ({pthat_min_fraction}) must be in (0, 1]")


def _visible_final_state(event) -> np.ndarray:
    """float64 [K, 6] (E, px, py, pz, pdgid, charge) of the visible final-state particles (no neutrinos)."""
    rows = [(p.e(), p.px(), p.py(), p.pz(), p.id(), p.charge()) for p in event if p.isFinal() and p.isVisible()]
    return np.array(rows, dtype=np.float64).reshape(-1, 6)


def _leading_jets(particles: np.ndarray, jet_def, pt_min: float) -> tuple[object, list]:
    """The ``N_LEADING`` hardest jets above ``pt_min`` of ``particles`` [K, >=4] (E, px, py, pz, ...).

    Constituents carry their row in ``particles`` as user index. Returns the cluster sequence too: the jets
    refer to it and must not outlive it.
    """
    import fastjet

    pseudojets = []
    for i, (e, px, py, pz) in enumerate(particles[:, :4].tolist()):
        pj = fastjet.PseudoJet(px, py, pz, e)
        pj.set_user_index(i)
        pseudojets.append(pj)
    sequence = fastjet.ClusterSequence(pseudojets, jet_def)
    return sequence, fastjet.sorted_by_pt(sequence.inclusive_jets(pt_min))[:N_LEADING]


def simulate_jets(process: str, n_jets: int, seed: int, *, pt_min: float, pt_max: float, eta_max: float,
                  jet_r: float = 0.8, max_constituents: int = 200, sqrt_s: float | Sequence[float] = 13000.0,
                  pthat_min_fraction: float = PTHAT_MIN_FRACTION) -> JetSample:
    """Generate ``n_jets`` jets of ``process`` (see the module docstring) in collisions at ``sqrt_s`` GeV.

    The collisions are pp, or e+e- and mu+mu- for the ``LEPTON_COLLIDER`` processes (``BEAMS``). Each energy of
    ``sqrt_s`` (one or several) and each beam pair is one fresh Pythia instance, and the jets are split evenly
    over them (the first ones taking one more); the first is seeded with ``seed`` (1..900000000), the others
    with seeds derived from it: the same arguments give bit-identical jets.
    Jets are anti-kT with radius ``jet_r`` on all visible final-state particles, with pt_min <= pT <= pt_max
    (GeV) and |eta| < eta_max; only the two leading jets of an event are candidates. Constituents beyond the
    ``max_constituents`` hardest are dropped. Hard 2 -> 2 processes are generated with pTHat in
    [pthat_min_fraction * pt_min, PTHAT_MAX_FRACTION * pt_max] (see PTHAT_MIN_FRACTION for the trade-off).
    """
    import fastjet

    energies = tuple(float(e) for e in np.atleast_1d(sqrt_s))
    _validate(process, n_jets, seed, pt_min, pt_max, eta_max, jet_r, max_constituents, energies, pthat_min_fraction)
    collisions = [(beams, e) for e in energies for beams in BEAMS["leptons" if process in LEPTON_COLLIDER else "pp"]]
    shares = [n_jets // len(collisions) + (k < n_jets % len(collisions)) for k in range(len(collisions))]
    jet_def = fastjet.JetDefinition(fastjet.antikt_algorithm, jet_r)
    m = max_constituents
    sample = JetSample(p4=np.zeros((n_jets, m, 4)), pdgid=np.zeros((n_jets, m), dtype=np.int32),
                       charge=np.zeros((n_jets, m), dtype=np.float32), jet_p4=np.zeros((n_jets, 4)),
                       n_constituents=np.zeros(n_jets, dtype=np.int32), parton_p4=np.zeros((n_jets, 4)))
    start = 0
    for k, ((beams, energy), share) in enumerate(zip(collisions, shares)):
        if share:
            settings = _pythia_settings(process, _collision_seed(seed, k), pthat_min_fraction * pt_min,
                                        PTHAT_MAX_FRACTION * pt_max, energy, beams)
            _fill(sample, start, start + share, _pythia(settings, process), f"{beams} at {energy:g} GeV", process,
                  jet_def, pt_min, pt_max, eta_max, jet_r)
            start += share
    return sample


def _pythia(settings: list[str], process: str):
    """An initialised Pythia instance with ``settings``."""
    import pythia8mc as pythia8

    pythia = pythia8.Pythia("", False)
    for setting in settings:
        if not pythia.readString(setting):
            raise RuntimeError(f"Pythia rejected the setting {setting!r}")
    if not pythia.init():
        raise RuntimeError(f"Pythia failed to initialise for process {process!r} with {settings}")
    return pythia


def _fill(sample: JetSample, start: int, stop: int, pythia, collision: str, process: str, jet_def, pt_min: float,
          pt_max: float, eta_max: float, jet_r: float) -> None:
    """Write jets ``start:stop`` of ``sample`` with events of ``pythia``, which collides ``collision`` (beam ids
    and energy, for the messages); see ``simulate_jets``."""
    m = sample.p4.shape[1]
    max_events = 1000 + 200 * (stop - start)
    n, n_events = start, 0
    while n < stop:
        if n_events >= max_events:
            raise RuntimeError(f"only {n - start} of {stop - start} {process!r} jets in {n_events} events of "
                               f"{collision}: is the window pT in [{pt_min}, {pt_max}] GeV, |eta| < {eta_max} "
                               "reachable for this process?")
        n_events += 1
        if not pythia.next():
            continue
        objects = _truth_objects(pythia.process, pythia.event, process)
        if not _may_match(process, objects):
            continue
        particles = _visible_final_state(pythia.event)
        _sequence, jets = _leading_jets(particles, jet_def, pt_min)  # the jets need their sequence alive
        for jet in jets:
            if n == stop or not (jet.pt() <= pt_max and abs(jet.eta()) < eta_max):
                continue
            truth = _match(process, jet.rap(), jet.phi(), objects, jet_r)
            if truth is None:
                continue
            idx = np.array([c.user_index() for c in jet.constituents()])
            idx = idx[np.argsort(-np.hypot(particles[idx, 1], particles[idx, 2]), kind="stable")]
            k = min(len(idx), m)
            sample.p4[n, :k] = particles[idx[:k], :4]
            sample.pdgid[n, :k] = particles[idx[:k], 4]
            sample.charge[n, :k] = particles[idx[:k], 5]
            sample.jet_p4[n] = (jet.e(), jet.px(), jet.py(), jet.pz())
            sample.n_constituents[n] = len(idx)
            sample.parton_p4[n] = truth
            n += 1
            if (n - start) % max(1, (stop - start) // 10) == 0:
                log.info("%s, %s: %d/%d jets after %d events", process, collision, n - start, stop - start,
                         n_events)
