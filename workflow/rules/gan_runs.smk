"""The graph GAN's run registry: one run per JetNet class and jet model, and per MNIST graph kind and digit;
MNIST runs also train the MoNet classifier whose activations define the graph Frechet distance (GFD)."""

import json

GAN = config["gan"]
GAN_DIR = RESULTS / "gan"
GFD_DIR = GAN_DIR / "gfd_classifier"
SMALL_MNIST_DIGITS = (2, 3, 4, 5, 7)  # sparse MNIST digits the paper models with its smaller MLPs (Table 1)
SLOW_SUPERPIXEL_DIGITS = (2, 4, 9)  # superpixel digits the paper trains with lr_g = 1e-5


def gan_table(table, fix):
    """A table a GAN trains on; stops with the config change that provides it."""
    if table not in TABLES:
        raise WorkflowError(f"the graph GAN needs table {table}, which is not preprocessed: {fix} in config.yaml")
    return table


def gan_runs():
    runs = {}
    for cls in GAN["jets"]:
        table = gan_table(f"jetnet_{cls}", f"add {cls!r} to datasets.jetnet.classes")
        for model in GAN["jet_models"]:  # the paper's "jets" runs as jetnet_<cls>, "jets_mpgan" as jetnet_<cls>_mpgan
            run = table + model.removeprefix("jets")
            runs[run] = dict(kind="jets", table=table, digit=None, model=model, label=JETNET_CLASSES.index(cls),
                             overrides={})
    for graph in GAN["mnist"]["graphs"]:
        table = gan_table(f"mnist_{graph}", f"add {graph!r} to datasets.mnist.graphs")
        for digit in GAN["mnist"]["digits"]:
            model = ("mnist_superpixels" if graph == "superpixels"
                     else "mnist_small" if digit in SMALL_MNIST_DIGITS else "mnist_large")
            overrides = {"lr_g": 1e-5} if graph == "superpixels" and digit in SLOW_SUPERPIXEL_DIGITS else {}
            runs[f"{table}_{digit}"] = dict(kind="image_graphs", table=table, digit=digit, label=digit, model=model,
                                            overrides=overrides)
    return runs


GAN_RUNS = gan_runs()
GFD_TABLES = sorted({run["table"] for run in GAN_RUNS.values() if run["kind"] == "image_graphs"})


def gan_table_file(split):
    """Input function: the ``split`` table of a run's dataset."""
    return lambda w: GRAPHS / GAN_RUNS[w.gan_run]["table"] / f"{split}.parquet"


def digit_option(wildcards):
    digit = GAN_RUNS[wildcards.gan_run]["digit"]
    return "" if digit is None else f"--digit {digit}"


def classifier_option(wildcards, input):
    return f"--classifier {input.classifier}" if "classifier" in input.keys() else ""


def classifier_input(wildcards):
    run = GAN_RUNS[wildcards.gan_run]
    return {} if run["digit"] is None else {"classifier": str(GFD_DIR / run["table"] / "model.pt")}


TARGETS += [str(GAN_DIR / run / name) for run in GAN_RUNS
            for name in ("metrics.json", "plots/samples.png", "plots/training_curves.png")]
TARGETS += [report_page(GAN_DIR / run / "summary.md", "Graph GAN", run,
                        f"Scores of {run} beside the published numbers: W1 of particle features and jet mass against "
                        "the real-vs-real bootstrap baseline (paper Table 2), the JetNet metrics or the graph Frechet "
                        "distance; a generator is as good as the data when its score is within the real-vs-real one.")
            for run in GAN_RUNS]
TARGETS += [str(GFD_DIR / table / "accuracy.json") for table in GFD_TABLES]
if GAN_RUNS:
    TARGETS.append(report_page(GAN_DIR / "runs.md", "Graph GAN", "all runs",
                               "Every graph GAN run in one table: each score with its real-vs-real baseline and "
                               "the published value, one row per run and metric (also in runs.csv)."))
