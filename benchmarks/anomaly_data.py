"""Simulation rate of the anomaly datasets (datasets.anomaly of config.yaml); appends a table to results.md.

    .venv/bin/python benchmarks/anomaly_data.py [--n-jets 200]

Each process of the default config is simulated with its own settings (window, sqrt_s) on one core; the rate is
jets per CPU-second of this process, Pythia's initialisations included, so the default config's jets_per_shard
over it is about the CPU time of a shard.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml
from data_pipeline import timed
from record import append

from hepgraph.data.pythia import ANOMALY_PROCESSES, simulate_jets

CONFIG = Path(__file__).resolve().parents[1] / "config.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-jets", type=int, default=200, help="jets per process")
    args = parser.parse_args()
    anomaly = yaml.safe_load(CONFIG.read_text())["datasets"]["anomaly"]
    rows = []
    for process in anomaly["processes"]:
        sim = anomaly["simulate"][process]
        options = {key: sim[key] for key in ("sqrt_s", "pthat_min_fraction") if key in sim}
        _, wall, cpu = timed(lambda: simulate_jets(ANOMALY_PROCESSES[process], args.n_jets, 1, pt_min=sim["pt_min"],
                                                   pt_max=sim["pt_max"], eta_max=sim["eta_max"], jet_r=sim["jet_r"],
                                                   **options))
        rows.append(f"| {process} | {sim['pt_min']:g}-{sim['pt_max']:g} | {args.n_jets / cpu:.1f} | "
                    f"{sim['jets_per_shard'] / (args.n_jets / cpu):.0f} |")
        print(rows[-1], f"(wall {wall:.1f} s)", flush=True)
    append(f"anomaly datasets: Pythia 8 + FastJet, {args.n_jets} jets per process",
           "| process | pT window (GeV) | jets per CPU-s | CPU-s of a default shard |\n|---|---|---|---|\n"
           + "\n".join(rows))


if __name__ == "__main__":
    main()
