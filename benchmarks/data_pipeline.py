"""Throughput of the data stages; appends a table to benchmarks/results.md.

    .venv/bin/python benchmarks/data_pipeline.py

Measures: jets simulated per CPU-second (Pythia 8 + FastJet, one core), jets preprocessed per second
(raw file -> parquet table), parquet -> tensor load rate, MNIST graphs per second, tracking events simulated
per second (ACTS Fatras), and the wall time of a no-op dry run of the workflow after a tiny run.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from record import append

from hepgraph.data import mnist
from hepgraph.data.collisions import particle_gun
from hepgraph.data.jet_formats import TopTagJets, toptag_from_sample, write_toptag
from hepgraph.data.pythia import simulate_jets
from hepgraph.data.tables import read_dense, write_table
from hepgraph.data.tracking_sim import generic_detector, simulate_raw
from hepgraph.stages import prepare_jets

REPO = Path(__file__).resolve().parents[1]
WINDOWS = {  # (process, n_jets, pt_min, pt_max, eta_max, jet_r): the default config's windows
    "JetNet gluon": ("g", 200, 900.0, 1100.0, 2.5, 0.8),
    "JetNet top": ("t", 200, 900.0, 1100.0, 2.5, 0.8),
    "top-tagging top": ("top", 200, 550.0, 650.0, 2.0, 0.8),
    "top-tagging QCD": ("qcd", 200, 550.0, 650.0, 2.0, 0.8),
    "calo quark (R=0.4)": ("q", 50, 70.0, 200.0, 1.4, 0.4),
}


def timed(fn):
    """(result, wall seconds, CPU seconds of this process) of ``fn()``."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def simulation_rows(tmp: Path) -> tuple[list[str], TopTagJets]:
    rows, top = [], None
    for name, (process, n, pt_min, pt_max, eta_max, jet_r) in WINDOWS.items():
        sample, wall, cpu = timed(lambda: simulate_jets(process, n, 1, pt_min=pt_min, pt_max=pt_max,
                                                        eta_max=eta_max, jet_r=jet_r))
        rows.append(f"| simulate jets: {name}, pT {pt_min:g}-{pt_max:g} GeV | {n / cpu:.1f} jets per CPU-s |")
        if process == "top":
            top = toptag_from_sample(sample, is_signal=True)
    return rows, top


def preprocessing_rows(tmp: Path, top: TopTagJets) -> list[str]:
    reps = 100  # tile the simulated jets to a file of realistic size
    big = TopTagJets(**{name: np.concatenate([getattr(top, name)] * reps) for name in top.__dataclass_fields__})
    raw = tmp / "top.h5"
    write_toptag(raw, big)
    n = len(big.is_signal_new)
    _, wall, _ = timed(lambda: prepare_jets.main(["--input", str(raw), "--format", "toptag", "--n-nodes", "30",
                                                  "--output", str(tmp / "top.parquet")]))
    rows = [f"| preprocess top-tagging HDF5 -> jets table ({n} jets, 30 nodes) | {n / wall:,.0f} jets/s |"]

    n = 200_000
    rng = np.random.default_rng(0)
    mask = np.arange(30) < rng.integers(5, 31, size=(n, 1))
    columns = {"nodes": rng.normal(size=(n, 30, 3)).astype(np.float32) * mask[..., None], "mask": mask,
               "label": np.zeros(n, np.int64), "jet_pt": np.ones(n, np.float32), "jet_eta": np.ones(n, np.float32),
               "jet_mass": np.ones(n, np.float32), "n_constituents": mask.sum(1).astype(np.int32)}
    table = tmp / "jets.parquet"
    _, wall, _ = timed(lambda: write_table(table, "jets", columns, {}))
    rows.append(f"| write jets table ({n} jets x 30 x 3) | {n / wall:,.0f} jets/s |")
    _, wall, _ = timed(lambda: read_dense(table, "jets"))
    rows.append(f"| load jets table -> dense tensors ({table.stat().st_size / 2**20:.0f} MiB zstd) | "
                f"{n / wall:,.0f} jets/s |")

    images, _ = mnist.load_bundled()
    for graph, fn, k in (("sparse", mnist.sparse_graphs, 5000), ("superpixels", mnist.superpixel_graphs, 500)):
        _, wall, _ = timed(lambda: fn(images[:k]))
        rows.append(f"| MNIST {graph} graphs ({k} real digits) | {k / wall:,.0f} images/s |")
    return rows


def tracking_rows() -> list[str]:
    generic_detector()  # geometry built once per process, not counted
    rows = []
    for n_events, n_particles in ((20, 50), (5, 500)):
        events = list(particle_gun(n_events, 1, n_particles=n_particles, pt_min=0.5, pt_max=10.0, eta_max=2.5))
        _, wall, _ = timed(lambda: simulate_raw(events, 1, lambda number, event: None))
        rows.append(f"| ACTS Fatras, {n_particles} pions per event | {n_events / wall:.1f} events/s |")
    return rows


def dry_run_rows(tmp: Path) -> list[str]:
    root = tmp / "workflow"
    root.mkdir()
    for name in ("Snakefile", "config.yaml", "workflow", "src", "envs", "tests/tiny.yaml"):
        (shutil.copytree if (REPO / name).is_dir() else shutil.copy2)(REPO / name, root / Path(name).name)
    snakemake = [str(Path(sys.executable).with_name("snakemake")), "--configfile", "tiny.yaml"]
    subprocess.run([*snakemake, "--cores", "2", "--quiet"], cwd=root, check=True, capture_output=True)
    walls = [timed(lambda: subprocess.run([*snakemake, "--dry-run", "--quiet"], cwd=root, check=True,
                                          capture_output=True))[1] for _ in range(3)]
    return [f"| no-op dry run after the tiny config's run (median of 3) | {statistics.median(walls):.1f} s |"]


def main() -> None:
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        rows, top = simulation_rows(tmp)
        rows += preprocessing_rows(tmp, top) + tracking_rows()
        print("\n".join(rows), flush=True)
        rows += dry_run_rows(tmp)
    table = "\n".join(["| what | rate |", "|---|---|", *rows])
    print(table)
    append("data stages", table)


if __name__ == "__main__":
    main()
