"""Simulate particle-gun tracking events with ACTS Fatras in the Generic detector and write them as TrackML CSVs."""

from __future__ import annotations

import argparse
import logging

from hepgraph.data.tracking_sim import GUN_PDG, simulate_events

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--n-events", type=int, required=True)
    parser.add_argument("--n-particles", type=int, required=True, help="particles per event (one vertex)")
    parser.add_argument("--pt-min", type=float, required=True, help="particle pT range, GeV (uniform)")
    parser.add_argument("--pt-max", type=float, required=True)
    parser.add_argument("--eta-max", type=float, required=True, help="particles uniform in eta in [-eta-max, eta-max]")
    parser.add_argument("--pdg", type=int, default=211, choices=GUN_PDG,
                        help="particle type, |PDG code| (charge random): 11 e, 13 mu, 211 pi, 321 K, 2212 p")
    parser.add_argument("--vertex-sigma-xy", type=float, default=0.0125, help="vertex spread in x and y, mm")
    parser.add_argument("--vertex-sigma-z", type=float, default=55.5, help="vertex spread in z, mm")
    parser.add_argument("--b-field", type=float, default=2.0, help="solenoid field along +z, tesla")
    parser.add_argument("--first-event", type=int, default=None,
                        help="number of the first event (default: seed * n-events, so shards of different "
                             "seeds do not share event numbers)")
    parser.add_argument("--gzip", action="store_true", help="write .csv.gz files")
    parser.add_argument("--output-dir", required=True, help="directory to write event*-{hits,truth,particles}.csv to")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    first_event = args.seed * args.n_events if args.first_event is None else args.first_event
    log.info("simulating %d events of %d particles (|pdg| %d, pT %g-%g GeV, |eta| < %g, B = %g T), seed %d",
             args.n_events, args.n_particles, args.pdg, args.pt_min, args.pt_max, args.eta_max, args.b_field,
             args.seed)
    rate = simulate_events(args.output_dir, args.n_events, args.seed, first_event=first_event, compress=args.gzip,
                           n_particles=args.n_particles, pt_min=args.pt_min, pt_max=args.pt_max,
                           eta_max=args.eta_max, pdg=args.pdg, vertex_sigma_xy=args.vertex_sigma_xy,
                           vertex_sigma_z=args.vertex_sigma_z, b_field=args.b_field)
    log.info("wrote events %d-%d to %s (simulation %.1f events/s)", first_event, first_event + args.n_events - 1,
             args.output_dir, rate)


if __name__ == "__main__":
    main()
