"""Convert E2E-layout parquet files (simulated here or the real CMS quark-gluon files) into a calo_images table.

    python -m hepgraph.stages.prepare_calo --input a.parquet b.parquet --quark-label 0 --n-nodes 100 \
        --output results/graphs/calo/shards/a.parquet

The files are streamed batch by batch into the table's row groups: memory holds a batch and a row group, not a
file (the real CMS files are 7-10 GB). Raw labels become the tables' convention (1 = quark, 0 = gluon;
``hepgraph.data.labels``) given ``--quark-label``, the raw value of quark jets; a file that records its own
quark label (the simulated ones) must agree with it. Files with a ``particles`` column (simulated) also give
``nodes``/``mask``: ParticleNet's features of the ``--n-nodes`` leading constituents. A damaged file stops the
stage with the file and row group named, and no table is written.

As a check of the label convention the stage logs the mean number of non-empty track pixels of the quark and
of the gluon jets, and warns when the quarks have as many or more: quark jets have fewer charged particles than
gluon jets of the same pT in every simulation and measurement, so that points to an inverted ``--quark-label``.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Iterator

import numpy as np

from hepgraph.data.calo import PARTICLES, has_particles, read_e2e_meta, read_e2e_parquet
from hepgraph.data.jet_formats import qg_charge, qg_p4
from hepgraph.data.jet_graphs import PARTICLE_FEATURES, particle_features
from hepgraph.data.labels import CLASS_NAMES, GLUON, QUARK, table_labels
from hepgraph.data.tables import write_table

log = logging.getLogger(__name__)


def calo_columns(batch: dict[str, np.ndarray], quark_label: int, n_nodes: int) -> dict[str, np.ndarray]:
    """The calo_images columns of a batch of :func:`read_e2e_parquet`: labels mapped, particles -> nodes/mask."""
    columns = {"X_jets": batch["X_jets"], "pt": batch["pt"], "m0": batch["m0"],
               "y": table_labels(batch["y"], quark_label)}
    if PARTICLES in batch:
        X = batch[PARTICLES]
        p4 = qg_p4(X)
        columns["nodes"], columns["mask"] = particle_features(p4, X[..., 3].astype(np.int64), qg_charge(X),
                                                              p4.sum(axis=1), n_nodes)
    return columns


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", nargs="+", required=True, help="E2E-layout parquet files (X_jets, pt, m0, y)")
    parser.add_argument("--quark-label", type=int, choices=(0, 1), required=True,
                        help="raw y of quark jets in the input files (simulated here: 1)")
    parser.add_argument("--n-nodes", type=int, default=100, help="leading constituents kept (files with particles)")
    parser.add_argument("--output", required=True, help="calo_images table to write")
    parser.add_argument("--batch-size", type=int, default=64,
                        help="jets decoded at a time (pyarrow needs ~5 MB per jet)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    log.info("reading %d E2E file(s): %s", len(args.input), ", ".join(args.input))
    streams = {path: read_e2e_parquet(path, args.batch_size) for path in args.input}  # checks every file up front
    sources = [{"file": path, "meta": read_e2e_meta(path)} for path in args.input]
    for source in sources:
        recorded = (source["meta"] or {}).get("quark_label")
        if recorded is not None and recorded != args.quark_label:
            raise ValueError(f"{source['file']} records quark_label {recorded} but --quark-label is "
                             f"{args.quark_label}: set the quark label of these files to {recorded}")
    with_particles = {path: has_particles(path) for path in args.input}
    if len(set(with_particles.values())) > 1:
        raise ValueError(f"only some inputs have particle constituents ({[p for p, h in with_particles.items() if h]}"
                         f" do, {[p for p, h in with_particles.items() if not h]} do not): one table holds jets of "
                         "one kind; preprocess simulated and real E2E files into separate tables")
    meta = {"source": "e2e_parquet", "sources": sources, "labels": {str(k): v for k, v in CLASS_NAMES.items()},
            "raw_quark_label": args.quark_label,
            **({"node_features": list(PARTICLE_FEATURES)} if any(with_particles.values()) else {})}
    per_class = np.zeros(2, np.int64)
    track_pixels = np.zeros(2)  # non-empty track-pT pixels summed over the jets of each class

    def batches() -> Iterator[dict[str, np.ndarray]]:
        for path, stream in streams.items():
            for batch in stream:
                columns = calo_columns(batch, args.quark_label, args.n_nodes)
                per_class[:] += np.bincount(columns["y"], minlength=2)
                track_pixels[:] += np.bincount(columns["y"], (columns["X_jets"][:, 0] > 0).sum(axis=(1, 2)),
                                               minlength=2)
                yield columns
            log.info("%s: %d jets so far", path, per_class.sum())
        if not per_class.any():
            raise ValueError(f"no jets in {args.input}: check that the E2E files are complete")

    n = write_table(args.output, "calo_images", batches(), meta)
    log.info("wrote %d jets (%d %s, %d %s) to %s", n, per_class[QUARK], CLASS_NAMES[QUARK], per_class[GLUON],
             CLASS_NAMES[GLUON], args.output)
    if per_class.all():
        quark, gluon = track_pixels[QUARK] / per_class[QUARK], track_pixels[GLUON] / per_class[GLUON]
        log.info("non-empty track pixels per jet: %.1f for quarks, %.1f for gluons", quark, gluon)
        if quark >= gluon:
            log.warning("the jets labelled quark have as many or more tracks than the gluon jets (%.1f vs %.1f "
                        "non-empty track pixels): quark jets have fewer; check --quark-label %d "
                        "(datasets.calo.quark_label)", quark, gluon, args.quark_label)


if __name__ == "__main__":
    main()
