"""Generated graphs scored against real ones, every score beside its real-vs-real baseline, and their summary.

As in Kansal et al. 2020, a real-vs-generated score means little alone: it is set beside the same score between
two disjoint real samples (the baseline: the score's statistical floor at that sample size). Scores *match* when
real-vs-generated exceeds real-vs-real by at most one combined standard deviation, sqrt(s_rr^2 + s_rg^2); a
generated score below the baseline matches too. Jets are [N, n, 3] arrays of (eta_rel, phi_rel, pt_rel),
MNIST graphs [N, n, 3] of (x, y, intensity), each with a boolean mask [N, n].

Padding. A generator without a mask (the seed paper's models) makes every graph with all n nodes: tanh never
reaches the ends of its range, so no threshold tells its padding from a node (a superpixel of grey value 0 is
as real a node as any). As in the paper's code (github.com/rkansal47/mnist_graph_gan, jets/evaluation.py
``calc_w1`` without ``args.mask``), such *fixed-size* graphs are scored as they were trained: every node counts,
the real graphs' zero padding included (:func:`scored_mask`); negative generated pt_rel is set to 0, not dropped.
A masking generator (MPGAN) is scored on the real nodes of both samples, as jetnet does.

Bootstrap sizes. jetnet's W1 batches of 50,000 jets and FPD batches of 20,000-50,000 presume samples at least
that large; drawn from a few hundred jets they repeat every jet many times, and the spread over batches then
measures resampling noise only. :meth:`JetSettings.for_sample` caps every batch at the smallest sample.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from hepgraph.data.tables import read_meta
from hepgraph.metrics.efp import efps_d_le_4
from hepgraph.metrics.jets import (PARTICLE_FEATURES, TABLE_FEATURES, Score, W1Score, fpd, kpd, w1_table, w1efp,
                                   w1m, w1p)

log = logging.getLogger(__name__)

PT_REL = PARTICLE_FEATURES.index("pt_rel")
IMAGE_FEATURES: tuple[str, ...] = ("x", "y", "intensity")
PAPER_W1_GRID: tuple[tuple[int, int], ...] = ((100, 1000), (1000, 100), (10000, 10))  # (N jets, P sets)

@dataclass(frozen=True)
class JetSettings:
    """Sample sizes of the jet scores as asked for (``evaluate_jets`` caps them with :meth:`for_sample`). Defaults:
    the seed paper's Table 2 grid and aim, jetnet's metric defaults."""

    w1_grid: tuple[tuple[int, int], ...] = PAPER_W1_GRID
    aim_n: int = 1000
    num_eval_samples: int = 50_000
    num_batches: int = 5
    fpd_min_samples: int = 20_000
    fpd_max_samples: int = 50_000
    fpd_batches: int = 20
    kpd_batch_size: int = 5_000

    def for_sample(self, n: int) -> JetSettings:
        """These settings for samples of which the smallest has ``n`` jets: W1 and KPD batches of at most n jets
        (a bootstrap replicate of the whole sample), FPD batch sizes scaled by min(1, n / fpd_max_samples) so that
        the largest is at most n and the 1/N extrapolation keeps its range. Unchanged when n allows them all."""
        f = min(1.0, n / self.fpd_max_samples)
        return replace(self, num_eval_samples=min(self.num_eval_samples, n), kpd_batch_size=min(self.kpd_batch_size, n),
                       fpd_min_samples=max(2, round(self.fpd_min_samples * f)),
                       fpd_max_samples=min(self.fpd_max_samples, n))


def scored_mask(mask: np.ndarray, fixed_size: bool) -> np.ndarray:
    """The nodes [N, n] bool that scores count: every node of fixed-size graphs (padding included), else ``mask``."""
    return np.ones_like(mask) if fixed_size else mask


def is_fixed_size(path: str | Path) -> bool:
    """Whether the generated table at ``path`` holds fixed-size graphs (``stages.generate_gan`` meta ``fixed_size``)."""
    return read_meta(path).get("fixed_size") is True


def clip_negative_pt(jets: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, int]:
    """Negative pt_rel set to 0, as jetnet's ``gen_jet_corrections`` (``zero_neg_pt``) does.

    Returns a clipped copy of ``jets`` [N, n, 3] and the number of real (masked-in) particles that were clipped.
    """
    pt = jets[..., PT_REL]
    clipped = jets.copy()
    clipped[..., PT_REL] = np.maximum(pt, 0)
    return clipped, int(np.count_nonzero((pt < 0) & mask))


def matches(rr_value: float, rr_error: float, rg_value: float, rg_error: float) -> bool:
    """Whether real-vs-generated exceeds real-vs-real by at most one combined standard deviation."""
    return bool(rg_value - rr_value <= math.hypot(rr_error, rg_error))


def split_halves(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two disjoint random index sets of sizes ceil(n / 2) and floor(n / 2), each in increasing order."""
    order = rng.permutation(n)
    return np.sort(order[:(n + 1) // 2]), np.sort(order[(n + 1) // 2:])


def _score(score: Score | W1Score, features: Sequence[str] | None) -> dict:
    out = {"value": score.value, "error": score.error}
    if features is not None:
        out["features"] = {f: {"mean": float(m), "std": float(s)}
                           for f, m, s in zip(features, score.feature_means, score.feature_stds)}
    return out


def compare(real_vs_real: Score | W1Score, real_vs_gen: Score | W1Score,
            features: Sequence[str] | None = None) -> dict:
    """A score and its baseline as {"real_vs_real", "real_vs_gen": {"value", "error"[, "features"]}, "match"}."""
    return {"real_vs_real": _score(real_vs_real, features), "real_vs_gen": _score(real_vs_gen, features),
            "match": matches(real_vs_real.value, real_vs_real.error, real_vs_gen.value, real_vs_gen.error)}


def w1_table_rows(real: np.ndarray, real_mask: np.ndarray, gen: np.ndarray, gen_mask: np.ndarray,
                  grid: Sequence[tuple[int, int]], rng: np.random.Generator) -> list[dict]:
    """The seed paper's Table 2 (``metrics.jets.w1_table``) for each (n, p) of ``grid``, per feature with "match".

    A row that needs more jets than there are (2n real, n generated) is {"n", "p", "skipped": why}.
    """
    rows = []
    for n, p in grid:
        if 2 * n > len(real) or n > len(gen):
            why = (f"needs {2 * n} real and {n} generated jets; {len(real)} real and {len(gen)} generated "
                   "available")
            log.info("W1 table N=%d P=%d skipped: %s", n, p, why)
            rows.append({"n": n, "p": p, "skipped": why})
            continue
        table = w1_table(real, real_mask, gen, gen_mask, n, p, rng)
        row = table.to_dict()
        row["match"] = {f: matches(*args) for f, *args in
                        zip(TABLE_FEATURES, table.real_mean, table.real_std, table.gen_mean, table.gen_std)}
        row["all_match"] = all(row["match"].values())
        log.info("W1 table N=%d P=%d: match %s", n, p, row["match"])
        rows.append(row)
    return rows


def aim(rows: Sequence[Mapping], n: int) -> dict:
    """Whether every Table 2 feature matches at ``n`` jets: {"n", "evaluated", "match" (None if not), "note"}."""
    row = next((r for r in rows if r["n"] == n), None)
    if row is None:
        return {"n": n, "evaluated": False, "match": None, "note": f"N = {n} is not in the W1 table grid"}
    if "skipped" in row:
        return {"n": n, "evaluated": False, "match": None, "note": row["skipped"]}
    failed = [f for f, ok in row["match"].items() if not ok]
    note = f"no match in {', '.join(failed)}" if failed else "all four features match"
    return {"n": n, "evaluated": True, "match": row["all_match"], "note": note}


def evaluate_jets(real: np.ndarray, real_mask: np.ndarray, baseline: np.ndarray, baseline_mask: np.ndarray,
                  gen: np.ndarray, gen_mask: np.ndarray, settings: JetSettings, rng: np.random.Generator) -> dict:
    """Table 2 replica and the JetNet scores W1M, W1P, W1EFP, FPD, KPD of generated jets, each with its baseline.

    ``real`` is the reference sample; real-vs-real scores compare it with ``baseline``, a disjoint real sample
    (e.g. the training jets), and real-vs-generated ones with ``gen``. Table 2 draws its real sets from both real
    samples together. FPD and KPD use the 36 EFPs with d <= 4 as features (jetnet's recommendation).
    """
    if real.shape[1:] != baseline.shape[1:]:
        raise ValueError(f"the two real samples have different graph shapes {real.shape[1:]} and "
                         f"{baseline.shape[1:]}; give tables of the same dataset")
    s = settings.for_sample(min(len(real), len(baseline), len(gen)))
    rows = w1_table_rows(np.concatenate([real, baseline]), np.concatenate([real_mask, baseline_mask]),
                         gen, gen_mask, s.w1_grid, rng)
    scores = {}
    for name, fn, features in (("w1m", w1m, None), ("w1p", w1p, PARTICLE_FEATURES), ("w1efp", w1efp, None)):
        rr = fn(real, real_mask, baseline, baseline_mask, rng, s.num_eval_samples, s.num_batches)
        rg = fn(real, real_mask, gen, gen_mask, rng, s.num_eval_samples, s.num_batches)
        scores[name] = compare(rr, rg, features)
        log.info("%s: real vs real %.4g +- %.2g, real vs generated %.4g +- %.2g", name, rr.value, rr.error,
                 rg.value, rg.error)
    log.info("computing the 36 EFPs of %d + %d + %d jets for FPD and KPD", len(real), len(baseline), len(gen))
    efp_real, efp_base, efp_gen = (efps_d_le_4(x, m) for x, m in
                                   ((real, real_mask), (baseline, baseline_mask), (gen, gen_mask)))
    scores["fpd"] = compare(fpd(efp_real, efp_base, s.fpd_min_samples, s.fpd_max_samples, s.fpd_batches),
                            fpd(efp_real, efp_gen, s.fpd_min_samples, s.fpd_max_samples, s.fpd_batches))
    scores["kpd"] = compare(kpd(efp_real, efp_base, batch_size=s.kpd_batch_size),
                            kpd(efp_real, efp_gen, batch_size=s.kpd_batch_size))
    log.info("FPD and KPD done")
    return {"settings": asdict(s), "requested_settings": asdict(settings), "w1_table": rows, "aim": aim(rows, s.aim_n),
            "jetnet": scores}


def evaluate_image_graphs(real: np.ndarray, real_mask: np.ndarray, baseline: np.ndarray, baseline_mask: np.ndarray,
                          gen: np.ndarray, gen_mask: np.ndarray, rng: np.random.Generator,
                          num_eval_samples: int = 50_000, num_batches: int = 5,
                          classifier: str | Path | None = None) -> dict:
    """W1 of the pooled node features (x, y, intensity) over bootstrap graph samples and, given a ``classifier``
    checkpoint (``stages.train_gfd_classifier``), the graph Frechet distance; each real vs generated beside real vs
    real. Each bootstrap batch draws min(``num_eval_samples``, smallest sample) graphs with replacement."""
    size = min(num_eval_samples, len(real), len(baseline), len(gen))
    node_w1 = compare(w1p(real, real_mask, baseline, baseline_mask, rng, size, num_batches),
                      w1p(real, real_mask, gen, gen_mask, rng, size, num_batches), IMAGE_FEATURES)
    out = {"settings": {"num_eval_samples": size, "num_batches": num_batches},
           "requested_settings": {"num_eval_samples": num_eval_samples, "num_batches": num_batches},
           "node_w1": node_w1, "gfd": None}
    if classifier is not None:
        from hepgraph.metrics.gfd import gfd  # torch and the MoNet classifier, only when asked for

        out["gfd"] = {"real_vs_real": gfd(real, real_mask, baseline, baseline_mask, classifier),
                      "real_vs_gen": gfd(real, real_mask, gen, gen_mask, classifier)}
        log.info("GFD: real vs real %.4g, real vs generated %.4g", out["gfd"]["real_vs_real"],
                 out["gfd"]["real_vs_gen"])
    return out


# --- summary ---------------------------------------------------------------------------------------------------

def _pm(entry: Mapping, scale: float) -> str:
    """An entry {"value"|"mean", "error"|"std"} as text "value ± error" in units of ``scale`` (JSON None: n/a)."""
    value, error = entry.get("value", entry.get("mean")), entry.get("error", entry.get("std"))
    if value is None:
        return "n/a"
    return f"{value / scale:.3g}" + ("" if error is None else f" ± {error / scale:.2g}")


def _yes(ok: bool | None) -> str:
    return "n/a" if ok is None else "**yes**" if ok else "no"


def _published(value: float | None, scale: float) -> str:
    return "–" if value is None else f"{value / scale:.3g}"


def _sources(pub: Mapping) -> list[str]:
    seen = {}
    for block in pub.values():
        src = block["source"]
        seen.setdefault(src["url"], f"- {src['citation']}, {src['where']}: <{src['url']}>")
    return ["", "Sources of the published numbers:", *seen.values()] if seen else [
        "", "No published numbers are recorded for this dataset (hepgraph.evaluation.gan_published)."]


def _table2_lines(rows: Sequence[Mapping], pub: Mapping) -> list[str]:
    labels = {"eta_rel": "η_rel", "phi_rel": "φ_rel", "pt_rel": "pT_rel", "m_over_pt": "jet m/pT"}
    lines = ["| N | P | W1 (× 1e-3) | " + " | ".join(labels[f] for f in TABLE_FEATURES) + " |",
             "|---:|---:|---|" + "---:|" * len(TABLE_FEATURES)]
    published_rows = pub.get("w1_table", {}).get("values", {})
    paper_p = dict(PAPER_W1_GRID)
    skipped = []
    for row in rows:
        n, p = row["n"], row["p"]
        if "skipped" in row:
            skipped.append(f"- N = {n}, P = {p} not evaluated: {row['skipped']}.")
        else:
            for key, label in (("real_vs_real", "real vs real"), ("real_vs_gen", "real vs generated")):
                lines.append(f"| {n} | {p} | {label} | "
                             + " | ".join(_pm(row[key][f], 1e-3) for f in TABLE_FEATURES) + " |")
            lines.append(f"| {n} | {p} | match (1σ) | " + " | ".join(_yes(row["match"][f]) for f in TABLE_FEATURES)
                         + " |")
        for key, label in (("real_vs_real", "published real vs real"), ("real_vs_gen", "published real vs gen.")):
            if str(n) in published_rows:
                values = published_rows[str(n)][key]
                lines.append(f"| {n} | {paper_p.get(n, '–')} | {label} | "
                             + " | ".join(_published(values[f], 1e-3) for f in TABLE_FEATURES) + " |")
    return lines + ([""] + skipped if skipped else [])


#: (key, name, display scale) of the JetNet score rows
_JETNET_ROWS = (("w1m", "W1M", "1e-3"), ("w1p", "W1P", "1e-3"), ("w1efp", "W1EFP", "1e-5"), ("fpd", "FPD", "1e-3"),
                ("kpd", "KPD", "1e-3"))


def _jetnet_lines(scores: Mapping, pub: Mapping) -> list[str]:
    values = pub.get("jetnet_scores", {}).get("values", {})
    pub_rr, pub_rg = values.get("real_vs_real", {}), values.get("real_vs_gen", {})
    lines = ["| score | real vs real | real vs generated | match (1σ) | published real vs real | "
             "published real vs gen. |", "|---|---:|---:|---|---:|---:|"]
    for key, name, scale_text in _JETNET_ROWS:
        s, scale = scores[key], float(scale_text)
        lines.append(f"| {name} (× {scale_text}) | {_pm(s['real_vs_real'], scale)} | {_pm(s['real_vs_gen'], scale)} "
                     f"| {_yes(s['match'])} | {_published(pub_rr.get(key), scale)} | "
                     f"{_published(pub_rg.get(key), scale)} |")
    if "fpnd" in pub_rg:
        lines.append(f"| FPND | not computed | not computed | n/a | – | {pub_rg['fpnd']:.3g} |")
    return lines


def _jets_markdown(result: Mapping, pub: Mapping) -> list[str]:
    goal = result["aim"]
    verdict = (f"**{'yes' if goal['match'] else 'no'}** ({goal['note']})" if goal["evaluated"]
               else f"not evaluated ({goal['note']})")
    return ["## Seed paper Table 2 replica", "",
            "W1 between real and generated particle features (pooled particles) and jet m/pT: mean ± std over P "
            "random sets of N jets; real vs real compares two disjoint sets of real jets.", "",
            *_table2_lines(result["w1_table"], pub), "",
            f"Aim: real-vs-generated W1 within one standard deviation of real-vs-real at N = {goal['n']}: {verdict}.",
            "", "## JetNet scores", "", _jetnet_sizes(result["settings"], result["requested_settings"]), "",
            *_jetnet_lines(result["jetnet"], pub)]


def _jetnet_sizes(used: Mapping, asked: Mapping) -> str:
    """The sample sizes of the JetNet scores as a sentence, saying where they were scaled down to the sample."""
    def sizes(s: Mapping) -> tuple[str, str, str]:
        return (f"{s['num_eval_samples']:,}", f"{s['fpd_min_samples']:,}–{s['fpd_max_samples']:,}",
                f"{s['kpd_batch_size']:,}")

    w1, fpd_sizes, kpd_size = sizes(used)
    text = (f"W1 scores: mean ± std over {used['num_batches']} bootstrap batches of {w1} jets drawn with replacement; "
            f"FPD: batches of {fpd_sizes} jets extrapolated to infinite size; KPD: batches of {kpd_size} jets; "
            "FPD and KPD on the 36 EFPs with d ≤ 4.")
    if sizes(used) != sizes(asked):
        text += (" Scaled to the smallest sample (jetnet: W1 {}, FPD {}, KPD {} jets): larger batches would repeat "
                 "its jets, and their spread would measure resampling noise only.".format(*sizes(asked)))
    return text


def _image_graphs_markdown(result: Mapping, pub: Mapping) -> list[str]:
    w1_nodes = result["node_w1"]
    lines = ["## Node features", "", "| W1 (× 1e-3) | real vs real | real vs generated |", "|---|---:|---:|",
             f"| mean of x, y, intensity | {_pm(w1_nodes['real_vs_real'], 1e-3)} | "
             f"{_pm(w1_nodes['real_vs_gen'], 1e-3)} |"]
    lines += [f"| {f} | {_pm(w1_nodes['real_vs_real']['features'][f], 1e-3)} | "
              f"{_pm(w1_nodes['real_vs_gen']['features'][f], 1e-3)} |" for f in IMAGE_FEATURES]
    used, asked = result["settings"]["num_eval_samples"], result["requested_settings"]["num_eval_samples"]
    lines += ["", f"Mean ± std over {result['settings']['num_batches']} bootstrap batches of {used:,} graphs drawn "
              "with replacement" + (f" (scaled to the smallest sample from {asked:,})" if used != asked else "")
              + f". Match within one standard deviation: {_yes(w1_nodes['match'])}.", "", "## Graph Frechet distance",
              ""]
    best = pub.get("mean_best_gfd", {}).get("values")
    published_gfd = "–" if best is None else f"{best:.3g} (mean over the ten digits of the best GFD)"
    gfd = result["gfd"]
    rr, rg = ("n/a", "n/a") if gfd is None else (f"{gfd['real_vs_real']:.3g}", f"{gfd['real_vs_gen']:.3g}")
    lines += ["| GFD | real vs real | real vs generated | published |", "|---|---:|---:|---|",
              f"| digit {result['digit']} | {rr} | {rg} | {published_gfd} |"]
    if gfd is None:
        lines += ["", "GFD not computed: no classifier checkpoint was given (--classifier)."]
    return lines


def summary_markdown(result: Mapping) -> str:
    """The evaluation ``result`` as read back from the stage's metrics.json, as markdown, published numbers beside
    ours (JSON keys are strings: the published Table 2 rows are keyed by str(N))."""
    pub = result["published"]
    inputs = result["inputs"]
    lines = [f"# GAN evaluation: {result['dataset']}", "",
             f"- real (reference): `{inputs['real']}`, {inputs['n_real']} graphs",
             f"- real (baseline): {inputs['baseline']}, {inputs['n_baseline']} graphs",
             f"- generated: `{inputs['generated']}`, {inputs['n_generated']} graphs", f"- seed: {result['seed']}",
             "- nodes scored: " + ("every node of every graph, the real graphs' padding included (the generator "
                                   "makes fixed-size graphs, as in the seed paper)" if result["fixed_size"]
                                   else "the real (masked-in) nodes of each graph")]
    if result["kind"] == "jets":
        clip = result["pt_rel_clipped"]
        lines.append(f"- negative generated pt_rel set to 0: {clip['particles']} of {clip['of']} particles")
        body = _jets_markdown(result, pub)
    else:
        body = _image_graphs_markdown(result, pub)
    return "\n".join([*lines, "", *body, *_sources(pub)]) + "\n"


# --- all runs side by side -------------------------------------------------------------------------------------

def runs_table(results: Mapping[str, Mapping]) -> list[dict]:
    """One flat row per (run, score[, N]) of the evaluations ``results`` {run: metrics.json content}.

    Jets: each evaluated Table 2 row (score "w1_<feature>", with its N) and each JetNet score; MNIST graphs: the
    node-feature W1 and the GFD. Row keys: run, dataset, digit, score, n, real_vs_real, real_vs_real_error,
    real_vs_gen, real_vs_gen_error, match (None where not defined).
    """
    rows = []

    def add(run: str, result: Mapping, score: str, rr: float | None, rr_err: float | None, rg: float | None,
            rg_err: float | None, match: bool | None, n: int | None = None) -> None:
        rows.append({"run": run, "dataset": result["dataset"], "digit": result.get("digit"), "score": score, "n": n,
                     "real_vs_real": rr, "real_vs_real_error": rr_err, "real_vs_gen": rg,
                     "real_vs_gen_error": rg_err, "match": match})

    for run, result in results.items():
        if result["kind"] == "jets":
            for row in result["w1_table"]:
                if "skipped" in row:
                    continue
                for f in TABLE_FEATURES:
                    rr, rg = row["real_vs_real"][f], row["real_vs_gen"][f]
                    add(run, result, f"w1_{f}", rr["mean"], rr["std"], rg["mean"], rg["std"], row["match"][f],
                        row["n"])
            for key, _, _ in _JETNET_ROWS:
                s = result["jetnet"][key]
                add(run, result, key, s["real_vs_real"]["value"], s["real_vs_real"]["error"],
                    s["real_vs_gen"]["value"], s["real_vs_gen"]["error"], s["match"])
        else:
            w = result["node_w1"]
            add(run, result, "w1_nodes", w["real_vs_real"]["value"], w["real_vs_real"]["error"],
                w["real_vs_gen"]["value"], w["real_vs_gen"]["error"], w["match"])
            if result["gfd"] is not None:
                add(run, result, "gfd", result["gfd"]["real_vs_real"], None, result["gfd"]["real_vs_gen"], None, None)
    return rows


def runs_markdown(results: Mapping[str, Mapping]) -> str:
    """Every run's headline numbers side by side: jets (Table 2 aim per N, JetNet scores) and the MNIST GFD per
    digit with its mean over the digits beside the seed paper's mean best GFD."""
    lines = ["# Graph GAN: all runs", ""]
    jets = {run: r for run, r in results.items() if r["kind"] == "jets"}
    if jets:
        ns = sorted({row["n"] for r in jets.values() for row in r["w1_table"] if "skipped" not in row})
        lines += ["## Jets", "",
                  "Table 2 columns: features (of η_rel, φ_rel, pT_rel, m/pT) whose real-vs-generated W1 is within one "
                  "standard deviation of real vs real at N jets. JetNet scores: real vs generated (real vs real).", "",
                  "| run | " + " | ".join(f"Table 2, N = {n}" for n in ns) + " | "
                  + " | ".join(f"{name} (× {scale})" for _, name, scale in _JETNET_ROWS) + " |",
                  "|---|" + "---|" * len(ns) + "---:|" * len(_JETNET_ROWS)]
        for run, r in jets.items():
            by_n = {row["n"]: row for row in r["w1_table"] if "skipped" not in row}
            cells = [f"{sum(by_n[n]['match'].values())} of {len(TABLE_FEATURES)}" if n in by_n else "n/a" for n in ns]
            cells += [f"{_pm(r['jetnet'][key]['real_vs_gen'], float(scale))} "
                      f"({_pm(r['jetnet'][key]['real_vs_real'], float(scale))})" for key, _, scale in _JETNET_ROWS]
            lines.append(f"| {run} | " + " | ".join(cells) + " |")
        lines.append("")
    images = {run: r for run, r in results.items() if r["kind"] != "jets"}
    for dataset in sorted({r["dataset"] for r in images.values()}):
        runs = {run: r for run, r in images.items() if r["dataset"] == dataset}
        lines += [f"## {dataset}", "", "| run | digit | GFD real vs real | GFD real vs generated |",
                  "|---|---:|---:|---:|"]
        gfds = []
        for run, r in sorted(runs.items(), key=lambda item: item[1]["digit"]):
            gfd = r["gfd"]
            if gfd is not None:
                gfds.append(gfd["real_vs_gen"])
            rr, rg = ("n/a", "n/a") if gfd is None else (f"{gfd['real_vs_real']:.3g}", f"{gfd['real_vs_gen']:.3g}")
            lines.append(f"| {run} | {r['digit']} | {rr} | {rg} |")
        best = next(iter(runs.values()))["published"].get("mean_best_gfd", {}).get("values")
        mean = f"{np.mean(gfds):.3g} over {len(gfds)} digit(s)" if gfds else "n/a"
        lines += ["", f"Mean real-vs-generated GFD: {mean}; published mean best GFD over the ten digits: "
                  f"{'–' if best is None else f'{best:.3g}'}.", ""]
    return "\n".join(lines)
