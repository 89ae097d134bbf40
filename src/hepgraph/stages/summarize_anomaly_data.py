"""Write the jets of the anomaly datasets side by side (jets per split, pT, mass, multiplicity) as markdown.

    python -m hepgraph.stages.summarize_anomaly_data --dataset qcd results/graphs/toptag 0 \
        --dataset dark results/graphs/anomaly_dark all --output results/graphs/anomaly_datasets.md

Each dataset is a table directory holding train/val/test.parquet and the label of its jets there ("all": every
jet of the table).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

from hepgraph.data.jet_summary import SUMMARY_COLUMNS, jet_statistics, summary_markdown
from hepgraph.data.tables import read_arrays
from hepgraph.io import atomic_output

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", nargs=3, action="append", required=True, metavar=("NAME", "TABLE_DIR", "LABEL"),
                        help="a dataset: its name, its table's directory and its label there (or 'all')")
    parser.add_argument("--title", default="Anomaly datasets")
    parser.add_argument("--output", required=True, help="markdown file to write")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    rows = {}
    for name, directory, label in args.dataset:
        if label != "all" and not label.lstrip("-").isdigit():
            parser.error(f"--dataset {name}: label {label!r} is neither an integer nor 'all'")
        parts = []
        for split in SPLITS:
            columns = read_arrays(Path(directory, f"{split}.parquet"), "jets", ["label", *SUMMARY_COLUMNS])
            keep = np.ones(len(columns["label"]), bool) if label == "all" else columns["label"] == int(label)
            parts.append({c: columns[c][keep] for c in SUMMARY_COLUMNS})
        jets = {c: np.concatenate([part[c] for part in parts]) for c in SUMMARY_COLUMNS}
        source = Path(directory).name + ("" if label == "all" else f" (label {label})")
        rows[name] = (source, [len(part["jet_pt"]) for part in parts], jet_statistics(jets))
    text = summary_markdown(args.title, rows, SPLITS)
    with atomic_output(args.output) as tmp:
        tmp.write_text(text)
    log.info("wrote %s:\n%s", args.output, text)


if __name__ == "__main__":
    main()
