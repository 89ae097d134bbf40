"""Draw the quark/gluon figures: per dataset the ROC curves of every run (first seed) and of the baselines, the
training curves and score distributions of every run, and the mean quark and gluon calorimeter images.

    python -m hepgraph.stages.plot_pid --pid-dir results/pid --runs cnn_calo particlenet_qg --seeds 0 1 2 \\
        --test calo=results/graphs/calo/test.parquet qg=results/graphs/qg/test.parquet --output-dir results/pid/plots

Writes ``roc_<dataset>.png``, ``training_curves.png``, ``scores.png`` and, with a ``calo`` test table,
``mean_images.png`` (its test jets, streamed) into ``--output-dir``.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from hepgraph.data.labels import QUARK
from hepgraph.data.tables import iter_batches
from hepgraph.evaluation.pid import BASELINE_SIGNS
from hepgraph.plots import pid as plots
from hepgraph.stages.summarize_pid import baseline_values

log = logging.getLogger(__name__)


def mean_calo_images(path: str | Path) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """Mean images [3, H, W] of the quark and of the gluon jets of a calo_images table, and their counts."""
    sums, counts = {}, {True: 0, False: 0}
    for batch in iter_batches(path, "calo_images", ["X_jets", "y"]):
        for is_quark in (True, False):
            images = batch["X_jets"][(batch["y"] == QUARK) == is_quark]
            sums[is_quark] = sums.get(is_quark, 0) + images.sum(axis=0, dtype=np.float64)
            counts[is_quark] += len(images)
    if not counts[True] or not counts[False]:
        raise ValueError(f"{path} needs quark and gluon jets for mean images; it has {counts[True]} quark and "
                         f"{counts[False]} gluon jets")
    return sums[True] / counts[True], sums[False] / counts[False], (counts[True], counts[False])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pid-dir", required=True)
    parser.add_argument("--runs", nargs="+", required=True, help="runs <model>_<dataset>")
    parser.add_argument("--seeds", nargs="+", type=int, required=True)
    parser.add_argument("--test", nargs="+", required=True, metavar="DATASET=TABLE")
    parser.add_argument("--output-dir", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    out = Path(args.output_dir)
    tests = dict(item.split("=", 1) for item in args.test)
    scores = {}
    for run in args.runs:
        table = pq.read_table(Path(args.pid_dir, run, f"seed_{args.seeds[0]}", "scores.parquet"))
        scores[run] = (table["quark_probability"].to_numpy(), table["is_quark"].to_numpy())
    for dataset, path in tests.items():
        values, is_quark = baseline_values(path)
        taggers = {run: s for run, s in scores.items() if run.rsplit("_", 1)[1] == dataset}
        taggers.update({f"baseline: {name}": (BASELINE_SIGNS[name] * v, is_quark) for name, v in values.items()})
        plots.roc_plot(taggers, out / f"roc_{dataset}.png", title=f"{dataset}: {len(is_quark)} test jets, "
                       f"seed {args.seeds[0]}")
    metrics = {run: [pd.read_csv(Path(args.pid_dir, run, f"seed_{seed}", "metrics.csv")) for seed in args.seeds]
               for run in args.runs}
    plots.training_curves(metrics, out / "training_curves.png")
    plots.score_distributions(scores, out / "scores.png")
    if "calo" in tests:
        quark, gluon, counts = mean_calo_images(tests["calo"])
        plots.mean_images(quark, gluon, out / "mean_images.png", counts)
    log.info("figures in %s", out)


if __name__ == "__main__":
    main()
