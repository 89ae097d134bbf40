"""The Snakemake workflow: lint, config validation, dry runs, a tiny end-to-end run and its rerun behaviour."""

import json
import re
from collections import Counter

import matplotlib.image
import numpy as np
import pytest

from hepgraph.data.tables import read_arrays
from hepgraph.train.checkpoint import load_checkpoint
from workflow_runs import REPO, TINY, copy_workflow, edit, planned, snakemake


def test_lint_is_clean(tmp_path):
    output = snakemake("--lint", "--configfile", str(TINY), cwd=tmp_path, check=False)
    assert "Congratulations, your workflow is in a good condition!" in output, output


def test_default_config_dry_run_covers_every_data_family(tmp_path):
    jobs = planned(cwd=tmp_path)
    assert jobs["simulate_jets"] == 2 * 3 + 2 + 2 + 6  # jetnet g/t x 3 seeds, toptag qcd/top, qg q/g, 6 anomaly
    assert jobs["simulate_tracking"] == 4
    assert jobs["prepare_mnist"] == 2 * 2 and jobs["prepare_tracking"] == 4 * 2  # 4 shards x 2 variants
    assert jobs["split"] == 2 + 1 + 1 + 1 + 2 + 2 + 6  # jetnet_g/t, toptag, qg, calo, mnist x2, trackml x2, anomaly x6
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


def test_gan_paper_config_trains_every_published_model(tmp_path):
    """configs/gan_paper.yaml: both jet models per class, every digit in both graph kinds with the paper's model,
    and lr_g = 1e-5 for superpixel digits 2, 4 and 9 only (as the paper trains them)."""
    output = snakemake("--dry-run", "--printshellcmds", "--configfile", str(REPO / "configs" / "gan_paper.yaml"),
                       cwd=tmp_path)
    runs = re.findall(r"hepgraph\.stages\.train_gan .*?(?:--digit (\d) )?--model (\S+) --set '([^']*)'", output)
    assert Counter(model for _, model, _ in runs) == Counter(
        jets=3, jets_mpgan=3, mnist_small=5, mnist_large=5, mnist_superpixels=10)
    superpixels = {int(digit): json.loads(overrides) for digit, model, overrides in runs
                   if model == "mnist_superpixels"}
    assert superpixels == {d: {"lr_g": 1e-5} if d in (2, 4, 9) else {} for d in range(10)}


def test_real_trackml_event_from_path(tmp_path, shared_data):
    (tmp_path / "real.yaml").write_text(
        f"results: {tmp_path / 'results'}\n"
        f"datasets: {{trackml: {{source: path, path: {shared_data / 'trackml'}, variants: {{all: 0.0}}}}}}\n")
    target = str(tmp_path / "results" / "graphs" / "trackml_all" / "train.parquet")
    snakemake(target, "--cores", "1", "--configfile", str(tmp_path / "real.yaml"), cwd=tmp_path)
    events = read_arrays(target, "tracking_events")
    assert len(events["event_id"]) == 1 and len(events["hit_id"][0]) == 5527


@pytest.mark.slow
def test_tiny_run_writes_every_table(tiny_run):
    graphs = tiny_run / "results" / "graphs"
    tables = sorted(p.name for p in graphs.iterdir())
    assert tables == ["anomaly_dark", "anomaly_datasets.html", "anomaly_datasets.md", "anomaly_gluon",
                      "anomaly_lepton", "anomaly_qcd_light", "anomaly_quark", "anomaly_tau", "calo", "jetnet_g",
                      "mnist_sparse", "mnist_superpixels", "qg", "toptag", "trackml_all", "trackml_pt1"]
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
    graphs = tiny_run / "results" / "graphs"
    for run, table, label in (("jetnet_g", "jetnet_g", 0), ("jetnet_g_mpgan", "jetnet_g", 0),
                              ("mnist_sparse_7", "mnist_sparse", 7)):
        rows = (gan / run / "metrics.csv").read_text().splitlines()
        assert len(rows) == 1 + 1 and rows[1].startswith("1,")  # tiny.yaml: one epoch
        model = load_checkpoint(gan / run / "model.pt")
        train = read_arrays(graphs / table / "train.parquet", "jets" if label == 0 else "image_graphs")
        nodes = np.stack(train["nodes"])[np.asarray(train["label"]) == label]
        low, high = nodes.min(axis=(0, 1)), nodes.max(axis=(0, 1))  # the stored units map this range onto [-1, 1]
        np.testing.assert_allclose(model["meta"]["shift"], (high + low) / 2, rtol=1e-6)
        np.testing.assert_allclose(model["meta"]["scale"], (high - low) / 2, rtol=1e-6)
        generated = read_arrays(gan / run / "generated.parquet", "jets" if label == 0 else "image_graphs")
        assert len(generated["label"]) == 100 and set(generated["label"]) == {label}
        metrics = json.loads((gan / run / "metrics.json").read_text())
        assert metrics["inputs"]["n_generated"] == 100, metrics
        assert "published" in (gan / run / "summary.md").read_text().lower()
        for png in ("samples.png", "training_curves.png"):
            image = matplotlib.image.imread(gan / run / "plots" / png)
            assert image.shape[0] > 100 and image[..., :3].std() > 0.05  # a drawn figure, not a blank canvas
    runs = (gan / "runs.md").read_text()
    assert all(f"| {run} |" in runs for run in ("jetnet_g", "jetnet_g_mpgan", "mnist_sparse_7"))
    accuracy = json.loads((gan / "gfd_classifier" / "mnist_sparse" / "accuracy.json").read_text())
    test_labels = np.asarray(read_arrays(graphs / "mnist_sparse" / "test.parquet", "image_graphs")["label"])
    counts = np.bincount(test_labels, minlength=10)
    assert accuracy["n_test"] == len(test_labels) == counts.sum()
    per_digit = [accuracy["per_digit"][str(d)] or 0.0 for d in range(10)]
    assert accuracy["accuracy"] == pytest.approx(np.dot(counts, per_digit) / counts.sum())


@pytest.mark.slow
def test_rerun_only_what_changed(tiny_run, tmp_path):
    root = copy_workflow(tmp_path, run=tiny_run)
    run = ("--configfile", "tiny.yaml")
    assert planned(*run, cwd=root) == Counter()

    # one family's config: only that family's rules
    (root / "more.yaml").write_text("datasets: {jetnet: {n_nodes: 20}}\ngan: {epochs: 2}\n")  # JetNet: the GAN's alone
    gan_jobs = Counter(train_gan=3, generate_gan=3, evaluate_gan=3, plot_gan=3, summarize_gan=1,
                       report_page=4)  # the three runs' summaries and runs.md
    assert planned("--configfile", "tiny.yaml", "more.yaml", cwd=root) == \
        Counter(prepare_jets=1, split=1, all=1) + gan_jobs

    # one stage's source: that stage and what depends on it, nothing upstream
    edit(root / "src" / "hepgraph" / "stages" / "prepare_tracking.py")
    tracking_jobs = Counter(prepare_tracking=2, split=2, summarize_tracking=2, all=1,  # the data, and the models on it
                            train_embedding_hgnn=1, build_graphs_hgnn=3, train_hgnn=4, evaluate_hgnn=5, plot_hgnn=1,
                            summarize_hgnn=1, report_page=3)  # the pages of both data summaries and the family's
    assert planned(*run, cwd=root) == tracking_jobs
    edit(root / "src" / "hepgraph" / "models" / "graph_gan.py")
    assert planned(*run, cwd=root) == tracking_jobs + gan_jobs

    # a shared library module: every stage that imports it
    edit(root / "src" / "hepgraph" / "data" / "pythia.py")
    jobs = planned(*run, cwd=root)
    assert jobs["simulate_jets"] == 1 + 2 + 2 + 6  # jetnet g, toptag qcd/top, qg q/g, the six anomaly processes
    assert "simulate_tracking" not in jobs and "prepare_mnist" not in jobs and "train_gfd_classifier" not in jobs


@pytest.mark.slow
def test_an_edit_deep_in_the_imports_reruns_exactly_the_rules_that_use_it(tiny_run, tmp_path):
    root = copy_workflow(tmp_path, run=tiny_run)
    # metrics/distances.py is imported by metrics/jets.py, which train_gan (its best-epoch W1M) and the GAN's
    # evaluation (and with it plot_gan) import; no data stage and not the GFD classifier's training use it.
    edit(root / "src" / "hepgraph" / "metrics" / "distances.py")
    gan_jobs = Counter(train_gan=3, generate_gan=3, evaluate_gan=3, plot_gan=3, summarize_gan=1, report_page=4,
                       all=1)
    assert planned("--configfile", "tiny.yaml", cwd=root) == gan_jobs
    # the device module: every training and generating stage of every family and what depends on them, no data stage
    snakemake("--touch", "--cores", "1", "--configfile", "tiny.yaml", cwd=root)
    edit(root / "src" / "hepgraph" / "device.py")
    anomaly = Counter(train_gae=6, train_oneoff=14, score_anomaly=8, evaluate_anomaly=1, plot_anomaly=1)
    hgnn = Counter(train_embedding_hgnn=1, build_graphs_hgnn=3, train_hgnn=4, evaluate_hgnn=5, plot_hgnn=1,
                   summarize_hgnn=1)
    pid = Counter(train_pid=10, plot_pid=1, summarize_pid=1)
    pages = Counter(report_page=3)  # the anomaly, tracking and quark/gluon summaries
    assert planned("--configfile", "tiny.yaml", cwd=root) == \
        gan_jobs + Counter(train_gfd_classifier=1) + anomaly + hgnn + pid + pages
