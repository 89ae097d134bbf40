"""The quark/gluon label convention of every hepgraph table: 1 = quark, 0 = gluon.

Raw files differ: the CMS E2E parquet files store ``y`` without saying which value is a quark (the ML4SCI
reference notebook reads y = 0 as quark; set ``datasets.calo.quark_label`` for your files), the Pythia
quark/gluon files (Zenodo 3164691) and this project's simulated files use 1 = quark. Preprocessing maps raw
labels with :func:`table_labels`; everything after it speaks of :data:`CLASS_NAMES`, never of bare 0/1.
"""

from __future__ import annotations

import numpy as np

QUARK = 1
GLUON = 0
CLASS_NAMES = {QUARK: "quark", GLUON: "gluon"}


def class_name(label: int) -> str:
    """"quark" or "gluon" for a table label."""
    try:
        return CLASS_NAMES[int(label)]
    except KeyError:
        raise ValueError(f"label {label!r} is neither {QUARK} (quark) nor {GLUON} (gluon)") from None


def table_labels(raw: np.ndarray, quark_label: int) -> np.ndarray:
    """Table labels int64 [N] (1 = quark, 0 = gluon) of raw labels [N] in {0, 1}; ``quark_label`` is the raw quark."""
    if quark_label not in (0, 1):
        raise ValueError(f"quark_label must be 0 or 1 (the raw label value of quark jets), got {quark_label!r}")
    raw = np.asarray(raw)
    if not np.isin(raw, (0, 1)).all():
        raise ValueError(f"raw quark/gluon labels must be 0 or 1, found {np.unique(raw).tolist()}")
    return np.where(raw == quark_label, QUARK, GLUON).astype(np.int64)
