"""Time the generated-jet metrics (hepgraph.metrics.jets, .efp) at jetnet's sample sizes.

    .venv/bin/python benchmarks/gan_metrics.py                 # N = 10,000 and 50,000 jets
    .venv/bin/python benchmarks/gan_metrics.py 2000 --no-record

Toy jets of 30 particles (10-30 real: Gaussian eta_rel, phi_rel of width 0.1, exponential pt_rel summing to 1);
the "generated" sample is shifted by 0.01 in eta_rel. W1M, W1P, W1EFP draw 5 bootstrap batches of N jets;
FPD and KPD run with jetnet's defaults on the 36 EFPs with d <= 4 (so their cost hardly depends on N); the Table 2
bootstrap runs for each (N, P) of the paper that N jets allow. Each row is one call: wall and CPU seconds.
Appends a table to benchmarks/results.md.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from record import append

from hepgraph.evaluation.gan import PAPER_W1_GRID
from hepgraph.metrics import efp
from hepgraph.metrics import jets as metrics



def toy_jets(n_jets: int, rng: np.random.Generator, eta_shift: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Jets [n_jets, 30, 3] (eta_rel, phi_rel, pt_rel) float32 and mask [n_jets, 30]."""
    n_real = rng.integers(10, 31, n_jets)
    mask = np.arange(30)[None, :] < n_real[:, None]
    pt = np.where(mask, rng.exponential(1.0, (n_jets, 30)), 0.0)
    jets = np.stack([rng.normal(eta_shift, 0.1, (n_jets, 30)), rng.normal(0.0, 0.1, (n_jets, 30)),
                     pt / pt.sum(axis=1, keepdims=True)], axis=-1)
    return np.where(mask[..., None], jets, 0.0).astype(np.float32), mask


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """Wall and CPU seconds of one call of ``fn``."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def timings(n: int) -> dict[str, tuple[float, float]]:
    """Step name -> (wall s, CPU s) for real and generated samples of ``n`` jets."""
    rng = np.random.default_rng(0)
    (real, real_mask), (gen, gen_mask) = toy_jets(n, rng), toy_jets(n, rng, eta_shift=0.01)
    real_efps, gen_efps = efp.efps_d_le_4(real, real_mask), efp.efps_d_le_4(gen, gen_mask)
    steps: dict[str, Callable[[], object]] = {
        "jet m/pT (one sample)": lambda: metrics.jet_mass_over_pt(real, real_mask),
        "5 JetNet EFPs (one sample)": lambda: efp.efps(real, real_mask),
        "36 EFPs d <= 4 (one sample)": lambda: efp.efps_d_le_4(real, real_mask),
        "W1M (5 x N)": lambda: metrics.w1m(real, real_mask, gen, gen_mask, rng, num_eval_samples=n),
        "W1P (5 x N)": lambda: metrics.w1p(real, real_mask, gen, gen_mask, rng, num_eval_samples=n),
        "W1EFP (5 x N, EFPs of both)": lambda: metrics.w1efp(real, real_mask, gen, gen_mask, rng,
                                                             num_eval_samples=n),
        "FPD (jetnet defaults)": lambda: metrics.fpd(real_efps, gen_efps),
        "KPD (jetnet defaults)": lambda: metrics.kpd(real_efps, gen_efps),
    }
    for table_n, p in PAPER_W1_GRID:
        if 2 * table_n <= n:
            steps[f"Table 2 bootstrap N={table_n}, P={p}"] = (
                lambda table_n=table_n, p=p: metrics.w1_table(real, real_mask, gen, gen_mask, table_n, p, rng))
    out = {}
    for name, fn in steps.items():
        out[name] = timed(fn)
        print(f"N = {n:>6}: {name:36s} wall {out[name][0]:7.2f} s   cpu {out[name][1]:7.2f} s", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sizes", nargs="*", type=int, default=[10_000, 50_000], help="jets per sample")
    parser.add_argument("--no-record", action="store_true", help="print only; do not append to results.md")
    args = parser.parse_args()
    results = {n: timings(n) for n in args.sizes}
    names = list(dict.fromkeys(name for r in results.values() for name in r))
    lines = ["| step | " + " | ".join(f"N = {n:,}: wall s (CPU s)" for n in args.sizes) + " |",
             "|---|" + "---:|" * len(args.sizes)]
    for name in names:
        cells = [f"{results[n][name][0]:.2f} ({results[n][name][1]:.2f})" if name in results[n] else "–"
                 for n in args.sizes]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    table = "\n".join(lines)
    print(table)
    if not args.no_record:
        append("generated-jet metrics", table)


if __name__ == "__main__":
    main()
