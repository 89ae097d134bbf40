"""Score a graph GAN's generated sample against real data; write metrics.json and a markdown summary.

Jets (``--kind jets``): the seed paper's Table 2 replica and the JetNet scores, each beside its real-vs-real
baseline (``--real`` vs ``--real-train``, or two random halves of ``--real`` without it). MNIST graphs
(``--kind image_graphs``, one ``--digit``): W1 of the node features and, with ``--classifier``, the graph
Frechet distance. Graphs of a generator without a mask (``fixed_size`` in the generated table's meta) are scored
on every node, the real padding included, as in the seed paper (see hepgraph.evaluation.gan). W1 bootstrap batches
(and FPD/KPD batches) are capped at the smallest sample. Published numbers (hepgraph.evaluation.gan_published)
are written beside ours.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np

from hepgraph.data.tables import read_nodes
from hepgraph.evaluation import gan_published
from hepgraph.evaluation.gan import (PAPER_W1_GRID, JetSettings, clip_negative_pt, evaluate_image_graphs,
                                     evaluate_jets, is_fixed_size, scored_mask, split_halves, summary_markdown)
from hepgraph.io import atomic_output

log = logging.getLogger(__name__)


def grid_entry(text: str) -> tuple[int, int]:
    """Parse "N:P" (P sets of N jets) for --w1-table."""
    try:
        n, p = (int(v) for v in text.split(":"))
    except ValueError:
        message = f"--w1-table entry {text!r} must be N:P with integers, e.g. 1000:100"
        raise argparse.ArgumentTypeError(message) from None
    if n < 1 or p < 1:
        raise argparse.ArgumentTypeError(f"--w1-table entry {text!r}: N and P must be >= 1")
    return n, p


def json_ready(value: Any) -> Any:
    """``value`` with non-finite floats as None (strict JSON) and numpy scalars as Python's."""
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kind", required=True, choices=("jets", "image_graphs"))
    parser.add_argument("--real", required=True,
                        help="real reference table, e.g. results/graphs/jetnet_g/test.parquet")
    parser.add_argument("--real-train", help="a disjoint real table for the real-vs-real baseline (e.g. "
                                             "train.parquet); without it, --real is split into two random halves")
    parser.add_argument("--generated", required=True, help="generated table of the same kind")
    parser.add_argument("--dataset", required=True, help="table name, e.g. jetnet_g or mnist_sparse "
                                                         "(selects the published numbers)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output-json", required=True)
    parser.add_argument("--output-md", required=True)
    parser.add_argument("--digit", type=int, choices=range(10), help="image_graphs: the digit to evaluate")
    parser.add_argument("--classifier", help="image_graphs: classifier checkpoint for the graph Frechet distance")
    parser.add_argument("--w1-table", nargs="+", type=grid_entry, default=list(PAPER_W1_GRID), metavar="N:P",
                        help="jets: Table 2 grid (default: the paper's 100:1000 1000:100 10000:10)")
    parser.add_argument("--aim-n", type=int, default=1000, help="jets: N at which real and generated should match")
    parser.add_argument("--num-eval-samples", type=int, default=50_000,
                        help="graphs per bootstrap batch of W1, at most the smallest sample's size")
    parser.add_argument("--num-batches", type=int, default=5, help="bootstrap batches of W1")
    parser.add_argument("--fpd-samples", nargs=2, type=int, default=(20_000, 50_000), metavar=("MIN", "MAX"),
                        help="jets: FPD batch sizes, extrapolated to infinity (scaled down to the smallest sample)")
    parser.add_argument("--fpd-batches", type=int, default=20, help="jets: FPD batches per batch size")
    parser.add_argument("--kpd-batch-size", type=int, default=5_000,
                        help="jets: KPD batch size (at most the smallest sample)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if args.kind == "image_graphs" and args.digit is None:
        parser.error("--kind image_graphs needs --digit")
    if args.kind == "jets" and (args.digit is not None or args.classifier):
        parser.error("--digit and --classifier apply to --kind image_graphs only")
    if args.classifier and not Path(args.classifier).is_file():
        raise FileNotFoundError(f"classifier checkpoint {args.classifier} does not exist: train the GFD "
                                "classifier first, or leave out --classifier")

    rng = np.random.default_rng(args.seed)
    real, real_mask = read_nodes(args.real, args.kind, args.digit)
    gen, gen_mask = read_nodes(args.generated, args.kind, args.digit)
    if args.real_train:
        baseline, baseline_mask = read_nodes(args.real_train, args.kind, args.digit)
        baseline_name = args.real_train
    else:
        a, b = split_halves(len(real), rng)
        real, real_mask, baseline, baseline_mask = real[a], real_mask[a], real[b], real_mask[b]
        baseline_name = f"the other random half of {args.real}"
    fixed_size = is_fixed_size(args.generated)
    real_mask, baseline_mask, gen_mask = (scored_mask(m, fixed_size) for m in (real_mask, baseline_mask, gen_mask))
    log.info("real %d, baseline %d, generated %d graphs; %s", len(real), len(baseline), len(gen),
             "fixed-size graphs: every node scored" if fixed_size else "masked-in nodes scored")
    result: dict[str, Any] = {
        "kind": args.kind, "dataset": args.dataset, "seed": args.seed, "fixed_size": fixed_size,
        "inputs": {"real": args.real, "n_real": len(real), "baseline": baseline_name, "n_baseline": len(baseline),
                   "generated": args.generated, "n_generated": len(gen)},
    }
    if args.kind == "jets":
        gen, n_clipped = clip_negative_pt(gen, gen_mask)
        log.info("set %d negative generated pt_rel of %d particles to 0", n_clipped, int(gen_mask.sum()))
        result["pt_rel_clipped"] = {"particles": n_clipped, "of": int(gen_mask.sum())}
        settings = JetSettings(w1_grid=tuple(args.w1_table), aim_n=args.aim_n,
                               num_eval_samples=args.num_eval_samples, num_batches=args.num_batches,
                               fpd_min_samples=args.fpd_samples[0], fpd_max_samples=args.fpd_samples[1],
                               fpd_batches=args.fpd_batches, kpd_batch_size=args.kpd_batch_size)
        result.update(evaluate_jets(real, real_mask, baseline, baseline_mask, gen, gen_mask, settings, rng))
    else:
        result["digit"] = args.digit
        result["classifier"] = args.classifier
        result.update(evaluate_image_graphs(real, real_mask, baseline, baseline_mask, gen, gen_mask, rng,
                                            args.num_eval_samples, args.num_batches, args.classifier))
    result["published"] = gan_published.for_dataset(args.dataset)
    text = json.dumps(json_ready(result), indent=2, allow_nan=False) + "\n"

    with atomic_output(args.output_json) as tmp:
        tmp.write_text(text)
    with atomic_output(args.output_md) as tmp:
        tmp.write_text(summary_markdown(json.loads(text)))
    log.info("wrote %s and %s", args.output_json, args.output_md)


if __name__ == "__main__":
    main()
