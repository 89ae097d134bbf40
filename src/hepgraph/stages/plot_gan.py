"""Draw a graph GAN's figures, each PNG written atomically:

  --samples   jets: real vs generated particle eta_rel, phi_rel, pt_rel and jet m/pT, with ratio panels (Fig. 3),
              over the nodes the evaluation scores (every node, padding included, for fixed-size generated graphs);
              image_graphs: real digits above generated ones (Fig. 2), nodes painted over the real graphs'
              node spacing (one pixel for sparse MNIST, 3x3 pixels for superpixels)
  --curves    losses and validation metrics per epoch, from the training run's --metrics-csv
"""

from __future__ import annotations

import argparse
import logging

from hepgraph.data.tables import read_nodes
from hepgraph.evaluation.gan import clip_negative_pt, is_fixed_size, scored_mask
from hepgraph.plots.gan import digit_grid, jet_feature_plot, training_curves

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kind", required=True, choices=("jets", "image_graphs"))
    parser.add_argument("--real", required=True, help="real table, e.g. results/graphs/jetnet_g/test.parquet")
    parser.add_argument("--generated", required=True, help="generated table of the same kind")
    parser.add_argument("--samples", required=True, help="PNG of real vs generated samples")
    parser.add_argument("--metrics-csv", help="the training run's metrics CSV (hepgraph.train.loop.fit)")
    parser.add_argument("--curves", help="PNG of the training curves (with --metrics-csv)")
    parser.add_argument("--digit", type=int, choices=range(10), help="image_graphs: draw only this digit")
    parser.add_argument("--n-digits", type=int, default=8, help="image_graphs: digits per row")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if bool(args.metrics_csv) != bool(args.curves):
        parser.error("--metrics-csv and --curves go together")

    real, real_mask = read_nodes(args.real, args.kind, args.digit)
    gen, gen_mask = read_nodes(args.generated, args.kind, args.digit)
    path = args.samples
    if args.kind == "jets":
        fixed_size = is_fixed_size(args.generated)
        real_mask, gen_mask = scored_mask(real_mask, fixed_size), scored_mask(gen_mask, fixed_size)
        gen, n_clipped = clip_negative_pt(gen, gen_mask)
        log.info("set %d negative generated pt_rel to 0; %s", n_clipped,
                 "fixed-size jets: every particle slot drawn, padding included" if fixed_size else "masked jets")
        jet_feature_plot(real, real_mask, gen, gen_mask, path)
    else:
        digit_grid(real, real_mask, gen, gen_mask, path, n=args.n_digits)
    log.info("wrote %s", path)
    if args.metrics_csv:
        training_curves(args.metrics_csv, args.curves)
        log.info("wrote %s", args.curves)


if __name__ == "__main__":
    main()
