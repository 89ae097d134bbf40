"""Score the test jets of every dataset with the anomaly detectors trained on one background (and one seed).

    python -m hepgraph.stages.score_anomaly --background qcd --seed 0 \\
        --train results/graphs/toptag/train.parquet --label 0 \\
        --dataset qcd results/graphs/toptag/test.parquet 0 --dataset top results/graphs/toptag/test.parquet 1 \\
        --gae gae4 results/anomaly/qcd/seed0/gae4/model.pt \\
        --oneoff oneoff_gae4 results/anomaly/qcd/seed0/oneoff_gae4/model.pt gae4 \\
        --latent-baselines gae4 --output results/anomaly/qcd/seed0/scores.npz

Writes one npz: ``meta`` (JSON: background, seed, datasets, methods), ``score/<method>/<dataset>`` [N] (higher = more
anomalous) and ``errors/<gae>/<dataset>`` [N, n, 4] (squared reconstruction differences, for AUC maps). Methods: each
GAE by its loss, each oneoff ensemble, the jet width and multiplicity, and scikit-learn's IsolationForest,
one-class SVM and kNN distance (``<method>_raw`` on the normalised particle features, ``<method>_<gae>`` on a GAE's
latent space), fitted on the background's training jets.
"""

from __future__ import annotations

import argparse
import json
import logging

import numpy as np
import torch

from hepgraph.evaluation.anomaly import jet_width, sklearn_scores
from hepgraph.io import atomic_output
from hepgraph.models.anomaly_inputs import InputNormalisation, particle_inputs, read_jets
from hepgraph.models.gae import reconstruct
from hepgraph.models.oneoff import raw_features
from hepgraph.stages.train_gae import label_arg, load_gae, load_inputs
from hepgraph.stages.train_oneoff import load_oneoff

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--background", required=True, help="name of the dataset the detectors were trained on")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train", required=True, help="the background's training table")
    parser.add_argument("--label", type=label_arg, default=None)
    parser.add_argument("--n-train", type=int, default=None)
    parser.add_argument("--dataset", nargs=3, action="append", required=True, metavar=("NAME", "TABLE", "LABEL"),
                        help="a dataset to score: its name, test table and label (none: every jet)")
    parser.add_argument("--n-test", type=int, default=None, help="test jets per dataset (first ones)")
    parser.add_argument("--gae", nargs=2, action="append", default=[], metavar=("NAME", "MODEL"))
    parser.add_argument("--oneoff", nargs=3, action="append", default=[], metavar=("NAME", "MODEL", "INPUTS"),
                        help="an oneoff ensemble and its inputs: raw, or the NAME of one of the --gae models")
    parser.add_argument("--latent-baselines", nargs="*", default=[], help="GAEs whose latent space the "
                        "scikit-learn baselines also see")
    parser.add_argument("--baseline-nodes", type=int, default=4, help="leading particles of width and raw inputs")
    parser.add_argument("--normalisation", default="invariant", help="of the raw inputs of the baselines")
    parser.add_argument("--knn-k", type=int, default=5)
    parser.add_argument("--max-svm", type=int, default=2000, help="training jets of the one-class SVM (at most)")
    parser.add_argument("--output", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    torch.set_grad_enabled(False)

    gaes = {name: load_gae(path) for name, path in args.gae}
    unknown = sorted({inputs for _, _, inputs in args.oneoff} - {"raw", *gaes})
    if unknown or set(args.latent_baselines) - set(gaes):
        raise ValueError(f"inputs {unknown or args.latent_baselines} name no --gae model; use raw or one of "
                         f"{sorted(gaes)}")
    jets = {name: read_jets(path, label_arg(label), args.n_test) for name, path, label in args.dataset}
    particles = {name: (torch.from_numpy(j["nodes"]), torch.from_numpy(j["mask"])) for name, j in jets.items()}
    train = read_jets(args.train, args.label, args.n_train)
    out: dict[str, np.ndarray] = {}

    def raw(n: int, kind: str) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Raw features of the training jets and of every dataset, normalised as fixed on the training jets."""
        train_x = load_inputs(args.train, args.label, n, args.n_train)
        norm = InputNormalisation(kind).fit(train_x)
        return (raw_features(train_x, norm),
                {k: raw_features(particle_inputs(*v, n), norm) for k, v in particles.items()})

    latents = {}
    for name, model in gaes.items():
        for dataset, (nodes, mask) in particles.items():
            result = reconstruct(model, particle_inputs(nodes, mask, model.config.n_nodes))
            out[f"score/{name}/{dataset}"] = result["score"].numpy()
            out[f"errors/{name}/{dataset}"] = result["errors"].numpy()
            latents[name, dataset] = result["latent"]
        latents[name, None] = reconstruct(model, load_inputs(args.train, args.label, model.config.n_nodes,
                                                             args.n_train))["latent"]
    for name, path, inputs in args.oneoff:
        model, meta = load_oneoff(path)
        features = (raw(meta["n_nodes"], meta["normalisation"])[1] if inputs == "raw"
                    else {dataset: latents[inputs, dataset] for dataset in particles})
        for dataset, x in features.items():
            out[f"score/{name}/{dataset}"] = model.score(x).numpy()
    for dataset, j in jets.items():
        out[f"score/width/{dataset}"] = jet_width(j["nodes"], j["mask"], args.baseline_nodes)
        out[f"score/multiplicity/{dataset}"] = j["n_constituents"].astype(np.float64)
    spaces = {"raw": raw(args.baseline_nodes, args.normalisation)}
    spaces.update({name: (latents[name, None], {d: latents[name, d] for d in particles})
                   for name in args.latent_baselines})
    for space, (train_x, tests) in spaces.items():
        scores = sklearn_scores(train_x.numpy(), {k: v.numpy() for k, v in tests.items()}, args.knn_k,
                                args.max_svm, args.seed)
        out.update({f"score/{method}_{space}/{d}": s for method, by in scores.items() for d, s in by.items()})
    methods = sorted({key.split("/")[1] for key in out if key.startswith("score/")})
    meta = {"background": args.background, "seed": args.seed, "datasets": list(jets), "methods": methods,
            "gaes": list(gaes), "n_test": {k: len(v["nodes"]) for k, v in jets.items()}, "n_train": len(train["nodes"])}
    out["meta"] = np.array(json.dumps(meta))
    with atomic_output(args.output) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, **out)
    log.info("%d methods x %d datasets -> %s", len(methods), len(jets), args.output)


if __name__ == "__main__":
    main()
