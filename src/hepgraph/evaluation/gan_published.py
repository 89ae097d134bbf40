"""The graph GAN's published numbers (Kansal et al. 2020 and MPGAN), which our evaluations are compared with, as data,
each with its source.

Values are stored in natural units (not the papers' display scales): the seed paper's W1 of 1.8 (x 1e-3) is
stored as 1.8e-3. Tables are keyed by our table names (``jetnet_g`` = JetNet gluon jets with 30 particles,
``mnist_sparse``, ``mnist_superpixels``); a dataset without an entry has no published number to compare with.
The tables are read-only; ``for_dataset`` hands out copies.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Source:
    """Where a set of numbers was published."""

    citation: str
    where: str
    url: str


SEED_PAPER = Source("Kansal et al. 2020, Graph Generative Adversarial Networks for Sparse Data Generation in "
                    "High Energy Physics, ML4PS @ NeurIPS 2020", "Table 2 (gluon jets)",
                    "https://arxiv.org/abs/2012.00173")
SEED_PAPER_MNIST = Source(SEED_PAPER.citation, "MNIST results: mean over the ten digits of the best GFD",
                          SEED_PAPER.url)
MPGAN_PAPER = Source("Kansal et al. 2021, Particle Cloud Generation with Message Passing Generative Adversarial "
                     "Networks, NeurIPS 2021", "Table 1 (JetNet gluon jets, 30 particles; truth = real vs real)",
                     "https://arxiv.org/abs/2106.11535")

#: Seed paper Table 2: W1 of particle eta_rel, phi_rel, pt_rel and jet m/pT (``metrics.jets.TABLE_FEATURES``),
#: mean over P sets of N jets, by dataset and N. Only the N = 1000 row is recorded here (the other rows of the
#: table could not be checked against the paper); at N = 1000 generated and real jets did not agree.
W1_TABLE: dict[str, dict[int, dict[str, dict[str, float]]]] = {
    "jetnet_g": {1000: {
        "real_vs_real": {"eta_rel": 1.8e-3, "phi_rel": 1.7e-3, "pt_rel": 0.47e-3, "m_over_pt": 1.9e-3},
        "real_vs_gen": {"eta_rel": 2.4e-3, "phi_rel": 3.0e-3, "pt_rel": 0.7e-3, "m_over_pt": 2.2e-3},
    }},
}
W1_TABLE_SOURCE = SEED_PAPER

#: MPGAN's JetNet scores (``real_vs_gen``) and the real-vs-real baseline where published (W1M at 10k jets).
#: FPND needs the ParticleNet features of jetnet and is not computed here; it is listed for reference.
JETNET_SCORES: dict[str, dict[str, dict[str, float]]] = {
    "jetnet_g": {
        "real_vs_gen": {"w1m": 0.7e-3, "w1p": 0.9e-3, "w1efp": 0.7e-5, "fpnd": 0.12},
        "real_vs_real": {"w1m": 0.7e-3},
    },
}
JETNET_SCORES_SOURCE = MPGAN_PAPER

#: Seed paper's MNIST graph GANs: graph Frechet distance (GFD), mean over the ten digits of each digit's best.
MEAN_BEST_GFD: dict[str, float] = {"mnist_sparse": 0.52, "mnist_superpixels": 0.30}
MEAN_BEST_GFD_SOURCE = SEED_PAPER_MNIST


def for_dataset(dataset: str) -> dict:
    """Copies of every published number recorded for ``dataset``, each block with its source (JSON-ready)."""
    tables = {"w1_table": (W1_TABLE, W1_TABLE_SOURCE), "jetnet_scores": (JETNET_SCORES, JETNET_SCORES_SOURCE),
              "mean_best_gfd": (MEAN_BEST_GFD, MEAN_BEST_GFD_SOURCE)}
    return {name: {"values": copy.deepcopy(table[dataset]), "source": asdict(source)}
            for name, (table, source) in tables.items() if dataset in table}
