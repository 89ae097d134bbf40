"""Merge the preprocessed shards of one dataset and write deterministic train/val/test tables, streaming.

Rows are assigned to the splits from their global index (shards in the order given) and a seeded permutation
of all indices; the shards are then read in batches and each row is written to its split in order, so memory
holds about one row group per table, whatever the size of the dataset. Shards that already are the splits (the
official train/val/test files of a published dataset) keep them with ``--input-splits``: nothing is re-drawn.
"""

from __future__ import annotations

import argparse
import contextlib
import logging

import numpy as np

from hepgraph.data.tables import TableWriter, iter_batches, read_arrays, read_meta, table_rows, take_rows

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")


def split_indices(n: int, fractions: tuple[float, float, float], seed: int,
                  labels: np.ndarray | None = None) -> list[np.ndarray]:
    """Row indices of the train, val and test parts of ``n`` rows: a seeded permutation cut by ``fractions``.

    With ``labels`` [n], stratified: the rows of each label are permuted and cut by ``fractions`` on their own,
    so every part holds each label in the proportion of the whole (up to rounding). Each part keeps the original
    row order, so the same inputs and seed always give the same files.
    """
    if len(fractions) != 3 or min(fractions) < 0 or not np.isclose(sum(fractions), 1.0):
        raise ValueError(f"split fractions {fractions} must be three non-negative numbers summing to 1")
    rng = np.random.default_rng(seed)
    groups = [np.arange(n)] if labels is None else [np.flatnonzero(labels == v) for v in np.unique(labels)]
    parts: list[list[np.ndarray]] = [[], [], []]
    for group in groups:
        order = group[rng.permutation(len(group))]
        cuts = np.round(np.cumsum(fractions)[:2] * len(group)).astype(int)
        for k, part in enumerate(np.split(order, cuts)):
            parts[k].append(part)
    return [np.sort(np.concatenate(part)) for part in parts]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kind", required=True, help="table kind of the inputs (see hepgraph.data.tables)")
    parser.add_argument("--inputs", nargs="+", required=True, help="preprocessed shard tables")
    parser.add_argument("--fractions", nargs=3, type=float, default=(0.7, 0.15, 0.15), metavar=("TRAIN", "VAL", "TEST"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-rows", type=int, help="rows read at a time (default: ~4 MiB)")
    parser.add_argument("--stratify", metavar="COLUMN", help="keep the proportions of this label column in every split")
    parser.add_argument("--input-splits", nargs="+", choices=SPLITS, metavar="SPLIT",
                        help="the split of each input, in order, when the inputs already are the splits (e.g. the "
                             "top-tagging train.h5, val.h5, test.h5): every row stays in its input's split")
    for name in SPLITS:
        parser.add_argument(f"--{name}", required=True)
    args = parser.parse_args(argv)
    if args.input_splits and len(args.input_splits) != len(args.inputs):
        parser.error(f"--input-splits names {len(args.input_splits)} splits for {len(args.inputs)} --inputs: give "
                     "one per input")
    if args.input_splits and args.stratify:
        parser.error("--input-splits keeps the inputs' own splits: drop --stratify")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    sizes = [table_rows(path, args.kind) for path in args.inputs]
    n = sum(sizes)
    if n == 0:
        raise ValueError(f"the inputs {args.inputs} hold no rows: rerun the steps that write them")
    if args.input_splits:  # split of every row, by global row index
        assignment = np.repeat([SPLITS.index(name) for name in args.input_splits], sizes).astype(np.int8)
        how = {"input_splits": args.input_splits}
    else:
        labels = (np.concatenate([read_arrays(path, args.kind, [args.stratify])[args.stratify]
                                  for path in args.inputs]) if args.stratify else None)
        assignment = np.empty(n, np.int8)
        for k, index in enumerate(split_indices(n, tuple(args.fractions), args.seed, labels)):
            assignment[index] = k
        how = {"fractions": list(args.fractions), "seed": args.seed, "stratify": args.stratify}
    sources = [{"file": path, "meta": read_meta(path)} for path in args.inputs]
    with contextlib.ExitStack() as stack:  # an error before the end leaves none of the three written
        outs = [stack.enter_context(TableWriter(getattr(args, name), args.kind,
                                                {"split": name, **how, "sources": sources}))
                for name in SPLITS]
        start = 0
        for path in args.inputs:
            for batch in iter_batches(path, args.kind, batch_rows=args.batch_rows):
                rows = assignment[start:start + len(next(iter(batch.values())))]
                for k, out in enumerate(outs):
                    try:
                        out.write(take_rows(batch, np.flatnonzero(rows == k)))
                    except ValueError as err:
                        raise ValueError(f"input {path} does not match the inputs before it: {err}") from err
                start += len(rows)
    for name, out in zip(SPLITS, outs):
        log.info("%s: %d of %d rows -> %s", name, out.rows, n, out.path)


if __name__ == "__main__":
    main()
