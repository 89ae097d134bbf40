"""Simulate tracking events (Pythia 8 ttbar + pile-up, or a particle gun) with ACTS Fatras in the Generic detector,
digitise them as TrackML does, add noise hits and write them as TrackML CSVs."""

from __future__ import annotations

import argparse
import logging

from hepgraph.data.collisions import GUN_PDG, particle_gun, ttbar_events
from hepgraph.data.digitisation import NOISE_FRACTION, REGIONS, RESOLUTION
from hepgraph.data.tracking_sim import simulate_events

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--n-events", type=int, required=True)
    parser.add_argument("--process", choices=("ttbar", "gun"), default="ttbar",
                        help="ttbar: Pythia 8 top pairs at 14 TeV plus pile-up; gun: a particle gun")
    parser.add_argument("--pileup", type=float, default=0.0,
                        help="ttbar: mean number of minimum-bias pile-up interactions per event (Poisson)")
    parser.add_argument("--pt-min", type=float, required=True,
                        help="GeV: ttbar: particles below it are not simulated; gun: low end of its uniform pT")
    parser.add_argument("--eta-max", type=float, required=True, help="particles within |eta| < eta-max")
    parser.add_argument("--n-particles", type=int, default=50, help="gun: particles per event (one vertex)")
    parser.add_argument("--pt-max", type=float, default=10.0, help="gun: high end of its uniform pT, GeV")
    parser.add_argument("--pdg", type=int, default=211, choices=tuple(GUN_PDG),
                        help="gun: particle type, |PDG code| (charge random): 11 e, 13 mu, 211 pi, 321 K, 2212 p")
    parser.add_argument("--vertex-sigma-xy", type=float, default=0.0125, help="vertex spread in x and y, mm")
    parser.add_argument("--vertex-sigma-z", type=float, default=55.5, help="vertex spread in z, mm")
    parser.add_argument("--b-field", type=float, default=2.0, help="solenoid field along +z, tesla")
    parser.add_argument("--noise-fraction", type=float, default=NOISE_FRACTION,
                        help="expected share of noise hits among all hits")
    parser.add_argument("--resolution", nargs=3, action="append", metavar=("REGION", "LOC0", "LOC1"), default=[],
                        help=f"Gaussian hit error (mm) across and along the cells of a region ({', '.join(REGIONS)}); "
                             "repeat per region; default: TrackML's pitch / sqrt(12)")
    parser.add_argument("--first-event", type=int, default=None,
                        help="number of the first event (default: seed * n-events, so shards of different "
                             "seeds do not share event numbers)")
    parser.add_argument("--gzip", action="store_true", help="write .csv.gz files")
    parser.add_argument("--output-dir", required=True, help="directory to write event*-{hits,truth,particles}.csv to")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    resolution = dict(RESOLUTION)
    for region, loc0, loc1 in args.resolution:
        if region not in REGIONS:
            parser.error(f"--resolution: unknown region {region!r}; regions: {', '.join(REGIONS)}")
        resolution[region] = (float(loc0), float(loc1))
    vertex = dict(vertex_sigma_xy=args.vertex_sigma_xy, vertex_sigma_z=args.vertex_sigma_z)
    if args.process == "ttbar":
        events = ttbar_events(args.n_events, args.seed, pileup=args.pileup, pt_min=args.pt_min, eta_max=args.eta_max,
                              **vertex)
        what = f"ttbar + <{args.pileup:g}> pile-up (pT > {args.pt_min:g} GeV, |eta| < {args.eta_max:g})"
    else:
        events = particle_gun(args.n_events, args.seed, n_particles=args.n_particles, pt_min=args.pt_min,
                              pt_max=args.pt_max, eta_max=args.eta_max, pdg=args.pdg, **vertex)
        what = (f"gun of {args.n_particles} |pdg| {args.pdg} (pT {args.pt_min:g}-{args.pt_max:g} GeV, "
                f"|eta| < {args.eta_max:g})")
    first_event = args.seed * args.n_events if args.first_event is None else args.first_event
    log.info("simulating %d events, %s, B = %g T, seed %d; resolution %s mm, noise fraction %g", args.n_events,
             what, args.b_field, args.seed, resolution, args.noise_fraction)
    rate = simulate_events(args.output_dir, events, args.seed, resolution=resolution,
                           noise_fraction=args.noise_fraction, first_event=first_event, compress=args.gzip,
                           b_field=args.b_field)
    log.info("wrote events %d-%d to %s (simulation %.2f events/s)", first_event, first_event + args.n_events - 1,
             args.output_dir, rate)


if __name__ == "__main__":
    main()
