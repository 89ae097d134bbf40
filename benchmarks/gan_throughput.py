"""Graph GAN throughput: hepgraph's fused dense message passing vs the reference MPGAN layout.

    .venv/bin/python benchmarks/gan_throughput.py                  # glibc malloc
    LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4 .venv/bin/python benchmarks/gan_throughput.py

Training: jets/s for one discriminator step and one generator step on a batch (default 256 jets of 30
particles, paper jet layer sizes, 2 threads), for the seed's model and the MPGAN variant (``jets_mpgan``).
``--device cuda`` times both on a GPU as training runs there (bf16 autocast, torch.compile), the reference in
float32 (as MPGAN trains).
Generation: jets/s of the generator alone (eval, no grad).
The reference is a plain-PyTorch reimplementation of rkansal47/MPGAN's layout (mpgan/model.py and
train.py): per-edge inputs concatenated into [B N N, 2F+1] by ``repeat``, ``nn.Dropout`` after every layer
(per-edge masks), sums over all N senders, D run on real and fake separately with G not under no_grad,
and D's weight gradients computed in the G step. Appends a table to benchmarks/results.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from record import append

from hepgraph.device import pick_device
from hepgraph.models.graph_gan import GraphGANConfig, GraphGANTask, graph_gan_config


class ReferenceLinearNet(nn.Module):
    """MPGAN's LinearNet: Linear -> LeakyReLU(0.2) (not after the last if ``final_linear``) -> Dropout."""

    def __init__(self, sizes: list[int], dropout: float, final_linear: bool) -> None:
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, sizes[1:]))
        self.dropout, self.final_linear = nn.Dropout(dropout), final_linear

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1 or not self.final_linear:
                x = F.leaky_relu(x, 0.2)
            x = self.dropout(x)
        return x


class ReferenceMPLayer(nn.Module):
    """MPGAN's fully connected MPLayer with the distance of the first two features as edge feature."""

    def __init__(self, in_size: int, out_size: int, cfg: GraphGANConfig, dropout: float) -> None:
        super().__init__()
        self.fe = ReferenceLinearNet([2 * in_size + 1, *cfg.edge_layers], dropout, final_linear=False)
        self.fn = ReferenceLinearNet([cfg.edge_layers[-1] + in_size, *cfg.node_layers, out_size], dropout,
                                     final_linear=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, f = x.shape
        x1 = x.repeat(1, 1, n).view(b, n * n, f)
        x2 = x.repeat(1, n, 1)
        dists = torch.norm(x2[:, :, :2] - x1[:, :, :2] + 1e-12, dim=2).unsqueeze(2)
        a = self.fe(torch.cat((x1, x2, dists), 2).view(b * n * n, 2 * f + 1))
        a = a.view(b, n, n, -1).sum(2)
        return self.fn(torch.cat((a, x), 2).view(b * n, -1)).view(b, n, -1)


class ReferenceNet(nn.Module):
    """Generator (tanh output) or discriminator (per-node sigmoid, averaged) in the reference layout."""

    def __init__(self, cfg: GraphGANConfig, generator: bool) -> None:
        super().__init__()
        iters = cfg.gen_iters if generator else cfg.disc_iters
        first = cfg.latent_size if generator else cfg.node_features
        sizes = [first] + [cfg.hidden_size] * (iters - 1) + [cfg.node_features if generator else 1]
        dropout = cfg.gen_dropout if generator else cfg.disc_dropout
        self.layers = nn.ModuleList(ReferenceMPLayer(a, b, cfg, dropout) for a, b in zip(sizes, sizes[1:]))
        self.generator = generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return torch.tanh(x) if self.generator else torch.sigmoid(x[..., 0]).mean(1)


def reference_step(gen: ReferenceNet, disc: ReferenceNet, g_opt, d_opt, real: torch.Tensor,
                   cfg: GraphGANConfig) -> None:
    """MPGAN train.py's train_D then train_G with the least-squares loss."""
    n = real.shape[0]
    disc.train()
    d_opt.zero_grad()
    gen.eval()
    d_real = disc(real.clone())
    d_fake = disc(gen(torch.randn(n, cfg.num_nodes, cfg.latent_size, device=real.device)))
    ones, zeros = torch.ones(n, device=real.device), torch.zeros(n, device=real.device)
    (F.mse_loss(d_real, ones) + F.mse_loss(d_fake, zeros)).backward()
    d_opt.step()
    gen.train()
    g_opt.zero_grad()
    F.mse_loss(disc(gen(torch.randn(n, cfg.num_nodes, cfg.latent_size, device=real.device))), ones).backward()
    g_opt.step()


def interleaved_rates(steps: dict[str, Callable[[], None]], jets: int, repeats: int,
                      sync: Callable[[], None]) -> dict[str, tuple[float, float]]:
    """(median, best) jets/s of each step over ``repeats`` rounds that time every step once, after three
    warm-up calls each (torch.compile compiles in the first): interleaving lets all implementations share
    whatever load the machine has. ``sync`` waits for the device's queued work."""
    times: dict[str, list[float]] = {name: [] for name in steps}
    for step in steps.values():
        for _ in range(3):
            step()
    sync()
    for _ in range(repeats):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            sync()
            times[name].append(time.perf_counter() - start)
            LOADS.append(os.getloadavg()[0])
    return {name: (jets / statistics.median(t), jets / min(t)) for name, t in times.items()}


LOADS: list[float] = []  # 1-minute load averages seen during the measurements


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--particles", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds (median reported)")
    parser.add_argument("--device", default="cpu", help="cpu, or cuda (bf16 autocast and torch.compile)")
    parser.add_argument("--no-reference", action="store_true", help="time hepgraph's implementation only")
    parser.add_argument("--no-record", action="store_true", help="print only; do not append to results.md")
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = pick_device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    cfg = graph_gan_config("jets", num_nodes=args.particles)
    real = torch.rand(args.batch, args.particles, cfg.node_features, device=device) * 2 - 1
    mask = torch.ones(args.batch, args.particles, dtype=torch.bool, device=device)
    latent = (args.batch, args.particles, cfg.latent_size)

    task = GraphGANTask(cfg, device)
    mpgan = GraphGANTask(graph_gan_config("jets_mpgan", num_nodes=args.particles), device)
    counts = mask.sum(dim=1)
    train = {"hepgraph (fused dense)": lambda: task.train_step((real, mask)),
             "hepgraph, MPGAN variant (jets_mpgan)": lambda: mpgan.train_step((real, mask))}
    generate = {"hepgraph (fused dense)": lambda: task.sample(args.batch),
                "hepgraph, MPGAN variant (jets_mpgan)": lambda: mpgan.sample(args.batch, counts)}
    if not args.no_reference:
        gen, disc = ReferenceNet(cfg, generator=True).to(device), ReferenceNet(cfg, generator=False).to(device)
        g_opt = torch.optim.RMSprop(gen.parameters(), lr=cfg.lr_g)
        d_opt = torch.optim.RMSprop(disc.parameters(), lr=cfg.lr_d)
        train["reference MPGAN layout"] = lambda: reference_step(gen, disc, g_opt, d_opt, real, cfg)
        generate["reference MPGAN layout"] = lambda: gen(torch.randn(latent, device=device))
    train_rates = interleaved_rates(train, args.batch, args.repeats, sync)
    task.generator.eval()
    mpgan.generator.eval()
    if not args.no_reference:
        gen.eval()
    with torch.no_grad():
        generate_rates = interleaved_rates(generate, args.batch, args.repeats, sync)

    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{args.threads} threads"
    lines = [f"batch {args.batch}, {args.particles} particles, jets layer sizes (Table 1), {where}; "
             f"jets/s, median (best) of {args.repeats} interleaved rounds; 1-min load average "
             f"{min(LOADS):.1f}-{max(LOADS):.1f} on {os.cpu_count()} cores (this run adds ~{args.threads}); "
             f"`{' '.join(['benchmarks/gan_throughput.py', *argv])}`", "",
             "| implementation | train: one D + one G step | generation |", "|---|---|---|"]
    for name in train:
        (t_med, t_best), (g_med, g_best) = train_rates[name], generate_rates[name]
        lines.append(f"| {name} | {t_med:.1f} ({t_best:.1f}) | {g_med:.0f} ({g_best:.0f}) |")
    if not args.no_reference:
        ours, ref = "hepgraph (fused dense)", "reference MPGAN layout"
        lines.append(f"| ratio hepgraph / reference (medians) | {train_rates[ours][0] / train_rates[ref][0]:.1f}x "
                     f"| {generate_rates[ours][0] / generate_rates[ref][0]:.1f}x |")
    table = "\n".join(lines)
    print(table)
    if not args.no_record:
        append("graph GAN training", table)


if __name__ == "__main__":
    main()
