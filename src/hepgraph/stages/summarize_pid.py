"""Score every quark/gluon run on its test jets, seed by seed, beside single-variable baselines and the published
numbers: metrics.json and summary.md.

    python -m hepgraph.stages.summarize_pid --pid-dir results/pid --runs cnn_calo particlenet_qg --seeds 0 1 2 \\
        --test calo=results/graphs/calo/test.parquet qg=results/graphs/qg/test.parquet \\
        --output-json results/pid/metrics.json --output-md results/pid/summary.md

A run ``<model>_<dataset>`` has its test scores in ``<pid-dir>/<run>/seed_<seed>/scores.parquet``. Quark jets are
the signal (labels: ``hepgraph.data.labels``, 1 = quark). Baselines tag quarks by a low jet mass, a low
constituent multiplicity or a small jet width; they are computed on the same test jets, streaming the table.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from hepgraph.data.labels import QUARK
from hepgraph.data.tables import iter_batches, node_feature_names, read_arrays, read_header
from hepgraph.evaluation import pid
from hepgraph.io import atomic_output

log = logging.getLogger(__name__)

MODEL_NAMES = {"cnn": "CNN (reference notebook layout)", "resnet15": "ResNet-15", "image_gnn": "image GNN",
               "particlenet": "ParticleNet"}
DATASET_NAMES = {"calo": "calorimeter images (CMS E2E layout)", "qg": "Pythia quark/gluon jets"}


def baseline_values(path: str | Path) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Baseline variables {name: [N]} and is_quark [N] of the test table ``path`` (calo_images or jets)."""
    kind = read_header(path)["kind"]
    if kind == "calo_images":
        parts, labels = [], []
        for batch in iter_batches(path, kind):
            parts.append(pid.calo_baselines(batch["X_jets"], batch["m0"], batch.get("mask")))
            labels.append(batch["y"])
        values = {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
        return values, np.concatenate(labels) == QUARK
    arrays = read_arrays(path, kind, ["nodes", "mask", "label", "jet_mass", "n_constituents"])
    values = pid.particle_baselines(arrays["nodes"], arrays["mask"], node_feature_names(path),
                                    arrays["jet_mass"], arrays["n_constituents"])
    return values, arrays["label"] == QUARK


def run_scores(path: str | Path, is_quark: np.ndarray) -> dict[str, float]:
    table = pq.read_table(path)
    if not np.array_equal(table["is_quark"].to_numpy(), is_quark):
        raise ValueError(f"{path} scores other jets than the test table (labels differ); rerun its training job")
    return pid.scores(table["quark_probability"].to_numpy(), is_quark)


def fmt(stat: dict[str, float] | float | None, digits: int = 3) -> str:
    if stat is None:
        return "-"
    value = stat["mean"] if isinstance(stat, dict) else stat
    if np.isinf(value):
        return "∞"  # a rejection where no gluon jet passes (in at least one seed)
    if isinstance(stat, dict) and stat["n"] > 1:
        return f"{value:.{digits}f} ± {stat['std']:.{digits}f}"
    return f"{value:.{digits}f}"


def markdown(result: dict[str, Any]) -> str:
    """The summary table: per dataset, every model (mean ± std over seeds), the baselines and published numbers."""
    lines = ["# Quark/gluon identification", "",
             f"Quark jets are the signal (table labels: 1 = quark, 0 = gluon). Scores on the test split; models: "
             f"mean ± standard deviation over {len(result['seeds'])} seed(s) {result['seeds']}. Rejection = 1 / "
             "gluon efficiency at 30 % and 50 % quark efficiency (∞: no gluon jet passes). Baselines tag quarks by a "
             "low value.", ""]
    for dataset, entry in result["datasets"].items():
        lines += [f"## {DATASET_NAMES.get(dataset, dataset)} (`{dataset}`, {entry['n_test']} test jets: "
                  f"{entry['n_quark']} quark, {entry['n_test'] - entry['n_quark']} gluon)", "",
                  "| tagger | ROC AUC | accuracy | rejection @ 30 % | rejection @ 50 % |", "|---|---|---|---|---|"]
        for run, stats in entry["models"].items():
            lines.append(f"| {MODEL_NAMES.get(stats['model'], stats['model'])} | {fmt(stats['auc'])} | "
                         f"{fmt(stats['accuracy'])} | {fmt(stats['rejection_30'], 1)} | "
                         f"{fmt(stats['rejection_50'], 1)} |")
        for name, stats in entry["baselines"].items():
            lines.append(f"| baseline: {name} | {fmt(stats['auc'])} | - | {fmt(stats['rejection_30'], 1)} | "
                         f"{fmt(stats['rejection_50'], 1)} |")
        for ref in pid.PUBLISHED.get(dataset, []):
            lines.append(f"| published: {ref['model']} | {fmt(ref['auc'], 4)} | {fmt(ref['accuracy'])} | - | - |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pid-dir", required=True)
    parser.add_argument("--runs", nargs="+", required=True, help="runs <model>_<dataset>")
    parser.add_argument("--seeds", nargs="+", type=int, required=True)
    parser.add_argument("--test", nargs="+", required=True, metavar="DATASET=TABLE")
    parser.add_argument("--output-json", required=True)
    parser.add_argument("--output-md", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    tests = dict(item.split("=", 1) for item in args.test)
    datasets: dict[str, Any] = {}
    for dataset, path in tests.items():
        values, is_quark = baseline_values(path)
        datasets[dataset] = {"test": path, "n_test": len(is_quark), "n_quark": int(is_quark.sum()),
                             "baselines": pid.baseline_scores(values, is_quark), "models": {},
                             "published": pid.PUBLISHED.get(dataset, []), "is_quark": is_quark}
    for run in args.runs:
        model, dataset = run.rsplit("_", 1)
        if dataset not in datasets:
            raise ValueError(f"run {run} is on dataset {dataset!r}, which has no --test table")
        per_seed = [run_scores(Path(args.pid_dir, run, f"seed_{seed}", "scores.parquet"),
                               datasets[dataset]["is_quark"]) for seed in args.seeds]
        datasets[dataset]["models"][run] = {"model": model, **pid.mean_std(per_seed), "per_seed": per_seed}
        log.info("%s: AUC %s", run, fmt(datasets[dataset]["models"][run]["auc"]))
    for entry in datasets.values():
        del entry["is_quark"]
    result = {"seeds": args.seeds, "label_convention": "1 = quark, 0 = gluon (hepgraph.data.labels)",
              "datasets": datasets}
    text = json.dumps(result, indent=2, default=float) + "\n"  # a rejection is Infinity where no gluon passes
    with atomic_output(args.output_json) as tmp:
        tmp.write_text(text)
    with atomic_output(args.output_md) as tmp:
        tmp.write_text(markdown(result))
    log.info("wrote %s and %s", args.output_json, args.output_md)


if __name__ == "__main__":
    main()
