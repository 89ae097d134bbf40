"""Generate graphs with a trained graph GAN and write them as a table of the same kind as its training data.

    python -m hepgraph.stages.generate_gan --checkpoint results/gan/jetnet_g/model.pt --n 2000 --label 0 \\
        --seed 1 --output results/gan/jetnet_g/generated.parquet

Features are mapped back to physical units. With MPGAN-style masking the generator's own mask is kept, using
real multiplicities drawn from ``--counts-from``, and masked-out nodes are zero. A generator without a mask makes
fixed-size graphs: every node is kept (mask all True) and the table's meta says ``fixed_size: true``, so that the
evaluation scores all nodes of real and generated graphs alike, as the seed paper did (hepgraph.evaluation.gan).
Jets: unknown jet-level columns (pt, eta, mass) are NaN; a negative pt_rel is left for the evaluation to clip.
"""

from __future__ import annotations

import argparse
import logging

import numpy as np
import torch

from hepgraph.data.tables import read_dense, write_table
from hepgraph.device import pick_device
from hepgraph.models.graph_gan import GraphGANConfig, GraphGANTask
from hepgraph.train.checkpoint import load_checkpoint, load_states

log = logging.getLogger(__name__)


def generate(checkpoint: str, n: int, seed: int, device: torch.device,
             counts: torch.Tensor | None = None, batch: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """``n`` graphs from the generator of ``checkpoint`` -> nodes float32 [n, N, F] (physical units), mask [n, N]."""
    ckpt = load_checkpoint(checkpoint, device)
    config = GraphGANConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in ckpt["meta"]["config"].items()})
    task = GraphGANTask(config, device)
    load_states(checkpoint, ckpt["models"], task.models)
    task.generator.eval()
    torch.manual_seed(seed)
    nodes, masks = [], []
    with torch.no_grad():
        for start in range(0, n, batch):
            size = min(batch, n - start)
            x, mask = task.sample(size, None if counts is None else counts[start:start + size])
            nodes.append(x.cpu())
            masks.append(torch.ones(x.shape[:2], dtype=torch.bool) if mask is None else mask.cpu())
    meta = ckpt["meta"]
    mask = torch.cat(masks)
    nodes = (torch.cat(nodes) * torch.tensor(meta["scale"]) + torch.tensor(meta["shift"])) * mask.unsqueeze(-1)
    return nodes.numpy(), mask.numpy()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--n", type=int, required=True, help="graphs to generate")
    parser.add_argument("--label", type=int, required=True, help="label column of the output (class or digit)")
    parser.add_argument("--counts-from", help="table whose multiplicities feed a masking generator (gen_mask)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--output", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    meta = load_checkpoint(args.checkpoint)["meta"]
    counts = None
    if meta["config"]["gen_mask"]:
        if not args.counts_from:
            parser.error("this generator masks its nodes (gen_mask): give --counts-from with a real table")
        real_mask = read_dense(args.counts_from, meta["kind"], ["mask"])["mask"]
        draw = torch.randint(len(real_mask), (args.n,), generator=torch.Generator().manual_seed(args.seed))
        counts = real_mask.sum(1)[draw]
    nodes, mask = generate(args.checkpoint, args.n, args.seed, pick_device(args.device), counts)
    columns = {"nodes": nodes, "mask": mask, "label": np.full(args.n, args.label, np.int64)}
    if meta["kind"] == "jets":
        nan = np.full(args.n, np.nan, np.float32)
        columns.update(jet_pt=nan, jet_eta=nan, jet_mass=nan, n_constituents=mask.sum(1).astype(np.int32))
    fixed_size = not meta["config"]["gen_mask"]
    write_table(args.output, meta["kind"], columns,
                {"generated": True, "checkpoint": args.checkpoint, "n_samples": args.n, "seed": args.seed,
                 "fixed_size": fixed_size})
    log.info("wrote %d generated graphs to %s", args.n, args.output)


if __name__ == "__main__":
    main()
