"""`snakemake --profile slurm`, as typed from the repository root, against fake SLURM commands.

The fakes (sbatch, squeue, sacct, sinfo, sacctmgr, sshare, scontrol, scancel) log every call and answer as
SLURM does: sbatch hands out job ids, the accounting tools know one account and a default partition, and
sacct reports every submitted job COMPLETED at the first status check, although nothing ran: with
`--latency-wait 0` Snakemake then stops at once on the job's missing output, and the tests read the calls.
"""

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
TINY = REPO / "tests" / "tiny.yaml"
WORKFLOW_FILES = ("Snakefile", "config.yaml", "workflow", "src", "envs", "slurm")
SLURM_TOOLS = ("sbatch", "squeue", "sacct", "sinfo", "sacctmgr", "sshare", "scontrol", "scancel")
ACCOUNT, PARTITION, FIRST_JOB_ID = "hepgraph", "cpu", 4242
# status checks at once; a "completed" job's missing output fails it at once, without a retry
FAST = ("--retries", "0", "--latency-wait", "0", "--slurm-init-seconds-before-status-checks", "1")

# One output of each GPU rule, as (target, setup): `setup` is YAML layered over tests/tiny.yaml (e.g. one epoch).
# The target's inputs are built locally first (--omit-from target), so that its GPU job is the only submission.
GPU_TARGETS: list[tuple[str, str]] = [
    ("results/gan/jetnet_g/model.pt", "gan: {mnist: {digits: []}}\n"),  # train_gan
]
GPU_CASES = [pytest.param(target, setup, id=target) for target, setup in GPU_TARGETS] or [pytest.param(
    "", "", id="none", marks=pytest.mark.skip(reason="no GPU rule yet: add one target of each to GPU_TARGETS"))]

FAKE_SLURM = '''#!{python}
"""Fake SLURM command: logs argv and stdin to $FAKE_SLURM_LOG (JSON lines), answers as SLURM would."""
import fcntl, json, os, sys
from pathlib import Path

tool, args = Path(sys.argv[0]).name, sys.argv[1:]
with open(os.environ["FAKE_SLURM_LOG"], "a+") as log:
    fcntl.flock(log, fcntl.LOCK_EX)
    log.seek(0)
    jobs = [call["argv"] for call in map(json.loads, log) if call["tool"] == "sbatch"]
    log.write(json.dumps({{"tool": tool, "argv": args, "stdin": sys.stdin.read()}}) + "\\n")


def job_name(argv):
    return next((v.split("=", 1)[1] if "=" in v else argv[i + 1] for i, v in enumerate(argv)
                 if v.split("=")[0] == "--job-name"), None)


if tool == "sbatch":
    job_id = {first} + len(jobs)
    print(job_id if "--parsable" in args else f"Submitted batch job {{job_id}}")
elif tool in ("sacct", "squeue") and "--name" in args:  # status query: JobIdRaw|State per job of this run
    name = args[args.index("--name") + 1]
    for i, argv in enumerate(jobs):
        if job_name(argv) == name:
            print(f"{{{first} + i}}|COMPLETED")
elif tool == "sacct" and "Account%256" in args or tool in ("sacctmgr", "sshare"):
    print("{account}")
elif tool == "sinfo":
    print("PARTITION\\n{partition}*\\ngpu")
elif tool == "scontrol":
    print("MinJobAge               = 300 sec\\nMaxArraySize            = 1001")
'''


def sbatch_options(argv: list[str]) -> dict[str, str | None]:
    """sbatch's options as {flag: value}: `--mem 2000` and `--mem=2000` alike, None for a bare flag."""
    options = {}
    for i, arg in enumerate(argv):
        if not arg.startswith("-"):
            continue
        flag, eq, value = arg.partition("=")
        if not eq and i + 1 < len(argv) and not argv[i + 1].startswith("-"):
            value = argv[i + 1]
        options[flag] = value if (eq or value) else None
    return options


class FakeCluster:
    """A temporary copy of the workflow, with fake SLURM commands first on PATH."""

    def __init__(self, root: Path):
        self.root, self.log = root / "workflow", root / "slurm_calls.jsonl"
        self.root.mkdir()
        for name in WORKFLOW_FILES:
            if (REPO / name).is_dir():
                shutil.copytree(REPO / name, self.root / name, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(REPO / name, self.root / name)
        shutil.copy2(TINY, self.root / "tiny.yaml")
        self.bin = root / "bin"
        self.bin.mkdir()
        script = FAKE_SLURM.format(python=sys.executable, first=FIRST_JOB_ID, account=ACCOUNT, partition=PARTITION)
        for tool in SLURM_TOOLS:
            (self.bin / tool).write_text(script)
            (self.bin / tool).chmod(stat.S_IRWXU)

    def snakemake(self, *args: str, fakes: bool = True) -> subprocess.CompletedProcess:
        """Run Snakemake in the copy; no network (downloads fail at once), no real SLURM reachable."""
        path = os.environ.get("PATH", "")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "SBATCH_", "SNAKEMAKE_"))}
        env.update(PATH=f"{self.bin}{os.pathsep}{path}" if fakes else path, FAKE_SLURM_LOG=str(self.log),
                   https_proxy="http://127.0.0.1:9", HTTPS_PROXY="http://127.0.0.1:9", no_proxy="", NO_PROXY="")
        return subprocess.run([str(SNAKEMAKE), *args], cwd=self.root, env=env, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=180)

    def calls(self, tool: str) -> list[dict]:
        """Every logged call of `tool`: {"tool", "argv", "stdin"}."""
        if not self.log.exists():
            return []
        return [c for c in map(json.loads, self.log.read_text().splitlines()) if c["tool"] == tool]

    def submissions(self, rule: str) -> list[dict[str, str | None]]:
        """Options of the sbatch calls that submitted a job of `rule` (the plugin's --comment rule_<name>...)."""
        options = [sbatch_options(c["argv"]) for c in self.calls("sbatch")]
        return [o for o in options if re.fullmatch(f"rule_{rule}(_wildcards_.*)?", o.get("--comment") or "")]


def job_stats(output: str) -> dict[str, int]:
    """The first `Job stats` table of Snakemake's output as {rule: count}."""
    table = output.split("Job stats:", 1)[1].split("\n\n", 1)[0]
    return {rule: int(n) for rule, n in re.findall(r"^(\w+)\s+(\d+)\s*$", table, flags=re.M) if rule != "total"}


@pytest.fixture(scope="module")
def cpu_and_download_run(tmp_path_factory):
    """One `--profile slurm` run with a CPU job (a simulated jet shard) and a download (MNIST labels)."""
    cluster = FakeCluster(tmp_path_factory.mktemp("slurm"))
    (cluster.root / "download.yaml").write_text("datasets: {mnist: {source: download}}\n")
    result = cluster.snakemake("--profile", "slurm", *FAST, "--keep-going",
                               "--configfile", "tiny.yaml", "download.yaml", "--",
                               "results/raw/jetnet/simulate/g_1.hdf5",
                               "results/raw/mnist/download/train-labels-idx1-ubyte.gz")
    return cluster, result.stdout + result.stderr


def test_cpu_rule_is_submitted_with_its_resources_and_no_gpu(cpu_and_download_run):
    cluster, output = cpu_and_download_run
    [job] = cluster.submissions("simulate_jets")
    assert job["--comment"] == "rule_simulate_jets_wildcards_jetnet_g_1_hdf5", job
    # data.smk: mem_mb=2000, runtime=120 (minutes), threads 1 - the rule's values, not the profile's defaults
    assert (job["--mem"], job["-t"], job["--cpus-per-task"], job["--ntasks"]) == ("2000", "120", "1", "1"), job
    assert not {"--gpus", "--gres", "--gpus-per-task", "--ntasks-per-gpu", "--cpus-per-gpu"} & job.keys(), job
    assert job["-p"] == PARTITION and job["-A"] == ACCOUNT and "--parsable" in job, job
    assert Path(job["-D"]).resolve() == cluster.root.resolve() and job["--export"] == "ALL", job
    assert "--target-jobs 'simulate_jets:" in job["--wrap"] and "--executor slurm-jobstep" in job["--wrap"], job
    # Snakemake followed the job to its end through sacct (COMPLETED), then found no output: nothing ran
    assert [c for c in cluster.calls("sacct") if job["--job-name"] in c["argv"]], cluster.calls("sacct")
    assert "MissingOutputException in rule simulate_jets" in output, output
    assert "Traceback" not in output, output


def test_download_runs_locally_not_on_the_cluster(cpu_and_download_run):
    cluster, output = cpu_and_download_run
    assert cluster.submissions("download") == []
    assert len(cluster.calls("sbatch")) == 1  # the jet shard's
    log = cluster.root / "results" / "logs" / "download" / "mnist" / "train-labels-idx1-ubyte.gz.log"
    assert "could not download https://ossci-datasets.s3.amazonaws.com/mnist/train-labels-idx1-ubyte.gz" \
        in log.read_text(), output  # it ran here, offline, and failed with the fetch stage's message


@pytest.mark.parametrize(("target", "setup"), GPU_CASES)
def test_gpu_rule_requests_one_gpu(tmp_path, target, setup):
    cluster = FakeCluster(tmp_path)
    (cluster.root / "setup.yaml").write_text(setup)
    config = ("--configfile", "tiny.yaml", "setup.yaml")
    local = cluster.snakemake("--cores", "2", *config, "--omit-from", target, "--", target)
    assert local.returncode == 0, local.stdout + local.stderr
    result = cluster.snakemake("--profile", "slurm", *FAST, *config, "--", target)
    output = result.stdout + result.stderr
    [job] = [sbatch_options(c["argv"]) for c in cluster.calls("sbatch")]  # its inputs exist: only the GPU job
    assert job.get("--gpus") == "1" and "--gres" not in job, job
    assert "MissingOutputException" in output, output


@pytest.mark.parametrize("fakes", [False, True], ids=["host-path", "fake-slurm"])
def test_dry_run_from_the_root_plans_every_family_and_submits_nothing(tmp_path, fakes):
    """A dry run works with the host's PATH (no SLURM commands on a workstation) and submits nothing."""
    cluster = FakeCluster(tmp_path)
    result = cluster.snakemake("--profile", "slurm", "--dry-run", fakes=fakes)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    jobs = job_stats(output)
    assert {"simulate_jets", "simulate_tracking", "prepare_jets", "prepare_calo",
            "prepare_mnist", "prepare_tracking", "split", "all"} <= jobs.keys(), jobs
    assert "download" not in jobs, jobs  # the default config is offline
    assert cluster.calls("sbatch") == []
