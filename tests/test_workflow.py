"""The Snakemake workflow: lint, config validation, dry runs, a tiny end-to-end run and its rerun behaviour."""

import json
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from hepgraph.data.tables import read_arrays

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
TINY = REPO / "tests" / "tiny.yaml"
WORKFLOW_FILES = ("Snakefile", "config.yaml", "workflow", "src", "envs")


def snakemake(*args, cwd, check=True):
    """Run Snakemake in ``cwd`` on its own Snakefile if it has one, else on the repository's; return the output."""
    snakefile = cwd / "Snakefile" if (cwd / "Snakefile").exists() else REPO / "Snakefile"
    result = subprocess.run([str(SNAKEMAKE), "--snakefile", str(snakefile), *args], cwd=cwd,
                            capture_output=True, text=True)
    output = result.stdout + result.stderr
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed ({result.returncode}):\n{output}")
    return output


def planned(*args, cwd):
    """Jobs a dry run would run, counted per rule ({} when there is nothing to do)."""
    output = snakemake("--dry-run", "--quiet", "rules", *args, cwd=cwd)
    if "Nothing to be done" in output:
        return Counter()
    table = output.split("Job stats:", 1)[1]
    rows = re.findall(r"^(\w+)\s+(\d+)\s*$", table, flags=re.M)
    return Counter({rule: int(n) for rule, n in rows if rule != "total"})


def test_lint_is_clean(tmp_path):
    output = snakemake("--lint", "--configfile", str(TINY), cwd=tmp_path, check=False)
    assert "Congratulations, your workflow is in a good condition!" in output, output


def test_default_config_dry_run_covers_every_data_family(tmp_path):
    jobs = planned(cwd=tmp_path)
    assert jobs["simulate_jets"] == 2 * 3 + 2 + 2 + 2  # jetnet g/t x 3 seeds, toptag qcd/top, qg q/g, calo q/g
    assert jobs["simulate_tracking"] == 2
    assert jobs["prepare_mnist"] == 2 * 2 and jobs["prepare_tracking"] == 2 * 2
    assert jobs["split"] == 2 + 1 + 1 + 1 + 2 + 2  # jetnet_g, jetnet_t, toptag, qg, calo, mnist x2, trackml x2
    assert "download" not in jobs
    assert jobs["train_gan"] == jobs["evaluate_gan"] == 2 and jobs["summarize_gan"] == 1  # jetnet_g, mnist_sparse_7


@pytest.mark.parametrize(("override", "message"), [
    ("datasets: {toptag: {source: zenodo}}", "'zenodo' is not one of \\['simulate', 'download', 'path'\\]"),
    ("datasets: {jetnet: {classes: [gluon]}}", "'gluon' is not one of"),
    ("datasets: {mnist: {shard: 3}}", "Additional properties are not allowed \\('shard' was unexpected\\)"),
    ("gan: {jet_models: [mpgan]}", "'mpgan' is not one of \\['jets', 'jets_mpgan'\\]"),
])
def test_bad_config_names_the_key_or_value(tmp_path, override, message):
    (tmp_path / "bad.yaml").write_text(override + "\n")
    output = snakemake("--dry-run", "--configfile", str(tmp_path / "bad.yaml"), cwd=tmp_path, check=False)
    assert re.search(message, output), output


def test_path_source_without_path_says_which_key_to_set(tmp_path):
    (tmp_path / "bad.yaml").write_text("datasets: {trackml: {source: path}}\n")
    output = snakemake("--dry-run", "--configfile", str(tmp_path / "bad.yaml"), cwd=tmp_path, check=False)
    assert "datasets.trackml.path is not set" in output, output


def test_download_source_plans_local_downloads(tmp_path):
    (tmp_path / "dl.yaml").write_text("datasets: {toptag: {source: download}, mnist: {source: download}}\n")
    jobs = planned("--configfile", str(tmp_path / "dl.yaml"), cwd=tmp_path)
    assert jobs["download"] == 3 + 4


def test_real_trackml_event_from_path(tmp_path, shared_data):
    (tmp_path / "real.yaml").write_text(
        f"results: {tmp_path / 'results'}\n"
        f"datasets: {{trackml: {{source: path, path: {shared_data / 'trackml'}, variants: {{all: 0.0}}}}}}\n")
    target = str(tmp_path / "results" / "graphs" / "trackml_all" / "train.parquet")
    snakemake(target, "--cores", "1", "--configfile", str(tmp_path / "real.yaml"), cwd=tmp_path)
    events = read_arrays(target, "tracking_events")
    assert len(events["event_id"]) == 1 and len(events["hit_id"][0]) == 5527


def edit(source):
    """Change a source file the way a developer would (content and modification time)."""
    time.sleep(1)
    with source.open("a") as out:
        out.write("\n# edited\n")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A copy of the workflow, run end to end on the tiny config."""
    root = tmp_path_factory.mktemp("workflow")
    for name in WORKFLOW_FILES:
        copy = shutil.copytree if (REPO / name).is_dir() else shutil.copy2
        copy(REPO / name, root / name)
    shutil.copy2(TINY, root / "tiny.yaml")
    snakemake("--cores", "2", "--configfile", "tiny.yaml", cwd=root)
    return root


@pytest.mark.slow
def test_tiny_run_writes_every_table(tiny_run):
    graphs = tiny_run / "results" / "graphs"
    tables = sorted(p.name for p in graphs.iterdir())
    assert tables == ["calo", "jetnet_g", "mnist_sparse", "mnist_superpixels", "qg", "toptag",
                      "trackml_all", "trackml_pt1"]
    toptag = [read_arrays(graphs / "toptag" / f"{s}.parquet", "jets") for s in ("train", "val", "test")]
    assert sum(len(t["label"]) for t in toptag) == 20
    assert sorted(set().union(*(set(t["label"]) for t in toptag))) == [0, 1]
    mnist = sum(len(read_arrays(graphs / "mnist_sparse" / f"{s}.parquet", "image_graphs")["label"])
                for s in ("train", "val", "test"))
    assert mnist == 5000
    assert not list(tiny_run.rglob(".*.tmp")) and not list((tiny_run / "results").rglob(".*parquet"))


@pytest.mark.slow
def test_tiny_run_trains_evaluates_and_plots_the_gan(tiny_run):
    gan = tiny_run / "results" / "gan"
    for run in ("jetnet_g", "jetnet_g_mpgan", "mnist_sparse_7"):
        metrics = json.loads((gan / run / "metrics.json").read_text())
        assert metrics["inputs"]["n_generated"] == 100, metrics
        assert "published" in (gan / run / "summary.md").read_text().lower()
        for png in ("samples.png", "training_curves.png"):
            assert (gan / run / "plots" / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((gan / "mnist_sparse_7" / "metrics.json").read_text())["gfd"]["real_vs_gen"] >= 0
    runs = (gan / "runs.md").read_text()
    assert all(f"| {run} |" in runs for run in ("jetnet_g", "jetnet_g_mpgan", "mnist_sparse_7"))
    accuracy = json.loads((gan / "classifier" / "mnist_sparse" / "accuracy.json").read_text())
    assert 0.0 <= accuracy["accuracy"] <= 1.0


@pytest.mark.slow
def test_rerun_only_what_changed(tiny_run):
    run = ("--configfile", "tiny.yaml")
    assert planned(*run, cwd=tiny_run) == Counter()

    # one family's config: only that family's rules
    (tiny_run / "more.yaml").write_text("datasets: {toptag: {n_nodes: 20}}\ngan: {epochs: 2}\n")
    gan_jobs = Counter(train_gan=3, generate_gan=3, evaluate_gan=3, plot_gan=3, summarize_gan=1)
    assert planned("--configfile", "tiny.yaml", "more.yaml", cwd=tiny_run) == \
        Counter(prepare_jets=2, split=1, all=1) + gan_jobs

    # one stage's source: that stage and what depends on it, nothing upstream
    edit(tiny_run / "src" / "hepgraph" / "stages" / "prepare_tracking.py")
    tracking_jobs = Counter(prepare_tracking=2, split=2, all=1)
    assert planned(*run, cwd=tiny_run) == tracking_jobs
    edit(tiny_run / "src" / "hepgraph" / "models" / "graph_gan.py")
    assert planned(*run, cwd=tiny_run) == tracking_jobs + gan_jobs

    # a shared library module: every stage that imports it
    edit(tiny_run / "src" / "hepgraph" / "data" / "pythia.py")
    jobs = planned(*run, cwd=tiny_run)
    assert jobs["simulate_jets"] == 1 + 2 + 2 + 2
    assert "simulate_tracking" not in jobs and "prepare_mnist" not in jobs and "train_classifier" not in jobs
