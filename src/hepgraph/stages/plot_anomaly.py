"""Draw the anomaly-detection figures: ROC curves and score distributions of QCD <-> top in both directions (first
seed), the GAEs' AUC maps (mean over seeds), the cross matrix and the GAEs' training curves.

    python -m hepgraph.stages.plot_anomaly --metrics results/anomaly/metrics.json \\
        --scores results/anomaly/qcd/seed0/scores.npz results/anomaly/top/seed0/scores.npz \\
        --curves gae4/qcd results/anomaly/qcd/seed0/gae4/metrics.csv --cross-method oneoff_gae4 \\
        --output-dir results/anomaly/plots
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from hepgraph.evaluation.anomaly import roc
from hepgraph.plots import anomaly as plots
from hepgraph.stages.evaluate_anomaly import NAMES, read_scores

log = logging.getLogger(__name__)
DIRECTIONS = (("qcd", "top"), ("top", "qcd"))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--metrics", required=True, help="evaluate_anomaly's JSON")
    parser.add_argument("--scores", nargs="+", required=True, help="score_anomaly outputs of the first seed")
    parser.add_argument("--curves", nargs=2, action="append", default=[], metavar=("LABEL", "CSV"))
    parser.add_argument("--cross-method", default="oneoff_gae4")
    parser.add_argument("--output-dir", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    out = Path(args.output_dir)
    metrics = json.loads(Path(args.metrics).read_text())
    runs = {meta["background"]: arrays for meta, arrays in map(read_scores, args.scores)}
    methods = sorted({key.split("/")[1] for arrays in runs.values() for key in arrays if key.startswith("score/")})

    rocs, scores = {}, {}
    for bkg, anomaly in DIRECTIONS:
        if bkg not in runs:
            continue
        title = f"trained on {NAMES[bkg]}, {NAMES[anomaly]} as anomaly"
        arrays = runs[bkg]
        rocs[title] = {m: roc(arrays[f"score/{m}/{bkg}"], arrays[f"score/{m}/{anomaly}"]) for m in methods
                       if f"score/{m}/{anomaly}" in arrays}
        for m in methods:
            if m.startswith(("gae", "oneoff")) and f"score/{m}/{anomaly}" in arrays:
                scores[f"{m}, trained on {NAMES[bkg]}"] = {NAMES[d]: arrays[f"score/{m}/{d}"] for d in (bkg, anomaly)}
    plots.roc_plot(rocs, out / "roc.png")
    plots.score_histograms(scores, out / "scores.png")
    maps = [(f"{m['gae']}: {NAMES[m['background']]} -> {NAMES[m['anomaly']]}", m["map"])
            for m in metrics["auc_maps"] if (m["background"], m["anomaly"]) in DIRECTIONS]
    plots.auc_maps(maps, out / "auc_maps.png")
    cross = metrics["cross"].get(args.cross_method)
    names = [NAMES.get(d, d) for d in metrics["datasets"]]
    if cross:
        inv, total = cross["invertible"]
        plots.cross_matrix(cross["matrix"], names, out / "cross_matrix.png",
                           f"{args.cross_method}: {inv} of {total} pairs invertible")
    else:  # fewer datasets than the cross matrix needs: draw QCD <-> top only
        pairs = {(p["background"], p["anomaly"]): p["auc_mean"] for p in metrics["pairs"]
                 if p["method"] == args.cross_method}
        matrix = [[0.5 if a == b else pairs.get((a, b), float("nan")) for b in metrics["datasets"]]
                  for a in metrics["datasets"]]
        plots.cross_matrix(matrix, names, out / "cross_matrix.png", f"{args.cross_method} (partial)")
    plots.loss_curves(dict(args.curves), out / "training_curves.png")
    log.info("figures -> %s", out)


if __name__ == "__main__":
    main()
