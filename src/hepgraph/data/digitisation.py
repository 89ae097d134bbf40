"""Hit positions as TrackML's digitisation measures them, and its noise hits, on the modules of the Generic detector.

TrackML's hits are the centres of charge clusters on a module's mid-plane, so a hit's error is set by the cell
pitch: fine across a strip, coarse along it. Here each true crossing point is moved, in its module's local frame,
by Gaussian errors (``loc0``, ``loc1``) per detector region (the ACTS smearing digitisation), redrawn while it
falls outside the module, and projected onto the module's mid-plane. ``loc0`` is the precise direction (r-phi in
the barrels and the end caps), ``loc1`` the coarse one (z in the barrels, r in the end caps).

:data:`RESOLUTION` holds the spread of TrackML's own hits: the standard deviation of measured minus true
position along each module axis (``u``, ``v`` of the TrackML detector description, ``detectors.csv``), measured
on the real TrackML event of the reference data over 2,631 pixel, 1,639 short-strip and 428 long-strip hits. It is
75-95 % of pitch / sqrt(12), the spread of a single-cell cluster (pitches: pixels 50 um x 56.25 um, short strips
80 um x 1.2 mm, long strips 120 um x 10.4-10.8 mm; these are the values of ACTS's smearing configuration of the
Generic detector, ``Examples/Configs/generic-digi-smearing-config.json``), because TrackML's clusters share charge
between cells.

Noise hits are spread uniformly over the modules, as in TrackML, where the reference event has 33-65 noise hits
per thousand modules in every volume (pixels and strips alike), and uniformly over each module's area.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

REGIONS = {"pixel": (7, 8, 9), "short_strip": (12, 13, 14), "long_strip": (16, 17, 18)}
"""Volume ids of the Generic (TrackML) detector's three regions: end cap, barrel, end cap each."""
RESOLUTION = {"pixel": (0.0116, 0.0106), "short_strip": (0.0180, 0.276), "long_strip": (0.0256, 2.94)}
"""Default Gaussian hit error (loc0, loc1) per region, mm: the spread of TrackML's hits (see the module doc)."""
NOISE_FRACTION = 829 / 5527
"""TrackML's share of noise hits among all hits: 829 of the 5,527 hits of the reference event (15.0 %)."""
MAX_REDRAWS = 100


def _key(volume: np.ndarray, layer: np.ndarray, sensitive: np.ndarray) -> np.ndarray:
    return (np.asarray(volume, np.int64) << 40) | (np.asarray(layer, np.int64) << 20) | np.asarray(sensitive, np.int64)


@dataclass(frozen=True)
class Modules:
    """The sensitive modules [M] of a detector, sorted by geometry id.

    ``geometry`` int64 [M, 3] (volume, layer, sensitive); ``centre`` float64 [M, 3] (mm); ``rotation`` float64
    [M, 3, 3] (columns: the local x, y and normal axes in global coordinates); ``half_x`` float64 [M, 2] (half
    width at local y = -``half_y`` and at +``half_y``, mm: equal for rectangles, different for trapezoids);
    ``half_y`` float64 [M] (mm).
    """

    geometry: np.ndarray
    centre: np.ndarray
    rotation: np.ndarray
    half_x: np.ndarray
    half_y: np.ndarray

    def index(self, geometry: np.ndarray) -> np.ndarray:
        """Row [H] of each of H (volume, layer, sensitive) triples [H, 3]; ValueError for an unknown one."""
        geometry = np.asarray(geometry, np.int64).reshape(-1, 3)
        keys = _key(*self.geometry.T)
        query = _key(*geometry.T)
        row = np.clip(np.searchsorted(keys, query), 0, len(keys) - 1)
        unknown = keys[row] != query
        if unknown.any():
            raise ValueError(f"no sensitive module (volume, layer, sensitive) {geometry[unknown][0].tolist()} "
                             "in the detector")
        return row

    def inside(self, row: np.ndarray, local: np.ndarray) -> np.ndarray:
        """bool [H]: whether local points [H, 2] (mm) lie within modules ``row`` [H]."""
        half_y = self.half_y[row]
        low, high = self.half_x[row].T
        width = low + (high - low) * (local[:, 1] + half_y) / (2 * half_y)
        return (np.abs(local[:, 1]) <= half_y) & (np.abs(local[:, 0]) <= width)

    def to_local(self, row: np.ndarray, position: np.ndarray) -> np.ndarray:
        """Local (x, y, normal) float64 [H, 3] of global points [H, 3] on modules ``row`` [H]."""
        return np.einsum("hji,hj->hi", self.rotation[row], position - self.centre[row])

    def to_global(self, row: np.ndarray, local: np.ndarray) -> np.ndarray:
        """Global float64 [H, 3] of local points (x, y) [H, 2] on the mid-planes of modules ``row`` [H]."""
        return self.centre[row] + np.einsum("hij,hj->hi", self.rotation[row][:, :, :2], local)


@functools.cache
def generic_modules() -> Modules:
    """The 18,728 sensitive modules of the ACTS Generic detector."""
    import acts

    from hepgraph.data.tracking_sim import generic_detector

    _, geometry = generic_detector()
    context = acts.GeometryContext.dangerouslyDefaultConstruct()
    rows = []
    for gid, surface in geometry.geoIdSurfaceMap().items():
        if gid.sensitive == 0:
            continue
        transform = surface.localToGlobalTransform(context)
        values = list(surface.bounds.values())
        if type(surface.bounds).__name__ == "RectangleBounds":  # (min x, min y, max x, max y)
            half_x, half_y = (values[2], values[2]), values[3]
        elif type(surface.bounds).__name__ == "TrapezoidBounds":  # (half x at -y, half x at +y, half y, angle)
            half_x, half_y = (values[0], values[1]), values[2]
        else:
            raise ValueError(f"module {gid} has {type(surface.bounds).__name__}; expected rectangles or trapezoids")
        rows.append(((gid.volume, gid.layer, gid.sensitive), np.array(transform.translation),
                     [[transform.rotation[i, j] for j in range(3)] for i in range(3)], half_x, half_y))
    rows.sort(key=lambda r: r[0])
    return Modules(geometry=np.array([r[0] for r in rows], np.int64),
                   centre=np.array([r[1] for r in rows], np.float64).reshape(-1, 3),
                   rotation=np.array([r[2] for r in rows], np.float64).reshape(-1, 3, 3),
                   half_x=np.array([r[3] for r in rows], np.float64).reshape(-1, 2),
                   half_y=np.array([r[4] for r in rows], np.float64))


def region_resolution(volume: np.ndarray, resolution: dict[str, tuple[float, float]]) -> np.ndarray:
    """float64 [H, 2]: the (loc0, loc1) error (mm) of hits in volumes [H], from ``resolution`` per region of
    :data:`REGIONS`."""
    volume = np.asarray(volume)
    sigma = np.full((len(volume), 2), np.nan)
    for region, volumes in REGIONS.items():
        if region not in resolution:
            raise ValueError(f"no resolution for region {region!r}; give (loc0, loc1) in mm for each of "
                             f"{', '.join(REGIONS)}")
        sigma[np.isin(volume, volumes)] = resolution[region]
    if np.isnan(sigma).any():
        raise ValueError(f"hits in volume(s) {sorted(set(volume[np.isnan(sigma[:, 0])]))}, which are in no region "
                         f"of {REGIONS}")
    return sigma


def smear(modules: Modules, row: np.ndarray, position: np.ndarray, sigma: np.ndarray,
          rng: np.random.Generator) -> np.ndarray:
    """Measured positions float64 [H, 3] (mm) of true crossing points [H, 3] on modules ``row`` [H]: moved by
    Gaussian errors ``sigma`` [H, 2] (mm) along the local axes, redrawn while outside the module (up to
    ``MAX_REDRAWS`` times, then left at the true point), on the module's mid-plane."""
    true = modules.to_local(row, position)[:, :2]
    local = true.copy()
    todo = np.arange(len(row))
    for _ in range(MAX_REDRAWS):
        if not len(todo):
            break
        trial = true[todo] + rng.normal(size=(len(todo), 2)) * sigma[todo]
        ok = modules.inside(row[todo], trial)
        local[todo[ok]] = trial[ok]
        todo = todo[~ok]
    return modules.to_global(row, local)


def noise(modules: Modules, n_hits: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n_hits`` noise hits, each on a module drawn uniformly and uniform over its area: rows int64 [n] and
    global positions float64 [n, 3] (mm) on the modules' mid-planes."""
    row = rng.integers(len(modules.half_y), size=n_hits)
    local = np.zeros((n_hits, 2))
    todo = np.arange(n_hits)
    while len(todo):  # rejection from the bounding rectangle: accepts at least half of the draws
        half = np.stack([modules.half_x[row[todo]].max(axis=1), modules.half_y[row[todo]]], axis=1)
        trial = rng.uniform(-1.0, 1.0, size=(len(todo), 2)) * half
        ok = modules.inside(row[todo], trial)
        local[todo[ok]] = trial[ok]
        todo = todo[~ok]
    return row, modules.to_global(row, local)


def n_noise_hits(n_signal: int, fraction: float, rng: np.random.Generator) -> int:
    """Poisson number of noise hits whose expected share of all hits is ``fraction`` next to ``n_signal`` hits."""
    if not 0 <= fraction < 1:
        raise ValueError(f"noise fraction must be in [0, 1), got {fraction}")
    return int(rng.poisson(n_signal * fraction / (1 - fraction)))
