"""Peak memory of preprocessing multi-GB E2E-layout parquet files (as the CMS quark/gluon files) into a table.

    .venv/bin/python benchmarks/e2e_memory.py [--sizes-gb 1 3] [--row-group-jets 64 1024]

For each file size and row-group size a fresh Python process writes an E2E-layout file under a temporary
directory (``X_jets`` as nested lists of doubles [3][125][125], as the CMS files; every pixel non-zero, so
sparsity does not make the file small: ~350 kB per jet after zstd), and another fresh
process runs the prepare_calo stage on it (batches of 64 jets). It reports the file, its jets, the stage's
wall time and its peak resident memory (``ru_maxrss``); the files are deleted after each run. Appends the table
to benchmarks/results.md.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

JET_BYTES = 3 * 125 * 125 * 8  # one image as doubles


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def nested(images: np.ndarray) -> "pa.Array":
    """[B, 3, 125, 125] doubles as the CMS files store them: list<list<list<double>>>."""
    import pyarrow as pa

    values = pa.array(images.reshape(-1))
    for size in reversed(images.shape[1:]):
        values = pa.ListArray.from_arrays(pa.array(np.arange(0, len(values) + 1, size, dtype=np.int32)), values)
    return values


def write(path: Path, n_jets: int, row_group_jets: int) -> dict[str, float]:
    """Write ``n_jets`` dense random jets in the E2E layout, one row group of ``row_group_jets`` jets at a time."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([("X_jets", pa.list_(pa.list_(pa.list_(pa.float64())))), ("pt", pa.float64()),
                        ("m0", pa.float64()), ("y", pa.float64())])
    start = time.perf_counter()
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        for first in range(0, n_jets, row_group_jets):
            rng = np.random.default_rng(first)
            n = min(row_group_jets, n_jets - first)
            columns = [nested(rng.exponential(0.1, (n, 3, 125, 125))), pa.array(rng.uniform(70, 200, n)),
                       pa.array(rng.uniform(5, 40, n)), pa.array((np.arange(n) % 2).astype(np.float64))]
            writer.write_table(pa.Table.from_arrays(columns, schema=schema), row_group_size=row_group_jets)
    return {"write_s": time.perf_counter() - start, "file_gib": path.stat().st_size / 2**30,
            "row_groups": pq.ParquetFile(path).num_row_groups}


def prepare(path: Path) -> dict[str, float]:
    from hepgraph.stages import prepare_calo

    start_rss = peak_mib()
    start = time.perf_counter()
    prepare_calo.main(["--input", str(path), "--quark-label", "0", "--output", str(path.with_name("calo.parquet"))])
    return {"start_rss": start_rss, "prepare_s": time.perf_counter() - start, "prepare_rss": peak_mib(),
            "table_gib": path.with_name("calo.parquet").stat().st_size / 2**30}


def run_child(*args: str) -> dict[str, float]:
    result = subprocess.run([sys.executable, __file__, *args], check=True, capture_output=True, text=True)
    return json.loads(result.stdout.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes-gb", nargs="+", type=float, default=[1.0, 3.0], help="file sizes, GiB")
    parser.add_argument("--row-group-jets", nargs="+", type=int, default=[64, 1024], help="jets per row group")
    parser.add_argument("--write", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--prepare", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.write:
        print(json.dumps(write(Path(args.write[0]), int(args.write[1]), int(args.write[2]))))
        return
    if args.prepare:
        print(json.dumps(prepare(Path(args.prepare))))
        return

    rows = []
    for size in args.sizes_gb:
        for group in args.row_group_jets:
            n_jets = int(size * 2**30 / JET_BYTES)
            with tempfile.TemporaryDirectory(dir="/tmp") as name:
                path = Path(name, "e2e.parquet")
                w = run_child("--write", str(path), str(n_jets), str(group))
                p = run_child("--prepare", str(path))
            rows.append(f"| {w['file_gib']:.2f} GiB, {n_jets:,} jets | {group} ({w['row_groups']}) | "
                        f"{p['start_rss']:.0f} | {p['prepare_rss']:.0f} | {p['prepare_s']:.0f} s "
                        f"({n_jets / p['prepare_s']:.0f} jets/s) | {p['table_gib']:.2f} GiB |")
            print(rows[-1], flush=True)
    table = "\n".join([
        ("prepare_calo on E2E-layout files made here (nested lists of doubles, every pixel non-zero: 375 kB per jet, "
         "zstd), batches of 64 jets; peak RSS in MiB (`ru_maxrss` of a fresh process); "
         "`.venv/bin/python benchmarks/e2e_memory.py`"),
        "",
        "| input file | jets per row group (row groups) | RSS after imports | peak RSS | wall time | table written |",
        "|---|---|---|---|---|---|", *rows])
    print(table)
    from record import append  # only now: it imports torch

    append("E2E preprocessing memory: multi-GB files streamed into a calo_images table", table)


if __name__ == "__main__":
    main()
