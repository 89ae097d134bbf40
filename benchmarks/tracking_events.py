"""Cost of simulated tracking events per stage: Pythia 8 ttbar + pile-up, ACTS Fatras, digitisation and noise, the
TrackML CSV files; appends a table to benchmarks/results.md.

    .venv/bin/python benchmarks/tracking_events.py [--pileup 0 2 200] [--events 3] [--no-record]

One process, one core: the shard's cost is the Pythia initialisation (once per shard) plus events x (generation +
Fatras + digitisation + writing). Sizes are the mean per event: generated particles (charged, in the acceptance
pT > 0.1 GeV, |eta| < 4), hits with noise, reconstructable particles (pT > 1 GeV, >= 5 hits).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from record import append

from hepgraph.data.collisions import ttbar_events
from hepgraph.data.digitisation import NOISE_FRACTION, RESOLUTION, generic_modules
from hepgraph.data.trackml import write_event
from hepgraph.data.tracking_sim import digitise, simulate_raw, trackml_tables
from hepgraph.data.tracking_summary import event_multiplicities


def measure(pileup: float, n_events: int, directory: Path) -> str:
    start = time.perf_counter()
    generator = ttbar_events(n_events, 1, pileup=pileup, pt_min=0.1, eta_max=4.0)
    first = next(generator)
    init_and_first = time.perf_counter() - start
    start = time.perf_counter()
    events = [first, *generator]
    pythia = (time.perf_counter() - start) / max(n_events - 1, 1)
    init = init_and_first - pythia
    rng = np.random.default_rng(1)
    times: dict[str, list[float]] = {"fatras": [], "digitise": [], "write": []}
    sizes: list[dict[str, int]] = []
    last = [time.perf_counter()]

    def handle(number, event):
        now = time.perf_counter()
        times["fatras"].append(now - last[0])
        event = digitise(event, RESOLUTION, NOISE_FRACTION, rng)
        times["digitise"].append(time.perf_counter() - now)
        now = time.perf_counter()
        hits, truth, particles = trackml_tables(event)
        write_event(directory, f"event{number:09d}", hits, truth, particles)
        times["write"].append(time.perf_counter() - now)
        pt = pd.Series(np.hypot(particles["px"], particles["py"]).to_numpy(), index=particles["particle_id"])
        pt = pt.reindex(truth["particle_id"], fill_value=0.0).to_numpy()
        sizes.append(event_multiplicities(truth["particle_id"].to_numpy(), pt, pt_min=1.0, min_hits=5))
        last[0] = time.perf_counter()

    simulate_raw(events, 1, handle)
    generated = statistics.mean(len(e) for e in events)
    mean = {key: statistics.mean(s[key] for s in sizes) for key in sizes[0]}
    return (f"| {pileup:g} | {generated:,.0f} | {mean['hits']:,.0f} | {mean['particles']:,.0f} | "
            f"{mean['reconstructable']:,.0f} | {init:.1f} | {pythia:.2f} | {statistics.mean(times['fatras']):.2f} | "
            f"{statistics.mean(times['digitise']):.2f} | {statistics.mean(times['write']):.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pileup", type=float, nargs="+", default=[0, 2, 200])
    parser.add_argument("--events", type=int, default=3)
    parser.add_argument("--no-record", action="store_true", help="print the table without appending it")
    args = parser.parse_args()
    generic_modules()  # geometry built once per process, not counted
    rows = ["| pile-up | generated particles | hits | particles with hits | reconstructable | Pythia init s | "
            "Pythia s/event | Fatras s/event | digitise s/event | CSV s/event |", "|---:|---:|---:|---:|---:|---:|---:|"
            "---:|---:|---:|"]
    for pileup in args.pileup:
        with tempfile.TemporaryDirectory() as directory:
            rows.append(measure(pileup, args.events, Path(directory)))
        print(rows[-1], flush=True)
    table = "\n".join(rows)
    print(table)
    if not args.no_record:
        append(f"tracking events: ttbar + pile-up through ACTS Fatras ({args.events} events each)", table)


if __name__ == "__main__":
    main()
