"""Simulate one shard of quark or gluon jets as CMS E2E calorimeter images, in the real files' parquet layout.

    python -m hepgraph.stages.simulate_calo --process q --seed 1 --n-jets 200 --pt-min 70 --pt-max 200 \
        --eta-max 1.4 --jet-r 0.4 --sqrt-s 8000 --pileup 0 --output results/raw/calo/simulate/q_1.parquet

Pythia 8 + FastJet jets (``hepgraph.data.pythia``; "q" light-quark, "g" gluon), overlaid with a Poisson number
(mean ``--pileup``) of minimum-bias interactions (``hepgraph.data.pileup``, seeded from the shard's seed and
process), imaged through the CMS barrel response (``hepgraph.data.calo.Detector``: one option per setting, CMS
values by default). ``pt`` and ``m0`` are the jet's (its visible particles', without pile-up), and so are the
constituents in the ``particles`` column. Labels: q -> y = 1, g -> y = 0 (``quark_label`` 1 in the file's
provenance).
"""

from __future__ import annotations

import argparse
import logging
import time
from dataclasses import asdict, fields

import numpy as np

from hepgraph.data.calo import Detector, jet_images, write_e2e_parquet
from hepgraph.data.jet_formats import qg_from_sample
from hepgraph.data.kinematics import pt_eta_phi_m
from hepgraph.data.labels import GLUON, QUARK
from hepgraph.data.pileup import SEED_MAX, minimum_bias, overlay
from hepgraph.data.pythia import PTHAT_MIN_FRACTION, simulate_jets

log = logging.getLogger("hepgraph.stages.simulate_calo")
LABELS = {"q": QUARK, "g": GLUON}
CHUNK = 64  # jets imaged at a time: bounds the memory of the shower spread with pile-up


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--process", required=True, choices=sorted(LABELS))
    parser.add_argument("--seed", required=True, type=int, help="Pythia seed, 1..900000000")
    parser.add_argument("--n-jets", required=True, type=int)
    parser.add_argument("--pt-min", required=True, type=float, help="jet pT window, GeV")
    parser.add_argument("--pt-max", required=True, type=float, help="jet pT window, GeV")
    parser.add_argument("--eta-max", required=True, type=float, help="jet |eta| cut")
    parser.add_argument("--jet-r", type=float, default=0.4, help="anti-kT radius")
    parser.add_argument("--sqrt-s", type=float, default=8000.0, help="pp centre-of-mass energy, GeV")
    parser.add_argument("--pthat-min-fraction", type=float, default=PTHAT_MIN_FRACTION,
                        help="PhaseSpace:pTHatMin / pt-min (lower: less biased, slower)")
    parser.add_argument("--max-constituents", type=int, default=200)
    parser.add_argument("--pileup", type=float, default=0.0, help="mean number of minimum-bias interactions per jet")
    for field in fields(Detector):
        parser.add_argument(f"--{field.name.replace('_', '-')}", type=float, default=field.default,
                            help=f"Detector.{field.name} (default %(default)s)")
    parser.add_argument("--output", required=True)
    args = parser.parse_args(argv)
    if args.pileup < 0:
        parser.error(f"--pileup must be >= 0, got {args.pileup}")
    return args


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    args = parse_args(argv)
    detector = Detector(**{field.name: getattr(args, field.name) for field in fields(Detector)})
    start = time.perf_counter()
    sample = simulate_jets(args.process, args.n_jets, args.seed, pt_min=args.pt_min, pt_max=args.pt_max,
                           eta_max=args.eta_max, jet_r=args.jet_r, max_constituents=args.max_constituents,
                           sqrt_s=args.sqrt_s, pthat_min_fraction=args.pthat_min_fraction)
    log.info("%d %s jets in %.1f s", args.n_jets, args.process, time.perf_counter() - start)
    rng = np.random.default_rng([args.seed, int(LABELS[args.process])])
    counts = rng.poisson(args.pileup, args.n_jets)
    start = time.perf_counter()
    pileup_seed = int(np.random.SeedSequence([args.seed, LABELS[args.process]]).generate_state(1)[0]) % SEED_MAX + 1
    events = minimum_bias(int(counts.sum()), pileup_seed, args.sqrt_s)  # other events for every shard
    if events:
        log.info("%d minimum-bias interactions (mean %.1f per jet) in %.1f s", len(events), args.pileup,
                 time.perf_counter() - start)
    bounds = np.concatenate([[0], np.cumsum(counts)])
    images = []
    for a in range(0, args.n_jets, CHUNK):
        rows = slice(a, a + CHUNK)
        p4, pdgid, charge = overlay(sample.p4[rows], sample.pdgid[rows], sample.charge[rows], counts[rows],
                                    events[bounds[a]:bounds[min(a + CHUNK, args.n_jets)]])
        images.append(jet_images(p4, pdgid, charge, sample.jet_p4[rows], detector=detector, rng=rng))
    pt, _, _, m0 = pt_eta_phi_m(sample.jet_p4)
    meta = {"source": "simulate", "generator": "pythia8", "quark_label": QUARK, "detector": asdict(detector),
            **{k: v for k, v in vars(args).items() if k != "output" and k not in asdict(detector)}}
    write_e2e_parquet(args.output, np.concatenate(images), pt, m0, np.full(args.n_jets, LABELS[args.process]),
                      particles=qg_from_sample(sample, is_quark=args.process == "q").X, meta=meta)
    log.info("wrote %s", args.output)


if __name__ == "__main__":
    main()
