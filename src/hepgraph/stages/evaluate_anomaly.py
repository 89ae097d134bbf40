"""Evaluate the anomaly detectors: AUC and background rejection of every method for every (background, anomaly)
pair, mean and standard deviation over seeds, both directions of QCD <-> top beside the thesis's numbers, the cross
matrix of every method that was trained on every dataset with its count of invertible pairs, and per-(particle,
feature) AUC maps of the GAEs.

    python -m hepgraph.stages.evaluate_anomaly --scores results/anomaly/*/seed*/scores.npz \\
        --cross-method oneoff_gae4 --output-json results/anomaly/metrics.json --output-md results/anomaly/summary.md
"""

from __future__ import annotations

import argparse
import json
import logging
from collections import defaultdict

import numpy as np

from hepgraph.evaluation import anomaly
from hepgraph.io import atomic_output

log = logging.getLogger(__name__)
NAMES = {"qcd": "QCD", "top": "top", "qcd_light": "light QCD", "dark": "light dark matter", "quark": "quark",
         "gluon": "gluon", "lepton": "lepton", "tau": "tau"}


def read_scores(path: str) -> tuple[dict, dict[str, np.ndarray]]:
    """(meta, arrays) of a score_anomaly output."""
    with np.load(path) as data:
        return json.loads(str(data["meta"])), {k: data[k] for k in data.files if k != "meta"}


def evaluate(runs: list[tuple[dict, dict[str, np.ndarray]]]) -> dict:
    """Per (method, background, anomaly): AUCs and rejections per seed with their mean and std; AUC maps
    [n, 4] per (GAE, background, anomaly), mean over seeds."""
    pairs: dict = defaultdict(lambda: {"seeds": [], "auc": [], "rejection": []})
    maps: dict = defaultdict(list)
    for meta, arrays in runs:
        bkg = meta["background"]
        for method in meta["methods"]:
            for other in meta["datasets"]:
                if other == bkg:
                    continue
                b, s = arrays[f"score/{method}/{bkg}"], arrays[f"score/{method}/{other}"]
                entry = pairs[method, bkg, other]
                entry["seeds"].append(meta["seed"])
                entry["auc"].append(anomaly.auc(b, s))
                entry["rejection"].append(anomaly.rejection(b, s))
        for gae in meta["gaes"]:
            for other in meta["datasets"]:
                if other != bkg:
                    maps[gae, bkg, other].append(anomaly.auc_map(arrays[f"errors/{gae}/{bkg}"],
                                                                 arrays[f"errors/{gae}/{other}"]))
    results = []
    for (method, bkg, other), entry in sorted(pairs.items()):
        auc_mean, auc_std = anomaly.mean_std(entry["auc"])
        rej_mean, rej_std = anomaly.mean_std(entry["rejection"])
        results.append({"method": method, "background": bkg, "anomaly": other, **entry, "auc_mean": auc_mean,
                        "auc_std": auc_std, "rejection_mean": rej_mean, "rejection_std": rej_std})
    return {"pairs": results,
            "auc_maps": [{"gae": g, "background": b, "anomaly": a, "map": np.mean(m, 0).tolist()}
                         for (g, b, a), m in sorted(maps.items())]}


def cross_matrices(pairs: list[dict], datasets: list[str]) -> dict[str, dict]:
    """Mean-AUC cross matrices [D, D] (row trained on, column anomaly; 0.5 on the diagonal) of every method scored
    on every pair, with their invertible and above-chance counts."""
    by_method: dict = defaultdict(dict)
    for p in pairs:
        by_method[p["method"]][p["background"], p["anomaly"]] = p["auc_mean"]
    out = {}
    for method, aucs in by_method.items():
        if len(aucs) < len(datasets) * (len(datasets) - 1):
            continue
        matrix = np.array([[0.5 if a == b else aucs[a, b] for b in datasets] for a in datasets])
        out[method] = {"matrix": matrix.tolist(), "invertible": anomaly.invertible_pairs(matrix),
                       "above_chance": anomaly.above_chance(matrix)}
    return out


def _cell(p: dict | None) -> str:
    if p is None:
        return "—"
    return f"{p['auc_mean']:.3f} ± {p['auc_std']:.3f}" if len(p["auc"]) > 1 else f"{p['auc_mean']:.3f}"


def _rej(p: dict | None) -> str:
    return "—" if p is None else f"{p['rejection_mean']:.2f}"


def summary_markdown(result: dict, cross_method: str) -> str:
    """The summary: both directions of QCD <-> top for every method beside the thesis, the cross matrix and the aim."""
    pairs = {(p["method"], p["background"], p["anomaly"]): p for p in result["pairs"]}
    methods = sorted({p["method"] for p in result["pairs"]})
    seeds = sorted({s for p in result["pairs"] for s in p["seeds"]})
    lines = ["# Anomaly detection: graph autoencoders and oneoff networks", "",
             f"Unsupervised: each detector is trained on one dataset's jets only (the background) and scores the "
             f"test jets of the others. AUC mean ± std over {len(seeds)} seed(s) {seeds}; rejection = 1/FPR at "
             f"{anomaly.SIGNAL_EFFICIENCY:.0%} signal efficiency. Test jets per dataset: {result['n_test']}.", "",
             "## QCD <-> top in both directions", "",
             "| method | QCD → top AUC | rejection | top → QCD AUC | rejection | invertible | thesis QCD → top | "
             "thesis top → QCD |", "|---|---|---|---|---|---|---|---|"]
    for m in methods:
        a, b = pairs.get((m, "qcd", "top")), pairs.get((m, "top", "qcd"))
        inv = "—" if a is None or b is None else ("yes" if a["auc_mean"] > 0.5 and b["auc_mean"] > 0.5 else "no")
        ref = anomaly.THESIS_AUC.get(m, {})
        lines.append(f"| {m} | {_cell(a)} | {_rej(a)} | {_cell(b)} | {_rej(b)} | {inv} | "
                     f"{ref.get(('qcd', 'top'), '—')} | {ref.get(('top', 'qcd'), '—')} |")
    lines += ["", "Thesis (Kluettermann 2021): normalised 4-particle GAE + 25 oneoff networks on its latent space 0.635 "
              "(QCD → top) and 0.823 (top → QCD), ch. 7.3 and 9 (Table 8.1: 0.596 / 0.789); normalised 16-particle "
              "GAE ~0.70 / 0.64, with oneoff networks ~0.55 / 0.48 (ch. 7.4.2); the jet width alone ~0.906 QCD → "
              "top (ch. 5.2.1)."]
    both = [(m, pairs[m, "qcd", "top"]["auc_mean"], pairs[m, "top", "qcd"]["auc_mean"]) for m in methods
            if (m, "qcd", "top") in pairs and (m, "top", "qcd") in pairs]
    if both:
        m, a, b = max(both, key=lambda t: min(t[1] - anomaly.AIM["qcd", "top"], t[2] - anomaly.AIM["top", "qcd"]))
        lines += ["", f"Aim: one model with AUC >= {anomaly.AIM['qcd', 'top']} QCD → top and >= "
                  f"{anomaly.AIM['top', 'qcd']} top → QCD. Closest here: {m} with {a:.3f} "
                  f"({a - anomaly.AIM['qcd', 'top']:+.3f}) and {b:.3f} ({b - anomaly.AIM['top', 'qcd']:+.3f})."]
    datasets = result["datasets"]
    cross = result["cross"]
    if cross_method in cross:
        c = cross[cross_method]
        lines += ["", f"## Cross matrix: {cross_method} (row trained on, column scored as anomaly)", "",
                  "| trained on | " + " | ".join(NAMES.get(d, d) for d in datasets) + " |",
                  "|---|" + "---|" * len(datasets)]
        ref = {d: i for i, d in enumerate(anomaly.THESIS_CROSS_DATASETS)}
        for i, a in enumerate(datasets):
            cells = []
            for j, b in enumerate(datasets):
                thesis_value = (f" ({anomaly.THESIS_CROSS[ref[a], ref[b]]:.3f})" if a in ref and b in ref and a != b
                                else "")
                cells.append(f"{c['matrix'][i][j]:.3f}{thesis_value}")
            lines.append(f"| {NAMES.get(a, a)} | " + " | ".join(cells) + " |")
        inv, total = c["invertible"]
        above, _ = c["above_chance"]
        lines += ["", f"Thesis Table 8.1 values in parentheses. Pairs invertible in both directions: {inv} of "
                  f"{total} ordered pairs; entries with AUC >= 0.5: {above} of {total} (thesis: 52 of 56)."]
    others = {m: v for m, v in cross.items() if m != cross_method}
    if others:
        lines += ["", "Other methods on the same cross matrix: " + "; ".join(
            f"{m}: {v['invertible'][0]} of {v['invertible'][1]} invertible" for m, v in sorted(others.items())) + "."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scores", nargs="+", required=True, help="score_anomaly outputs")
    parser.add_argument("--cross-method", default="oneoff_gae4", help="the method whose cross matrix is shown")
    parser.add_argument("--output-json", required=True)
    parser.add_argument("--output-md", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    runs = [read_scores(path) for path in args.scores]
    result = evaluate(runs)
    datasets = list(dict.fromkeys(d for meta, _ in runs for d in meta["datasets"]))
    backgrounds = {meta["background"] for meta, _ in runs}
    result.update(datasets=datasets, n_test=runs[0][0]["n_test"],
                  cross=cross_matrices(result["pairs"], datasets) if backgrounds >= set(datasets) else {})
    with atomic_output(args.output_json) as tmp:
        tmp.write_text(json.dumps(result, indent=1, default=float))
    with atomic_output(args.output_md) as tmp:
        tmp.write_text(summary_markdown(result, args.cross_method))
    log.info("%d (method, background, anomaly) pairs -> %s", len(result["pairs"]), args.output_md)


if __name__ == "__main__":
    main()
