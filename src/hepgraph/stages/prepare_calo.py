"""Convert E2E-layout parquet files (simulated here or the real CMS quark-gluon files) into a calo_images table."""

from __future__ import annotations

import argparse
import logging

from hepgraph.data.calo import read_e2e_arrays, read_e2e_meta
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
    columns = read_e2e_arrays(args.input, args.batch_size)
    meta = {"source": "e2e_parquet", "sources": [{"file": path, "meta": read_e2e_meta(path)} for path in args.input]}
    write_table(args.output, "calo_images", columns, meta)
    log.info("wrote %d jets (%d quark, %d gluon) to %s", len(columns["y"]), int(columns["y"].sum()),
             int((columns["y"] == 0).sum()), args.output)


if __name__ == "__main__":
    main()
