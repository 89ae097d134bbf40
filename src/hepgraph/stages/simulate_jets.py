"""Simulate one shard of jets with Pythia 8 + FastJet and write it in a public dataset layout.

    python -m hepgraph.stages.simulate_jets --process g --seed 3 --n-jets 500 --format jetnet \
        --pt-min 800 --pt-max 1600 --eta-max 2.5 --jet-r 0.8 --output results/raw/g_3.hdf5

Formats: ``jetnet`` (any process, one class per file), ``toptag`` (processes "top" -> is_signal_new = 1 and
"qcd" -> 0), ``qg`` (processes "q" -> y = 1 and "g" -> y = 0). Calorimeter images in the CMS E2E layout come
from ``hepgraph.stages.simulate_calo``.
"""

from __future__ import annotations

import argparse
import logging
import time

from hepgraph.data.jet_formats import (FORMATS, JETNET_PARTICLES, jetnet_from_sample, qg_from_sample,
                                       toptag_from_sample, write_jetnet, write_qg, write_toptag)
from hepgraph.data.pythia import PROCESSES, PTHAT_MIN_FRACTION, simulate_jets

log = logging.getLogger("hepgraph.stages.simulate_jets")
FORMAT_CLASSES = {"toptag": {"top": True, "qcd": False}, "qg": {"q": True, "g": False}}
"""Processes each two-class format accepts, with their label (True = signal / quark)."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--process", required=True, choices=PROCESSES)
    parser.add_argument("--seed", required=True, type=int, help="Pythia seed, 1..900000000")
    parser.add_argument("--n-jets", required=True, type=int)
    parser.add_argument("--format", required=True, choices=FORMATS)
    parser.add_argument("--pt-min", required=True, type=float, help="jet pT window, GeV")
    parser.add_argument("--pt-max", required=True, type=float, help="jet pT window, GeV")
    parser.add_argument("--eta-max", required=True, type=float, help="jet |eta| cut")
    parser.add_argument("--jet-r", type=float, default=0.8, help="anti-kT radius")
    parser.add_argument("--max-constituents", type=int, default=200)
    parser.add_argument("--sqrt-s", type=float, nargs="+", default=[13000.0],
                        help="centre-of-mass energies, GeV (pp; e+e- and mu+mu- for lepton and tau); the jets are "
                             "split evenly over them")
    parser.add_argument("--n-particles", type=int, default=JETNET_PARTICLES,
                        help="leading particles stored per jet (jetnet format)")
    parser.add_argument("--pthat-min-fraction", type=float, default=PTHAT_MIN_FRACTION,
                        help="PhaseSpace:pTHatMin / pt-min (lower: less biased, slower)")
    parser.add_argument("--output", required=True)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    args = parse_args(argv)
    classes = FORMAT_CLASSES.get(args.format)
    if classes is not None and args.process not in classes:
        raise ValueError(f"--format {args.format} holds the processes {sorted(classes)}, not "
                         f"--process {args.process!r}")
    start = time.perf_counter()
    sample = simulate_jets(args.process, args.n_jets, args.seed, pt_min=args.pt_min, pt_max=args.pt_max,
                           eta_max=args.eta_max, jet_r=args.jet_r, max_constituents=args.max_constituents,
                           sqrt_s=args.sqrt_s, pthat_min_fraction=args.pthat_min_fraction)
    elapsed = time.perf_counter() - start
    log.info("%d %s jets in %.1f s (%.1f jets/s)", args.n_jets, args.process, elapsed, args.n_jets / elapsed)
    if args.format == "jetnet":
        write_jetnet(args.output, jetnet_from_sample(sample, args.n_particles))
    elif args.format == "toptag":
        write_toptag(args.output, toptag_from_sample(sample, is_signal=classes[args.process]))
    else:
        write_qg(args.output, qg_from_sample(sample, is_quark=classes[args.process]))
    log.info("wrote %s", args.output)


if __name__ == "__main__":
    main()
