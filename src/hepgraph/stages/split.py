"""Merge the preprocessed shards of one dataset and write deterministic train/val/test tables."""

from __future__ import annotations

import argparse
import logging

import numpy as np

from hepgraph.data.tables import concat_arrays, read_arrays, read_meta, take_rows, write_table

log = logging.getLogger(__name__)


def split_indices(n: int, fractions: tuple[float, float, float], seed: int) -> list[np.ndarray]:
    """Row indices of the train, val and test parts of ``n`` rows: a seeded permutation cut by ``fractions``.

    Each part keeps the original row order, so the same inputs and seed always give the same files.
    """
    if len(fractions) != 3 or min(fractions) < 0 or not np.isclose(sum(fractions), 1.0):
        raise ValueError(f"split fractions {fractions} must be three non-negative numbers summing to 1")
    order = np.random.default_rng(seed).permutation(n)
    cuts = np.round(np.cumsum(fractions)[:2] * n).astype(int)
    return [np.sort(part) for part in np.split(order, cuts)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kind", required=True, help="table kind of the inputs (see hepgraph.data.tables)")
    parser.add_argument("--inputs", nargs="+", required=True, help="preprocessed shard tables")
    parser.add_argument("--fractions", nargs=3, type=float, default=(0.7, 0.15, 0.15), metavar=("TRAIN", "VAL", "TEST"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train", required=True)
    parser.add_argument("--val", required=True)
    parser.add_argument("--test", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    arrays = concat_arrays([read_arrays(path, args.kind) for path in args.inputs])
    n = len(next(iter(arrays.values())))
    sources = [{"file": path, "meta": read_meta(path)} for path in args.inputs]
    parts = split_indices(n, tuple(args.fractions), args.seed)
    for name, path, index in zip(("train", "val", "test"), (args.train, args.val, args.test), parts):
        meta = {"split": name, "fractions": list(args.fractions), "seed": args.seed, "sources": sources}
        write_table(path, args.kind, take_rows(arrays, index), meta)
        log.info("%s: %d of %d rows -> %s", name, len(index), n, path)


if __name__ == "__main__":
    main()
