"""Track reconstruction with hierarchical GNNs (Liu et al. 2023): the family's run registry. One pipeline per
variant of the trackml tables (pt1: hits of particles above 1 GeV; all: every hit): metric-learning graph
construction, the four models, and their evaluation on the simulated test events and, with hgnn.real_events, on
the user's real TrackML events."""

import json

HGNN = config["hgnn"]
HGNN_DIR = RESULTS / "hgnn"
HGNN_MODELS = HGNN["models"]
HGNN_SCORED = [*HGNN_MODELS, "truth_cc"]  # Truth CC: the graph pruned to its true edges, the paper's reference
HGNN_EVENTS = ["test", "real"] if HGNN["real_events"] else ["test"]
HGNN_CUTS = {**DATA["trackml"]["reconstructable"], "min_candidate_hits": HGNN["min_candidate_hits"]}


def hgnn_variants():
    for variant in HGNN["variants"]:
        if f"trackml_{variant}" not in TABLES:
            raise WorkflowError(f"hgnn.variants lists {variant!r}, but datasets.trackml.variants has no {variant!r}: "
                                f"add it there (e.g. {variant}: 1.0, the pT cut in GeV) or remove it from hgnn.variants")
    return HGNN["variants"]


HGNN_VARIANTS = hgnn_variants()


def hgnn_table(split):
    """Input function: the ``split`` table of a variant."""
    return lambda w: GRAPHS / f"trackml_{w.variant}" / f"{split}.parquet"


def hgnn_events_table(wildcards):
    """The table whose graphs are built: a split of the simulated table, or the user's real events."""
    if wildcards.hgnn_events == "real":
        return HGNN_DIR / wildcards.variant / "real_events.parquet"
    return GRAPHS / f"trackml_{wildcards.variant}" / f"{wildcards.hgnn_events}.parquet"


def hgnn_model_input(wildcards):
    """The trained model and its training metrics (none for Truth CC)."""
    if wildcards.model == "truth_cc":
        return {}
    run = HGNN_DIR / wildcards.variant / "models" / wildcards.model
    return {"model": run / "model.pt", "metrics": run / "metrics.csv"}


def hgnn_model_option(wildcards, input):
    if wildcards.model == "truth_cc":
        return ""
    return f"--model {input.model} --training-metrics {input.metrics}"


def hgnn_cuts_option():
    return (f"--pt-min {HGNN_CUTS['pt_min']} --min-hits {HGNN_CUTS['min_hits']}"
            f" --min-candidate-hits {HGNN_CUTS['min_candidate_hits']}")


HGNN_RESULTS = [str(HGNN_DIR / v / e / f"{m}.json") for v in HGNN_VARIANTS for e in HGNN_EVENTS for m in HGNN_SCORED]
HGNN_QUALITY = [str(HGNN_DIR / v / "graphs" / f"{e}.json") for v in HGNN_VARIANTS for e in HGNN_EVENTS]
TARGETS += [report_page(HGNN_DIR / "summary.md", "Track reconstruction", "summary",
                        "Tracking efficiency and purity (the paper's definitions, in %), TrackML score and inference "
                        "time per event of every model, as built and with 20 % of the graph's edges removed at "
                        "random, beside Liu et al. 2023's TrackML numbers; one table per event set (variant / "
                        "simulated test events or the user's real events), with the edge efficiency and purity of "
                        "the metric-learning graphs. Truth CC is the graph pruned to its true edges: the edge "
                        "classifier's upper bound.")] if HGNN_VARIANTS else []
TARGETS += [str(HGNN_DIR / v / e / name) for v in HGNN_VARIANTS for e in HGNN_EVENTS
            for name in ("efficiency.png", *(f"display_{m}.png" for m in HGNN_SCORED))]
