"""Simulate quark or gluon jets with Pythia 8 + FastJet and write their calorimeter images in the CMS E2E layout."""

from __future__ import annotations

import argparse
import logging

from hepgraph.data.calo import jet_images, write_e2e_parquet
from hepgraph.data.kinematics import pt_eta_phi_m
from hepgraph.data.pythia import simulate_jets

log = logging.getLogger(__name__)

LABELS = {"q": 1, "g": 0}  # E2E convention: y = 1 for quark jets, 0 for gluon jets


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--process", required=True, choices=sorted(LABELS), help="q: light-quark jets, g: gluon jets")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--n-jets", type=int, required=True)
    parser.add_argument("--pt-min", type=float, required=True, help="jet pT window, GeV")
    parser.add_argument("--pt-max", type=float, required=True)
    parser.add_argument("--eta-max", type=float, required=True, help="maximum |eta| of the jet axis")
    parser.add_argument("--jet-r", type=float, default=0.4, help="anti-kT radius")
    parser.add_argument("--output", required=True, help="E2E-layout parquet file to write")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    log.info("simulating %d %s jets (seed %d, pT %g-%g GeV, |eta| < %g, R = %g)", args.n_jets, args.process,
             args.seed, args.pt_min, args.pt_max, args.eta_max, args.jet_r)
    sample = simulate_jets(args.process, args.n_jets, args.seed, pt_min=args.pt_min, pt_max=args.pt_max,
                           eta_max=args.eta_max, jet_r=args.jet_r)
    images = jet_images(sample.p4, sample.pdgid, sample.charge, sample.jet_p4)
    pt, _, _, m0 = pt_eta_phi_m(sample.jet_p4)
    y = [LABELS[args.process]] * len(pt)
    meta = {"source": "simulate", "generator": "pythia8", "process": args.process, "seed": args.seed,
            "n_jets": args.n_jets, "pt_min": args.pt_min, "pt_max": args.pt_max, "eta_max": args.eta_max,
            "jet_r": args.jet_r}
    write_e2e_parquet(args.output, images, pt, m0, y, meta=meta)
    log.info("wrote %d jet images to %s", len(pt), args.output)


if __name__ == "__main__":
    main()
