"""Quark/gluon family throughput: training and inference jets/s of each model, at the default config's sizes and at
the published sizes of configs/pid_paper.yaml.

    .venv/bin/python benchmarks/pid_throughput.py [--device cuda] [--threads 2] [--no-record]

Training: one Adam step on a batch of 32 jets (ClassifierTask.train_step); inference: logits of 256 jets (eval, no
grad). Image models see 125 x 125 x 3 images with 2 % of the pixels lit (a simulated E2E jet lights ~1-3 %) and the
(pT, m0) scalars; ParticleNet sees 100 particle slots, 40 real, with its 13 features. The cost does not depend on
the values, except the image GNN's pixel selection (top-k, by value). Median (best) of --rounds rounds; appends a
table to benchmarks/results.md, with the load average (the machine may be shared).
"""

from __future__ import annotations

import argparse
import os

import torch
from anomaly_throughput import rate
from record import append

from hepgraph.device import pick_device
from hepgraph.models import pid

SIZES = {  # (config.yaml, configs/pid_paper.yaml)
    "cnn": ({"filters": 8}, {}),
    "resnet15": ({"width": 8}, {"width": 16, "stem_pool": 1}),
    "image_gnn": ({"k": 8, "blocks": [[32, 32, 32], [64, 64, 64]], "dense": 128, "n_nodes": 64}, {"n_nodes": 256}),
    "particlenet": ({"k": 7, "blocks": [[32, 32, 32], [64, 64, 64]], "dense": 128}, {}),
}


def batch(name: str, n: int, device: torch.device) -> dict[str, torch.Tensor]:
    """Random inputs of ``n`` jets for model ``name``, with labels."""
    out = {"label": torch.arange(n, device=device) % 2}
    if name == "particlenet":
        mask = (torch.arange(100, device=device) < 40).expand(n, -1)
        out.update(points=torch.randn(n, 100, 2, device=device) * 0.1 * mask[..., None],
                   features=torch.randn(n, 100, 13, device=device) * mask[..., None], mask=mask)
    else:
        lit = torch.rand(n, 3, 125, 125, device=device) < 0.02
        out.update(image=torch.rand(n, 3, 125, 125, device=device) * lit, scalars=torch.randn(n, 2, device=device))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=2.0, help="per round")
    parser.add_argument("--models", nargs="+", default=list(SIZES), choices=list(SIZES))
    parser.add_argument("--no-record", action="store_true", help="print only, do not append to results.md")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    load = os.getloadavg()[0]
    rows = ["| model | sizes | parameters | training (batch 32) | inference (batch 256) |", "|---|---|---|---|---|"]
    for name in args.models:
        sizes = SIZES[name]
        for label, settings in zip(("default", "paper"), sizes):
            torch.manual_seed(0)
            model = pid.build_model(name, pid.model_config(name, **settings), n_features=13)
            task = pid.ClassifierTask(model, device, lr=1e-3)
            train, infer = batch(name, 32, device), batch(name, 256, device)
            training = rate(lambda: task.train_step(train), 32, device, args.rounds, args.seconds)
            inference = rate(lambda: pid.predict(model, [infer], device), 256, device, args.rounds, args.seconds)
            n_params = sum(p.numel() for p in model.parameters())
            rows.append(f"| {name} | {label} {settings or '(defaults)'} | {n_params:,} | "
                        f"{training[0]:,.0f} ({training[1]:,.0f}) | {inference[0]:,.0f} ({inference[1]:,.0f}) |")
            print(rows[-1], flush=True)
    load = max(load, os.getloadavg()[0])
    table = "\n".join(rows)
    note = (f"\njets/s, median (best) of {args.rounds} rounds of {args.seconds:g} s on {device}; default = config.yaml's "
            f"sizes, paper = configs/pid_paper.yaml's; load average up to {load:.1f} during the run; "
            "`benchmarks/pid_throughput.py`")
    print(table + note)
    if not args.no_record:
        append(f"Quark/gluon family throughput ({device.type})", table + "\n" + note)


if __name__ == "__main__":
    main()
