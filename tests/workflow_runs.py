"""Running the workflow in tests: Snakemake on a copy of the repository, dry-run job counts, developer edits."""

import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

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


def copy_workflow(destination: Path, run: Path | None = None) -> Path:
    """A copy of the workflow in ``destination`` with the tiny config; with ``run``, also that run's results and
    Snakemake records (file times kept), so that the copy is up to date as ``run`` is."""
    source = run or REPO
    destination.mkdir(parents=True, exist_ok=True)
    for name in (*WORKFLOW_FILES, *((".snakemake", "results", "tiny.yaml") if run else ())):
        copy = shutil.copytree if (source / name).is_dir() else shutil.copy2
        copy(source / name, destination / name)
    if run is None:
        shutil.copy2(TINY, destination / "tiny.yaml")
    return destination


def edit(source):
    """Change a source file the way a developer would (content and modification time)."""
    time.sleep(1)
    with source.open("a") as out:
        out.write("\n# edited\n")
