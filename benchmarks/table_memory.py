"""Peak memory of writing, splitting and reading back tables several times larger than one row group.

    .venv/bin/python benchmarks/table_memory.py [--sizes 4 16 64 256]

For each size (in row groups of ``tables.ROW_GROUP_BYTES``) a fresh Python process writes a calo_images table of
sparse synthetic jet images (187.5 kB per jet uncompressed, as in the CMS E2E files) from batches of 64 jets, as
prepare_calo does; splits it 70/15/15 with the split stage; and reads the train split back a row group at a
time. It reports the peak resident memory (``resource.getrusage(RUSAGE_SELF).ru_maxrss``) after each phase,
and the wall time of each. For contrast, another fresh process reads the whole table at once (``read_arrays``),
as a stage that does not stream would. Appends the table to benchmarks/results.md.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

SHAPE = (3, 125, 125)
BATCH = 64  # jets per batch, prepare_calo's default
PIXELS = 300  # non-zero pixels per jet image


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # ru_maxrss is in KiB on Linux


def jet_batches(n_jets: int) -> Iterator[dict[str, np.ndarray]]:
    """Synthetic calo_images batches: sparse exponential deposits, labels alternating."""
    for start in range(0, n_jets, BATCH):
        rng = np.random.default_rng(start)
        n = min(BATCH, n_jets - start)
        images = np.zeros((n, np.prod(SHAPE)), np.float32)
        np.put_along_axis(images, rng.integers(0, images.shape[1], (n, PIXELS)),
                          rng.exponential(2.0, (n, PIXELS)).astype(np.float32), axis=1)
        yield {"X_jets": images.reshape(n, *SHAPE), "pt": rng.uniform(70, 340, n).astype(np.float32),
               "m0": rng.uniform(5, 60, n).astype(np.float32), "y": (np.arange(start, start + n) % 2).astype(np.int64)}


def child(groups: int, directory: Path, whole: bool) -> dict[str, float]:
    """Run the phases for a table of ``groups`` row groups in this (fresh) process; peak RSS in MiB, times in s."""
    import pyarrow.parquet as pq

    from hepgraph.data import tables
    from hepgraph.stages import split

    n_jets = int(groups * tables.ROW_GROUP_BYTES // (np.prod(SHAPE) * 4 + 16))
    path = directory / f"calo_{groups}.parquet"
    result = {"jets": n_jets, "start_rss": peak_mib()}
    if whole:
        tables.write_table(path, "calo_images", jet_batches(n_jets), {})
        start = time.perf_counter()
        tables.read_arrays(path, "calo_images")
        result.update(read_whole_s=time.perf_counter() - start, read_whole_rss=peak_mib())
        return result
    start = time.perf_counter()
    tables.write_table(path, "calo_images", jet_batches(n_jets), {})
    result.update(write_s=time.perf_counter() - start, write_rss=peak_mib(), file_mib=path.stat().st_size / 2**20,
                  row_groups=pq.ParquetFile(path).num_row_groups)
    outs = {name: directory / f"{name}_{groups}.parquet" for name in split.SPLITS}
    start = time.perf_counter()
    split.main(["--kind", "calo_images", "--inputs", str(path), "--seed", "0",
                *[arg for name, out in outs.items() for arg in (f"--{name}", str(out))]])
    result.update(split_s=time.perf_counter() - start, split_rss=peak_mib())
    start = time.perf_counter()
    for _ in tables.iter_batches(outs["train"], "calo_images"):
        pass
    result.update(read_s=time.perf_counter() - start, read_rss=peak_mib())
    return result


def run_child(groups: int, directory: Path, whole: bool = False) -> dict[str, float]:
    command = [sys.executable, __file__, "--child", str(groups), "--dir", str(directory),
               *(["--whole"] if whole else [])]
    return json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", type=int, default=[4, 16, 64, 256], help="table sizes in row groups")
    parser.add_argument("--contrast-max", type=int, default=16, help="largest size also read whole (memory grows)")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--whole", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(child(args.child, args.dir, args.whole)))
        return

    rows = []
    for groups in args.sizes:
        with tempfile.TemporaryDirectory() as name:
            r = run_child(groups, Path(name))
        whole = "not run"
        if groups <= args.contrast_max:
            with tempfile.TemporaryDirectory() as name:
                w = run_child(groups, Path(name), whole=True)
            whole = f"{w['read_whole_rss']:.0f} ({w['read_whole_s']:.1f} s)"
        table_mib = r["jets"] * (np.prod(SHAPE) * 4 + 16) / 2**20
        rows.append(f"| {groups} ({r['jets']:,} jets, {table_mib:,.0f} MiB in memory, {r['file_mib']:.0f} MiB zstd, "
                    f"{r['row_groups']} row groups) | {r['start_rss']:.0f} "
                    f"| {r['write_rss']:.0f} ({r['write_s']:.1f} s) | {r['split_rss']:.0f} ({r['split_s']:.1f} s) "
                    f"| {r['read_rss']:.0f} ({r['read_s']:.1f} s) | {whole} |")
        print(rows[-1], flush=True)
    table = "\n".join([
        ("calo_images tables of sparse synthetic 3x125x125 images, row groups of ~32 MiB; peak RSS in MiB "
         "(`ru_maxrss`, one fresh process per size and one for the whole-table read), cumulative over the phases, "
         "wall time in brackets; `.venv/bin/python benchmarks/table_memory.py`"),
        "",
        ("| table size (row groups) | after imports | write from 64-jet batches | split 70/15/15 | "
         "read train split with iter_batches | for contrast: read_arrays of the whole table |"),
        "|---|---|---|---|---|---|", *rows])
    print(table)
    from record import append  # only now: it imports torch, and a child's ru_maxrss starts from the parent's RSS

    append("table memory: streamed write, split and read", table)


if __name__ == "__main__":
    main()
