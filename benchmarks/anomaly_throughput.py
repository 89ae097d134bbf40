"""Anomaly family throughput: graph autoencoder and oneoff-ensemble training and scoring, jets/s, for n = 4, 9, 16.

    .venv/bin/python benchmarks/anomaly_throughput.py [--device cuda] [--threads 2] [--no-record]

Training: one optimisation step per batch (the thesis's batch size 100 for the GAE, 256 for the oneoff ensemble of
25 members on the GAE's latent space); scoring: the GAE's reconstruction loss, latent vector and per-particle errors
(eval, no grad, batches of 4096), and the ensemble's RMS score. Models as in config.yaml (hidden 16, 3 graph
updates per stage, image loss, invariant normalisation). Inputs are random jets of the right shape: the cost does not
depend on the values. Median (best) of --rounds rounds; appends a table to benchmarks/results.md.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from record import append

from hepgraph.device import pick_device
from hepgraph.models.gae import GAEConfig, GAETask, reconstruct
from hepgraph.models.oneoff import OneoffConfig, OneoffTask

MODELS = {4: ((4,), 9), 9: ((3, 3), 20), 16: ((4, 4), 36)}


def jets(n_jets: int, n: int, device: torch.device) -> torch.Tensor:
    """Random (flag, eta, phi, lpt) inputs [n_jets, n, 4] with every particle real."""
    x = torch.rand(n_jets, n, 4, device=device)
    x[..., 0] = 1
    x[..., 1:3] -= 0.5
    x[..., 3] = x[..., 3].sort(dim=1).values * 6
    return x


def rate(fn: Callable[[], None], n_jets: int, device: torch.device, rounds: int, seconds: float) -> tuple[float, float]:
    """(median, best) jets/s of ``fn`` (processing ``n_jets`` per call) over ``rounds`` rounds of ~``seconds``."""
    fn()  # warm-up
    rates = []
    for _ in range(rounds):
        calls, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            fn()
            calls += 1
        if device.type == "cuda":
            torch.cuda.synchronize()
        rates.append(calls * n_jets / (time.perf_counter() - start))
    return statistics.median(rates), max(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=2.0, help="per round")
    parser.add_argument("--no-record", action="store_true", help="print only, do not append to results.md")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    torch.manual_seed(0)
    rows = ["| n | GAE training | GAE scoring | oneoff training (25 members) | oneoff scoring |",
            "|---|---|---|---|---|"]
    for n, (compression, latent) in MODELS.items():
        config = GAEConfig(n_nodes=n, compression=compression, latent=latent)
        task = GAETask(config, device, jets(1000, n, device), jets(100, n, device))
        batch, many = jets(100, n, device), jets(4096, n, device)
        gae_train = rate(lambda: task.train_step(batch), 100, device, args.rounds, args.seconds)
        gae_score = rate(lambda: reconstruct(task.model, many), 4096, device, args.rounds, args.seconds)
        latent_x = reconstruct(task.model, many)["latent"]
        oneoff = OneoffTask(OneoffConfig(inputs=latent), device, latent_x, latent_x[:256])
        oneoff.model.calibrate(latent_x)
        oo_train = rate(lambda: oneoff.train_step(latent_x[:256]), 256, device, args.rounds, args.seconds)
        oo_score = rate(lambda: oneoff.model.score(latent_x), 4096, device, args.rounds, args.seconds)
        cells = " | ".join(f"{m:,.0f} ({b:,.0f})" for m, b in (gae_train, gae_score, oo_train, oo_score))
        rows.append(f"| {n} | {cells} |")
        print(rows[-1], flush=True)
    table = "\n".join(rows)
    note = (f"\njets/s, median (best) of {args.rounds} rounds of {args.seconds:g} s on {device}; GAE batch 100 "
            "(training) / 4096 (scoring), hidden 16, image loss, invariant normalisation; oneoff on the GAE latent "
            "space, batch 256, hidden (32, 32); `benchmarks/anomaly_throughput.py`")
    print(table + note)
    if not args.no_record:
        append(f"Anomaly family throughput ({device.type})", table + "\n" + note)


if __name__ == "__main__":
    main()
