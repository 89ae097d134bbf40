"""A rerun never hands back a stale model: changed data, fewer epochs, a new seed and a killed job, each run for
real through Snakemake on a copy of the tiny run."""

import shutil
import subprocess
import time

import numpy as np
import psutil
import pytest
import torch

from hepgraph.data.tables import read_nodes
from hepgraph.train.checkpoint import load_checkpoint
from workflow_runs import SNAKEMAKE, copy_workflow, snakemake

pytestmark = pytest.mark.slow

GAN_MODEL = "results/gan/jetnet_g/model.pt"
GFD_MODEL = "results/gan/gfd_classifier/mnist_sparse/model.pt"


@pytest.fixture
def root(tiny_run, tmp_path):
    return copy_workflow(tmp_path, run=tiny_run)


def make(root, target, *configs, check=True):
    """Bring ``target`` up to date with the tiny config plus ``configs`` (YAML texts); return Snakemake's output."""
    files = []
    for i, text in enumerate(configs):
        (root / f"extra{i}.yaml").write_text(text)
        files.append(f"extra{i}.yaml")
    return snakemake(target, "--cores", "2", "--configfile", "tiny.yaml", *files, cwd=root, check=check)


def weights(path):
    return load_checkpoint(path)["models"]


def same(a, b):
    return all(torch.allclose(a[m][k], b[m][k], rtol=1e-5, atol=1e-6) for m in a for k in a[m])


def epochs(metrics_csv):
    return [int(line.split(",")[0]) for line in metrics_csv.read_text().splitlines()[1:]]


def test_changed_data_trains_a_new_model_in_the_new_units(root, tiny_run):
    make(root, GAN_MODEL, "splits: {seed: 1}\n")
    old, new = load_checkpoint(tiny_run / GAN_MODEL), load_checkpoint(root / GAN_MODEL)
    assert not same(old["models"], new["models"])
    nodes, _ = read_nodes(root / "results/graphs/jetnet_g/train.parquet", "jets")
    low, high = nodes.min(axis=(0, 1)), nodes.max(axis=(0, 1))
    np.testing.assert_allclose(new["meta"]["shift"], (high + low) / 2, rtol=1e-6)
    assert not np.allclose(new["meta"]["shift"], old["meta"]["shift"])
    assert "starting over" in (root / "results/logs/train_gan/jetnet_g.log").read_text()


def test_fewer_epochs_give_the_model_of_a_run_that_long(root, tiny_run):
    make(root, GAN_MODEL, "gan: {epochs: 3}\n")
    assert epochs(root / "results/gan/jetnet_g/metrics.csv") == [1, 2, 3]
    make(root, GAN_MODEL)  # back to tiny.yaml's single epoch
    assert epochs(root / "results/gan/jetnet_g/metrics.csv") == [1]
    assert load_checkpoint(root / GAN_MODEL)["epoch"] == 1
    assert same(weights(root / GAN_MODEL), weights(tiny_run / GAN_MODEL))
    assert "past the 1 epoch(s) asked for: starting over" in (root / "results/logs/train_gan/jetnet_g.log").read_text()


def test_a_new_seed_trains_a_new_gfd_classifier(root, tiny_run):
    make(root, GFD_MODEL, "gan: {seed: 1}\n")
    new = load_checkpoint(root / GFD_MODEL)
    assert new["meta"]["seed"] == 1 and load_checkpoint(tiny_run / GFD_MODEL)["meta"]["seed"] == 0
    assert not same(new["models"], weights(tiny_run / GFD_MODEL))


def test_a_killed_training_job_resumes_and_keeps_its_whole_history(root, tmp_path):
    longer = "gan: {epochs: 5}\n"
    target = "results/gan/mnist_sparse_7/model.pt"
    state = root / "results/gan/mnist_sparse_7/training"
    (root / "longer.yaml").write_text(longer)
    command = [str(SNAKEMAKE), "--snakefile", str(root / "Snakefile"), target, "--cores", "2",
               "--configfile", "tiny.yaml", "longer.yaml"]
    with subprocess.Popen(command, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as workflow:
        killed_after = None
        while workflow.poll() is None and killed_after is None:
            time.sleep(0.1)
            if (state / "last.pt").is_file() and load_checkpoint(state / "last.pt")["epoch"] >= 2:
                for process in psutil.Process(workflow.pid).children(recursive=True):
                    if "hepgraph.stages.train_gan" in " ".join(process.cmdline()):
                        process.kill()  # as SLURM kills a job at its time limit
                        killed_after = load_checkpoint(state / "last.pt")["epoch"]
        assert workflow.wait() != 0, "the workflow should fail when its training job is killed"
    assert killed_after is not None and 2 <= killed_after < 5, "the job was not killed mid-training"
    assert not (root / target).exists()

    output = make(root, target, longer)
    log = (root / "results/logs/train_gan/mnist_sparse_7.log").read_text()
    assert "resuming from results/gan/mnist_sparse_7/training/last.pt after epoch" in log, output
    assert epochs(root / "results/gan/mnist_sparse_7/metrics.csv") == list(range(1, 6))

    uninterrupted = copy_workflow(tmp_path / "uninterrupted", run=root)
    shutil.rmtree(uninterrupted / "results/gan/mnist_sparse_7")
    make(uninterrupted, target, longer)
    assert same(weights(root / target), weights(uninterrupted / target))
