"""Train one quark/gluon classifier with the shared training loop and score the test jets with its best epoch.

    python -m hepgraph.stages.train_pid --model cnn --train results/graphs/calo/train.parquet \\
        --val results/graphs/calo/val.parquet --test results/graphs/calo/test.parquet --epochs 5 --seed 0 \\
        --state-dir results/pid/cnn_calo/seed_0/training --checkpoint results/pid/cnn_calo/seed_0/model.pt \\
        --metrics-csv results/pid/cnn_calo/seed_0/metrics.csv --scores results/pid/cnn_calo/seed_0/scores.parquet

The preprocessing (``hepgraph.data.pid_inputs``) is chosen on the training table and stored in the checkpoint.
The best epoch is the one with the highest validation ROC AUC. ``--scores`` gets one row per test jet, in table
order: ``quark_probability`` (sigmoid of the logit) and ``is_quark``. The resumable state lives in
``--state-dir``: a killed job rerun with the same settings, data and code resumes there (more epochs continue it);
anything else starts over.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import torch
from torch.utils.data import DataLoader

from hepgraph.data.labels import QUARK
from hepgraph.data.pid_inputs import BatchDataset, Preprocessing, read_inputs
from hepgraph.device import pick_device
from hepgraph.io import atomic_output
from hepgraph.models import pid
from hepgraph.train import checkpoint, loop

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, choices=pid.MODELS)
    parser.add_argument("--train", required=True)
    parser.add_argument("--val", required=True)
    parser.add_argument("--test", required=True)
    parser.add_argument("--set", default="{}", help="JSON object of model settings, e.g. '{\"width\": 8}'")
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda, cuda:N")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's; a job's share of the cores "
                        "avoids OpenMP spin-waits on a busy machine)")
    parser.add_argument("--state-dir", required=True, help="resumable training state")
    parser.add_argument("--checkpoint", required=True, help="where to put the best epoch's model")
    parser.add_argument("--metrics-csv", required=True, help="where to put the per-epoch metrics")
    parser.add_argument("--scores", required=True, help="parquet file of the test jets' quark probabilities")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)

    model_input = "image" if args.model in pid.IMAGE_MODELS else "particles"
    train, prep = read_inputs(args.train, model_input)
    val, _ = read_inputs(args.val, model_input, prep)
    config = pid.model_config(args.model, **json.loads(args.set))
    n_features = train["features"].shape[-1] if model_input == "particles" else None
    meta = {"model": args.model, "config": dataclasses.asdict(config), "preprocessing": prep.to_dict(),
            "data": loop.fingerprint(args.train, args.val), "batch_size": args.batch_size, "lr": args.lr,
            "seed": args.seed, "code": loop.code_fingerprint(__spec__.name)}
    state = Path(args.state_dir)
    loop.discard_if_changed(state, meta, args.epochs)
    n_quark = int((train["label"] == QUARK).sum())
    log.info("%s on %d training jets (%d quark, %d gluon), %d validation jets; settings %s", args.model,
             len(train["label"]), n_quark, len(train["label"]) - n_quark, len(val["label"]), config)

    generator = torch.Generator().manual_seed(args.seed)
    dataset = BatchDataset(train)
    loader = DataLoader(dataset, batch_size=args.batch_size, shuffle=True, generator=generator,
                        drop_last=len(dataset) > args.batch_size, collate_fn=BatchDataset.collate)
    val_batches = BatchDataset(val).batches(args.batch_size)
    result = loop.fit(lambda device: pid.ClassifierTask(pid.build_model(args.model, config, n_features), device,
                                                        args.lr, val_batches),
                      loader, epochs=args.epochs, checkpoint_dir=state, metrics_path=state / "metrics.csv",
                      seed=args.seed, device=args.device, best_metric="auc", best_mode="max", meta=meta)
    best = loop.export(result, args.checkpoint, args.metrics_csv, meta={"n_features": n_features})
    log.info("best epoch %s (validation AUC %.4f) -> %s", result.best_epoch, result.best_value, args.checkpoint)

    device = pick_device(args.device)
    model = pid.build_model(args.model, config, n_features)
    checkpoint.load_states(args.checkpoint, best["models"], {"classifier": model})
    model.to(device)
    test, _ = read_inputs(args.test, model_input, Preprocessing.from_dict(meta["preprocessing"]))
    logits = pid.predict(model, BatchDataset(test).batches(args.batch_size), device)
    table = pa.table({"quark_probability": torch.sigmoid(logits).numpy(),
                      "is_quark": (test["label"] == QUARK).numpy()})
    with atomic_output(args.scores) as tmp:
        pq.write_table(table, tmp)
    log.info("scored %d test jets -> %s", len(logits), args.scores)


if __name__ == "__main__":
    main()
