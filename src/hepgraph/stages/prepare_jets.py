"""Turn raw jet files of one public layout into a "jets" parquet table of fixed-size particle graphs.

    python -m hepgraph.stages.prepare_jets --input results/raw/g_1.hdf5 results/raw/g_2.hdf5 --format jetnet \
        --label 0 --n-nodes 30 --output results/jets/g.parquet

JetNet features are kept as stored (mask from the 4th feature) and need ``--label``; top-tagging and
quark/gluon files carry their labels, and their features are computed from the constituent momenta (and,
for quark/gluon files, their PDG ids: ParticleNet's features, see ``hepgraph.data.jet_graphs``).
HDF5 files are read ``--chunk-size`` jets at a time and each chunk is written on to the table, so memory holds
a chunk and a row group, not the file.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from hepgraph.data.jet_formats import FORMATS, iter_jet_graphs, node_features
from hepgraph.data.tables import TableWriter

log = logging.getLogger("hepgraph.stages.prepare_jets")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", required=True, nargs="+", help="raw files, all of --format")
    parser.add_argument("--format", required=True, choices=FORMATS)
    parser.add_argument("--label", type=int, help="class label of the jets (JetNet input only)")
    parser.add_argument("--n-nodes", type=int, default=30, help="leading constituents kept per jet")
    parser.add_argument("--chunk-size", type=int, default=100_000, help="jets read at a time")
    parser.add_argument("--output", required=True, help="parquet table of kind 'jets'")
    args = parser.parse_args(argv)
    if (args.label is None) == (args.format == "jetnet"):
        parser.error("--format jetnet needs --label (a JetNet file holds one class)" if args.format == "jetnet"
                     else f"--format {args.format} files carry their labels: drop --label")
    return args


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    args = parse_args(argv)
    meta = {"source": [Path(p).name for p in args.input], "format": args.format, "n_nodes": args.n_nodes,
            "node_features": list(node_features(args.format)), "label": args.label}
    with TableWriter(args.output, "jets", meta) as out:
        for path in args.input:
            for chunk in iter_jet_graphs(path, args.format, args.n_nodes, label=args.label,
                                         chunk_size=args.chunk_size):
                out.write(chunk.columns())
                log.info("%s: %d jets read", path, len(chunk.label))
        if not out.rows:
            raise ValueError(f"no jets in {args.input}: check that the raw files are complete")
    log.info("wrote %d jets to %s", out.rows, args.output)


if __name__ == "__main__":
    main()
