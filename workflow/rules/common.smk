"""What every family shares: the validated config, paths, the table registry, code inputs (`code`) and the GPU
policy. A family's own runs and targets live in its own .smk."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate


validate(config, schema="../schemas/config.schema.yaml")

RESULTS = Path(config["results"])
RAW = RESULTS / "raw"
GRAPHS = RESULTS / "graphs"
LOGS = RESULTS / "logs"
BENCHMARKS = RESULTS / "benchmarks"
SPLITS = ("train", "val", "test")
ENV = "../../envs/hepgraph.yaml"
TARGETS = []  # every family appends the final outputs of its stages; `rule all` requests them

# Rules run `python -m hepgraph.stages.<module>` from this checkout's src/: the interpreter running Snakemake
# (the project's environment) comes first on PATH, unless a rule's conda environment (--sdm conda) is active.
SRC = Path(workflow.basedir, "src")
os.environ.update(PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
                  PYTHONPATH=os.pathsep.join(p for p in [str(SRC), os.environ.get("PYTHONPATH")] if p))
sys.path.insert(0, str(SRC))

from hepgraph.data import registry  # noqa: E402  (the remote files of downloadable datasets)
from hepgraph.data.pythia import ANOMALY_PROCESSES  # noqa: E402  (anomaly dataset -> its Pythia process)
from hepgraph.dependencies import imported_files  # noqa: E402


def code(stage):
    """The code inputs of the rules that run the stage module ("stages/train_gan"): it and every module of the
    package it imports, transitively, so that an edit of any of them reruns exactly the rules that use it."""
    return [os.path.relpath(path) for path in imported_files(".".join(("hepgraph", *Path(stage).parts)))]


def count_local_gpus():
    """Number of NVIDIA GPUs visible here (CUDA_VISIBLE_DEVICES respected); 0 without nvidia-smi."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([d for d in visible.split(",") if d.strip() not in ("", "-1")])
    if shutil.which("nvidia-smi") is None:
        return 0
    result = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True)
    return sum(line.startswith("GPU ") for line in result.stdout.splitlines()) if result.returncode == 0 else 0


# GPU policy: on a cluster every GPU rule asks for one GPU (`gpu` resource -> the SLURM plugin's --gpus);
# locally at most as many GPU jobs run at once as there are GPUs, and without a GPU they run on the CPU.
# The executor is chosen after the Snakefile is read, but only cluster executors keep --jobs (as `nodes`).
CLUSTER = workflow.resource_settings.nodes is not None
LOCAL_GPUS = 0 if CLUSTER else count_local_gpus()
if not CLUSTER and "gpu" not in workflow.global_resources:
    workflow.register_resource("gpu", LOCAL_GPUS)
GPU = 1 if (CLUSTER or LOCAL_GPUS) else 0


# ---------------------------------------------------------------------------------------------------------
# The table registry: every preprocessed table, its kind and its shards (raw input of one preprocessing job)
# ---------------------------------------------------------------------------------------------------------
DATA = config["datasets"]
JETNET_CLASSES = ["g", "q", "t", "w", "z"]  # label of a JetNet class = its index here
JET_FORMATS = {"jetnet": ("jetnet", "hdf5"), "toptag": ("toptag", "h5"), "qg": ("qg", "npz"),
               "anomaly": ("jetnet", "hdf5")}  # simulated datasets: (--format of simulate_jets, file extension)
PROCESSES = {"toptag": ["qcd", "top"], "qg": ["q", "g"], "calo": ["q", "g"]}
TOPTAG_FILES = ["train.h5", "val.h5", "test.h5"]
ANOMALY_DATASETS = ["qcd", "top", "qcd_light", "dark", "quark", "gluon", "lepton", "tau"]
"""The eight datasets of the anomaly thesis's cross matrix (Kluettermann 2021, Table 8.1), in its order; the jets
of table anomaly_<process> carry the label of their process's index here."""


def anomaly_datasets():
    """{dataset: (table, label)} of the anomaly datasets in use, in ANOMALY_DATASETS order: QCD and top are the
    toptag table's jets of label 0 and 1; every other one is a whole table anomaly_<process> (label None)."""
    tables = {"qcd": ("toptag", 0), "top": ("toptag", 1),
              **{p: (f"anomaly_{p}", None) for p in DATA["anomaly"]["processes"]}}
    return {name: tables[name] for name in ANOMALY_DATASETS if name in tables}


def user_path(dataset, name=""):
    """A file (or the directory) of a dataset with `source: path`; stops with the config key to set."""
    directory = DATA[dataset]["path"]
    if not directory:
        raise WorkflowError(f"datasets.{dataset}.source is 'path' but datasets.{dataset}.path is not set: "
                            f"set it in config.yaml to the directory (or file) holding your {dataset} files")
    return str(Path(directory, name)) if name else directory


def raw_file(dataset, name):
    """Where the raw file `name` of a downloaded or user-provided dataset is."""
    if DATA[dataset]["source"] == "download":
        return str(RAW / dataset / "download" / name)
    return user_path(dataset, name)


def simulated(dataset, processes, ext, seeds=None):
    """Shards of a simulated dataset: one Pythia run per process and seed (default: its simulate section's)."""
    return {f"{p}_{s}": str(RAW / dataset / "simulate" / f"{p}_{s}.{ext}")
            for p in processes for s in (seeds or DATA[dataset]["simulate"]["seeds"])}


def simulation(dataset, process):
    """The simulation settings of a process of a dataset: the dataset's simulate section or, for the anomaly
    datasets, the process's own."""
    return DATA[dataset]["simulate"][process] if dataset == "anomaly" else DATA[dataset]["simulate"]


def simulate_options(wildcards):
    """The simulate_jets options that only some datasets and processes set."""
    sim = simulation(wildcards.dataset, wildcards.process)
    options = [f"--pthat-min-fraction {sim['pthat_min_fraction']}"] if "pthat_min_fraction" in sim else []
    options += [f"--sqrt-s {' '.join(map(str, sim['sqrt_s']))}"] if "sqrt_s" in sim else []
    options += [f"--n-particles {DATA['anomaly']['n_nodes']}"] if wildcards.dataset == "anomaly" else []
    return " ".join(options)


def jet_tables():
    tables = {}
    fmt, ext = JET_FORMATS["jetnet"]
    for cls in DATA["jetnet"]["classes"]:
        shards = (simulated("jetnet", [cls], ext) if DATA["jetnet"]["source"] == "simulate"
                  else {cls: raw_file("jetnet", registry.jetnet_file(cls, DATA["jetnet"]["n_nodes"]))})
        tables[f"jetnet_{cls}"] = dict(kind="jets", dataset="jetnet", shards=shards, format=fmt,
                                       label=JETNET_CLASSES.index(cls))
    for dataset, files in (("toptag", TOPTAG_FILES), ("qg", DATA["qg"]["files"])):
        fmt, ext = JET_FORMATS[dataset]
        shards = (simulated(dataset, PROCESSES[dataset], ext) if DATA[dataset]["source"] == "simulate"
                  else {Path(f).stem: raw_file(dataset, f) for f in files})
        official = dataset == "toptag" and DATA[dataset]["source"] != "simulate"  # files that are the splits
        tables[dataset] = dict(kind="jets", dataset=dataset, shards=shards, format=fmt, label=None,
                               stratify=None if official else "label",  # every split holds each label
                               input_splits=list(shards) if official else None)
    return tables


def anomaly_tables():
    fmt, ext = JET_FORMATS["anomaly"]
    return {f"anomaly_{p}": dict(kind="jets", dataset="anomaly", format=fmt, label=ANOMALY_DATASETS.index(p),
                                 shards=simulated("anomaly", [p], ext, DATA["anomaly"]["simulate"][p]["seeds"]))
            for p in DATA["anomaly"]["processes"]}


def calo_tables():
    """The calo table: simulated shards (simulate_calo, y = 1 for quarks) or the user's E2E files, whose quark
    label datasets.calo.quark_label gives."""
    calo = DATA["calo"]
    simulate = calo["source"] == "simulate"  # with source: path, the schema requires quark_label
    shards = (simulated("calo", PROCESSES["calo"], "parquet") if simulate
              else {Path(f).stem: user_path("calo", f) for f in calo["files"]})
    return {"calo": dict(kind="calo_images", dataset="calo", shards=shards, stratify="y",
                         quark_label=1 if simulate else calo["quark_label"], n_nodes=calo["n_nodes"])}


def mnist_tables():
    return {f"mnist_{graph}": dict(kind="image_graphs", dataset="mnist", graph=graph,
                                   shards={str(i): None for i in range(DATA["mnist"]["shards"])})
            for graph in DATA["mnist"]["graphs"]}


def tracking_tables():
    trackml = DATA["trackml"]
    shards = ({str(s): str(RAW / "trackml" / "simulate" / str(s)) for s in trackml["simulate"]["seeds"]}
              if trackml["source"] == "simulate" else {"events": user_path("trackml")})
    return {f"trackml_{name}": dict(kind="tracking_events", dataset="trackml", shards=shards, pt_min=pt_min)
            for name, pt_min in trackml["variants"].items()}


TABLES = {**jet_tables(), **anomaly_tables(), **calo_tables(), **mnist_tables(), **tracking_tables()}


def tables_of(kind):
    """Wildcard pattern matching exactly the tables of one kind (a never-matching one if there are none)."""
    names = [name for name, table in TABLES.items() if table["kind"] == kind]
    return "|".join(map(re.escape, names)) or "(?!)"


def shard_input(wildcards):
    """The raw file or directory that one preprocessing shard reads."""
    return TABLES[wildcards.table]["shards"][wildcards.shard]


def mnist_raw(wildcards):
    """Raw MNIST input of the preprocessing jobs: the downloaded idx files, the user's file, or none (bundled)."""
    source = DATA["mnist"]["source"]
    if source == "download":
        return [str(RAW / "mnist" / "download" / name) for name in registry.files("mnist")]
    return [user_path("mnist")] if source == "path" else []


def mnist_path_option(wildcards, input):
    """The --path option of prepare_mnist: the download directory or the user's file or directory."""
    if not input.raw:
        return ""
    return f"--path {Path(input.raw[0]).parent if DATA['mnist']['source'] == 'download' else input.raw[0]}"


def split_paths(table):
    return [str(GRAPHS / table / f"{split}.parquet") for split in SPLITS]


TARGETS += [path for table in TABLES for path in split_paths(table)]


# ---------------------------------------------------------------------------------------------------------
# Report pages: markdown summaries rendered to HTML (rule report_page) and filed in the Snakemake report
# ---------------------------------------------------------------------------------------------------------
REPORT_PAGES = {}  # HTML page (below RESULTS) -> its markdown source, report category, subcategory and caption


def report_page(markdown, category, subcategory, caption):
    """Show the markdown summary ``markdown`` in the report as a page under category/subcategory, with a caption
    saying what it holds and how to read it; returns the page's path, a target."""
    page = Path(markdown).with_suffix(".html")
    REPORT_PAGES[str(page.relative_to(RESULTS))] = dict(markdown=str(markdown), category=category,
                                                        subcategory=subcategory, caption=caption)
    return str(page)
