"""Put the tracking results side by side in the paper's table layout, beside the published numbers.

    python -m hepgraph.stages.summarize_hgnn --results results/hgnn/pt1/test/*.json \\
        --graph-quality results/hgnn/pt1/graphs/test.json --output-md results/hgnn/summary.md

An evaluation file ``<results>/hgnn/<variant>/<events>/<model>.json`` belongs to event set ``<variant>/<events>``;
a graph-quality file ``<results>/hgnn/<variant>/graphs/<events>.json`` to the same set.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from hepgraph.evaluation.tracking import summary_markdown
from hepgraph.io import atomic_output

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", nargs="+", required=True, help="JSON files of stages.evaluate_hgnn")
    parser.add_argument("--graph-quality", nargs="*", default=[], help="JSON files of stages.build_graphs_hgnn")
    parser.add_argument("--output-md", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    results: dict[str, dict] = {}
    for path in map(Path, args.results):
        events = f"{path.parent.parent.name}/{path.parent.name}"
        results.setdefault(events, {})[path.stem] = json.loads(path.read_text())
    quality = {f"{p.parent.parent.name}/{p.stem}": json.loads(p.read_text()) for p in map(Path, args.graph_quality)}
    with atomic_output(args.output_md) as tmp:
        tmp.write_text(summary_markdown(results, quality))
    log.info("%d event sets -> %s", len(results), args.output_md)


if __name__ == "__main__":
    main()
