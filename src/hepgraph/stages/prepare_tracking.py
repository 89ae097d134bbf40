"""Convert TrackML events (CSV or CSV.gz; simulated here or real) into a tracking_events table, one event at a time."""

from __future__ import annotations

import argparse
import logging

from hepgraph.data.tables import TableWriter
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

    events = [(directory, event) for directory in args.input_dir for event in list_events(directory)]
    meta = {"source": "trackml_csv", "input_dirs": args.input_dir, "events": [event for _, event in events],
            "pt_min": args.pt_min}
    seen: dict[int, str] = {}
    with TableWriter(args.output, "tracking_events", meta) as out:  # one event at a time
        for directory, event in events:
            number = event_id(event)
            if number in seen:
                raise ValueError(f"event numbers repeat across {args.input_dir}: event {number} is both "
                                 f"{seen[number]} and {directory}/{event}; give each shard its own event numbers "
                                 "(simulate_tracking --first-event)")
            seen[number] = f"{directory}/{event}"
            arrays = event_arrays(**read_event(directory, event), pt_min=args.pt_min)
            out.write({"event_id": [number], **{name: [values] for name, values in arrays.items()}})
            log.info("%s/%s: %d hits of %d particles kept", directory, event, len(arrays["hit_id"]),
                     len(set(arrays["particle_id"]) - {0}))
    log.info("wrote %d events to %s", out.rows, args.output)


if __name__ == "__main__":
    main()
