"""Draw the tracking figures of one event set, each PNG written atomically:

  --efficiency  tracking efficiency vs particle pT and eta, one curve per model
  --displays    one track display (x-y, r-z) per model of the set's first event, in the order of --tracks

    python -m hepgraph.stages.plot_hgnn --tracks results/hgnn/pt1/test/{ec,bc_hgnn}_tracks.npz \\
        --efficiency results/hgnn/pt1/test/efficiency.png --displays results/hgnn/pt1/test/display_{ec,bc_hgnn}.png

A model is named by its file: ``<model>_tracks.npz`` (stages.evaluate_hgnn).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

from hepgraph.evaluation.tracking import MODEL_NAMES
from hepgraph.plots.tracking import efficiency_plot, track_display

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tracks", nargs="+", required=True, help="<model>_tracks.npz files of stages.evaluate_hgnn")
    parser.add_argument("--min-hits", type=int, default=5, help="particles drawn against pT: at least these hits")
    parser.add_argument("--efficiency", required=True, help="PNG of efficiency vs pT and eta")
    parser.add_argument("--displays", nargs="+", required=True, help="PNG track displays, one per --tracks file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if len(args.displays) != len(args.tracks):
        parser.error(f"{len(args.tracks)} --tracks files but {len(args.displays)} --displays; give one each")

    data = {Path(path).name.removesuffix("_tracks.npz"): dict(np.load(path)) for path in args.tracks}
    efficiency_plot(data, args.min_hits, args.efficiency)
    for (model, d), path in zip(data.items(), args.displays):
        track_display(d["pos"], d["labels"], d["missed"], MODEL_NAMES.get(model, model), path)
    log.info("wrote %s and %d displays", args.efficiency, len(args.displays))


if __name__ == "__main__":
    main()
