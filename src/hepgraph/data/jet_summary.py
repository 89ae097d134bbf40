"""What the jets of several datasets look like side by side: jets per split, pT, mass and multiplicity."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

SUMMARY_COLUMNS = ("jet_pt", "jet_mass", "n_constituents")
"""Columns of a "jets" table that ``jet_statistics`` reads."""


def jet_statistics(columns: Mapping[str, np.ndarray], few: int = 4) -> dict[str, float]:
    """Statistics of jets given by their ``jet_pt`` [N] (GeV), ``jet_mass`` [N] (GeV) and ``n_constituents`` [N]:
    the number of jets, pT median, min and max, mass median, multiplicity 10 %, 50 % and 90 % quantiles and the
    fraction of jets with fewer than ``few`` constituents (the anomaly models read the 4, 9 or 16 leading ones).
    Every statistic but ``jets`` is NaN when there are no jets."""
    pt, mass, n = (np.asarray(columns[c], np.float64) for c in SUMMARY_COLUMNS)
    if len(pt) == 0:
        return {"jets": 0, **dict.fromkeys(("pt_median", "pt_min", "pt_max", "mass_median", "n_10", "n_50", "n_90",
                                            "few"), float("nan"))}
    n_10, n_50, n_90 = np.quantile(n, [0.1, 0.5, 0.9])
    return {"jets": len(pt), "pt_median": float(np.median(pt)), "pt_min": float(pt.min()), "pt_max": float(pt.max()),
            "mass_median": float(np.median(mass)), "n_10": float(n_10), "n_50": float(n_50), "n_90": float(n_90),
            "few": float(np.mean(n < few))}


def summary_markdown(title: str, rows: Mapping[str, tuple[str, Sequence[int], Mapping[str, float]]],
                     splits: Sequence[str], few: int = 4) -> str:
    """A markdown page with one line per dataset: ``rows[name] = (source, jets per split, jet_statistics of all
    its jets)``, source saying which table (and label) the jets come from."""
    lines = [f"# {title}", "",
             "Jets per split; pT and mass (GeV) and constituent multiplicity of all of a dataset's jets: median "
             f"[min-max] of pT, 10 %, 50 % and 90 % quantiles of the multiplicity, and the share of jets with fewer "
             f"than {few} constituents.", "",
             f"| dataset | source | {' | '.join(splits)} | pT | mass | constituents | < {few} constituents |",
             f"|---|---|{'---|' * len(splits)}---|---|---|---|"]
    for name, (source, counts, s) in rows.items():
        if s["jets"] == 0:
            cells = ["-"] * 4
        else:
            cells = [f"{s['pt_median']:.0f} [{s['pt_min']:.0f}-{s['pt_max']:.0f}]", f"{s['mass_median']:.1f}",
                     f"{s['n_10']:.0f} / {s['n_50']:.0f} / {s['n_90']:.0f}", f"{s['few']:.3f}"]
        lines.append(f"| {name} | {source} | {' | '.join(map(str, counts))} | {' | '.join(cells)} |")
    return "\n".join(lines) + "\n"
