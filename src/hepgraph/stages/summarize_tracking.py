"""Write the event multiplicities (hits, noise, particles, reconstructable particles) of tracking_events tables as a
markdown summary, one line per table (e.g. the train, val and test splits of one dataset)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from hepgraph.data.tracking_summary import summary_markdown, table_multiplicities
from hepgraph.io import atomic_output

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--inputs", nargs="+", required=True, help="tracking_events tables, one line each (named "
                                                                   "by the file name without suffix)")
    parser.add_argument("--title", required=True)
    parser.add_argument("--pt-min", type=float, default=1.0, help="reconstructable: particle pT above this, GeV")
    parser.add_argument("--min-hits", type=int, default=5, help="reconstructable: at least this many hits")
    parser.add_argument("--output", required=True, help="markdown file to write")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    cuts = dict(pt_min=args.pt_min, min_hits=args.min_hits)
    parts = {Path(path).stem: table_multiplicities(path, **cuts) for path in args.inputs}
    text = summary_markdown(args.title, parts, **cuts)
    with atomic_output(args.output) as tmp:
        tmp.write_text(text)
    log.info("wrote %s:\n%s", args.output, text)


if __name__ == "__main__":
    main()
