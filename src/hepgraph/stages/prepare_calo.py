"""Convert E2E-layout parquet files (simulated here or the real CMS quark-gluon files) into a calo_images table.

The files are streamed batch by batch into the table's row groups: memory holds a few row groups, not a file
(the real CMS files are 7-10 GB).
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Iterator

import numpy as np

from hepgraph.data.calo import read_e2e_meta, read_e2e_parquet
from hepgraph.data.tables import write_table

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--input", nargs="+", required=True, help="E2E-layout parquet files (X_jets, pt, m0, y)")
    parser.add_argument("--output", required=True, help="calo_images table to write")
    parser.add_argument("--batch-size", type=int, default=64,
                        help="jets decoded at a time (pyarrow needs ~5 MB per jet)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    log.info("reading %d E2E file(s): %s", len(args.input), ", ".join(args.input))
    streams = {path: read_e2e_parquet(path, args.batch_size) for path in args.input}  # checks every file up front
    meta = {"source": "e2e_parquet", "sources": [{"file": path, "meta": read_e2e_meta(path)} for path in args.input]}
    per_class = np.zeros(2, np.int64)

    def batches() -> Iterator[dict[str, np.ndarray]]:
        for path, stream in streams.items():
            for batch in stream:
                per_class[:] += np.bincount(batch["y"], minlength=2)
                yield batch
            log.info("%s: %d jets so far", path, per_class.sum())
        if not per_class.any():
            raise ValueError(f"no jets in {args.input}: check that the E2E files are complete")

    n = write_table(args.output, "calo_images", batches(), meta)
    log.info("wrote %d jets (%d quark, %d gluon) to %s", n, per_class[1], per_class[0], args.output)


if __name__ == "__main__":
    main()
