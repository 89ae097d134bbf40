"""Put every graph GAN run's evaluation side by side: a markdown table for the report and a long-format CSV.

    python -m hepgraph.stages.summarize_gan --metrics results/gan/*/metrics.json \\
        --output-md results/gan/runs.md --output-csv results/gan/runs.csv

A run is named by the directory of its metrics.json (``results/gan/<run>/metrics.json``).
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
from pathlib import Path

from hepgraph.evaluation.gan import runs_markdown, runs_table
from hepgraph.io import atomic_output

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--metrics", nargs="+", required=True, help="metrics.json files of stages.evaluate_gan")
    parser.add_argument("--output-md", required=True)
    parser.add_argument("--output-csv", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    results = {}
    for path in map(Path, args.metrics):
        run = path.parent.name
        if run in results:
            parser.error(f"two metrics files for run {run!r}: {path} and another; give each run's file once")
        results[run] = json.loads(path.read_text())
    rows = runs_table(results)
    with atomic_output(args.output_csv) as tmp, tmp.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]) if rows else ["run"])
        writer.writeheader()
        writer.writerows(rows)
    with atomic_output(args.output_md) as tmp:
        tmp.write_text(runs_markdown(results))
    log.info("%d runs, %d score rows -> %s, %s", len(results), len(rows), args.output_md, args.output_csv)


if __name__ == "__main__":
    main()
