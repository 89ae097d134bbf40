"""Convert TrackML events (CSV or CSV.gz; simulated here or real) into a tracking_events table."""

from __future__ import annotations

import argparse
import logging

from hepgraph.data.tables import write_table
from hepgraph.data.trackml import event_arrays, event_id, list_events, read_event

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--input-dir", nargs="+", required=True, help="directories of TrackML event files")
    parser.add_argument("--pt-min", type=float, default=0.0,
                        help="keep only hits of particles with pT above this (GeV); > 0 also drops noise hits")
    parser.add_argument("--output", required=True, help="tracking_events table to write")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    rows: dict[str, list] = {}
    names: list[str] = []
    for directory in args.input_dir:
        for event in list_events(directory):
            arrays = event_arrays(**read_event(directory, event), pt_min=args.pt_min)
            rows.setdefault("event_id", []).append(event_id(event))
            for name, values in arrays.items():
                rows.setdefault(name, []).append(values)
            names.append(event)
            log.info("%s/%s: %d hits of %d particles kept", directory, event, len(arrays["hit_id"]),
                     len(set(arrays["particle_id"]) - {0}))
    if len(set(rows["event_id"])) != len(names):
        raise ValueError(f"event numbers repeat across {args.input_dir}: give each shard its own event numbers "
                         "(simulate_tracking --first-event)")
    meta = {"source": "trackml_csv", "input_dirs": args.input_dir, "events": names, "pt_min": args.pt_min}
    write_table(args.output, "tracking_events", rows, meta)
    log.info("wrote %d events, %d hits to %s", len(names), sum(map(len, rows["hit_id"])), args.output)


if __name__ == "__main__":
    main()
