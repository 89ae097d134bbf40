"""Describe the machine a benchmark ran on and append its results to benchmarks/results.md."""

from __future__ import annotations

import datetime
import os
import platform
from pathlib import Path

import torch

RESULTS = Path(__file__).with_name("results.md")


def machine() -> str:
    """CPU model, cores, Python/torch versions, threads and allocator of this run, as one line."""
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "unknown CPU")
    preload = os.environ.get("LD_PRELOAD", "")
    allocator = "tcmalloc" if "tcmalloc" in preload else "jemalloc" if "jemalloc" in preload else "glibc malloc"
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
    return (f"{cpu}, {os.cpu_count()} cores, {gpu}; Python {platform.python_version()}, torch {torch.__version__}, "
            f"{torch.get_num_threads()} torch threads, {allocator}")


def append(heading: str, table: str) -> None:
    """Append a dated section ``heading`` with the markdown ``table`` and the machine line to results.md."""
    today = datetime.date.today().isoformat()
    with RESULTS.open("a") as out:
        out.write(f"\n## {heading} ({today})\n\nMachine: {machine()}\n\n{table.rstrip()}\n")
