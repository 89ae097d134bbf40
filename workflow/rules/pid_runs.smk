"""The quark/gluon family's run registry: one run <model>_<dataset> per model listed under pid.runs, trained once
per seed in pid.seeds, on the calorimeter images (table calo) or the Pythia quark/gluon jets (table qg)."""

PID = config["pid"]
PID_DIR = RESULTS / "pid"
PID_SEEDS = PID["seeds"]
IMAGE_PID_MODELS = ("cnn", "resnet15", "image_gnn")


def pid_runs():
    runs = {}
    for dataset, models in PID["runs"].items():
        if models and dataset not in TABLES:
            raise WorkflowError(f"pid.runs.{dataset} needs table {dataset}, which is not preprocessed")
        if dataset == "qg" and set(models) & set(IMAGE_PID_MODELS):
            raise WorkflowError(f"pid.runs.qg lists image models {sorted(set(models) & set(IMAGE_PID_MODELS))}; "
                                "the qg jets have no images: list them under pid.runs.calo")
        if dataset == "calo" and "particlenet" in models and DATA["calo"]["source"] != "simulate":
            raise WorkflowError("pid.runs.calo lists particlenet, but real E2E files (datasets.calo.source: path) "
                                "carry no particles: remove it, or run particlenet on the qg table")
        for model in models:
            runs[f"{model}_{dataset}"] = dict(model=model, dataset=dataset)
    return runs


PID_RUNS = pid_runs()
PID_DATASETS = sorted({run["dataset"] for run in PID_RUNS.values()})
PID_PLOTS = [f"roc_{dataset}.png" for dataset in PID_DATASETS] + ["training_curves.png", "scores.png"] + (
    ["mean_images.png"] if "calo" in PID_DATASETS else [])


def pid_caption(plot):
    """The report caption of a figure: roc_<dataset>.png -> roc.rst, others by their name."""
    return f"../report/pid/{'roc' if plot.startswith('roc_') else Path(plot).stem}.rst"


def pid_table_file(split):
    """Input function: the ``split`` table of a run's dataset."""
    return lambda w: GRAPHS / PID_RUNS[w.pid_run]["dataset"] / f"{split}.parquet"


def pid_run_files(name):
    """Every run's and seed's file ``name`` (scores.parquet, metrics.csv)."""
    return [str(PID_DIR / run / f"seed_{seed}" / name) for run in PID_RUNS for seed in PID_SEEDS]


def pid_test_tables():
    return {dataset: str(GRAPHS / dataset / "test.parquet") for dataset in PID_DATASETS}


if PID_RUNS:
    TARGETS.append(report_page(PID_DIR / "summary.md", "Quark/gluon ID", "summary",
                               "Every quark/gluon tagger on its test jets: ROC AUC, accuracy and gluon rejection at "
                               "30 % and 50 % quark efficiency (mean ± std over seeds), beside the single-variable "
                               "baselines (jet mass, constituent multiplicity, jet width) and the published numbers; "
                               "a network earns its place by beating the baselines."))
    TARGETS += [str(PID_DIR / "plots" / name) for name in PID_PLOTS]
