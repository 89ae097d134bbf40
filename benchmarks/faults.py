"""Faults, counted: runs the workflow's recovery paths for real and tabulates what was tried and what survived.

    .venv/bin/python benchmarks/faults.py            # prints the table and appends it to benchmarks/results.md

Each fault runs the real stage (a subprocess, as Snakemake runs it), the real Snakemake config validation, the
real download code against a local HTTP server, or the real training loop; "survived" means the outcome a user
needs: the same weights after a resume, a clear error naming the file or key with no output written, a resumed
download, a stop naming the step and the last good checkpoint.
"""

from __future__ import annotations

import argparse
import hashlib
import http.server
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import h5py
import numpy as np
import torch

from record import append

from hepgraph.data.download import DownloadError, fetch
from hepgraph.data.tables import write_table
from hepgraph.train.checkpoint import load_checkpoint
from hepgraph.train.loop import NonFiniteError, fit

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable


def stage(module: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([PYTHON, "-m", f"hepgraph.stages.{module}", *args], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO / "src")})


def last_line(text: str) -> str:
    return text.strip().splitlines()[-1][:300] if text.strip() else "(nothing)"


def jets_table(path: Path, n: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    nodes = rng.normal(0, 0.1, (n, 30, 3)).astype(np.float32)
    nodes[..., 2] = rng.exponential(1.0, (n, 30)) / 30
    kin = np.full(n, 1000.0, np.float32)
    write_table(path, "jets", {"nodes": nodes, "mask": np.ones((n, 30), bool), "label": np.zeros(n, np.int64),
                               "jet_pt": kin, "jet_eta": kin * 0, "jet_mass": kin / 10,
                               "n_constituents": np.full(n, 30, np.int32)}, {"source": "faults benchmark"})
    return path


def killed_training(tmp: Path) -> tuple[str, str, bool]:
    train, val = jets_table(tmp / "train.parquet", 512, 0), jets_table(tmp / "val.parquet", 64, 1)

    def command(name: str) -> list[str]:
        return [PYTHON, "-m", "hepgraph.stages.train_gan", "--kind", "jets", "--train", str(train), "--val", str(val),
                "--model", "jets", "--epochs", "4", "--batch-size", "64", "--n-val", "64", "--device", "cpu",
                "--state-dir", str(tmp / name), "--checkpoint", str(tmp / f"{name}.pt"),
                "--metrics-csv", str(tmp / f"{name}.csv")]

    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    subprocess.run(command("full"), check=True, capture_output=True, env=env)
    job = subprocess.Popen(command("killed"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    killed_at = None
    while job.poll() is None and killed_at is None:
        time.sleep(0.05)
        last = tmp / "killed" / "last.pt"
        if last.is_file() and load_checkpoint(last)["epoch"] >= 1:
            job.send_signal(signal.SIGKILL)
            job.wait()
            killed_at = load_checkpoint(last)["epoch"]
    subprocess.run(command("killed"), check=True, capture_output=True, env=env)
    full, resumed = (load_checkpoint(tmp / f"{name}.pt")["models"] for name in ("full", "killed"))
    same = all(torch.equal(full[m][k], resumed[m][k]) for m in full for k in full[m])
    rows = len((tmp / "killed.csv").read_text().splitlines()) - 1
    return (f"SIGKILL after epoch {killed_at} of 4 (train_gan, 512 jets), rerun",
            f"resumed; {rows} metrics rows; best model {'bit-identical to' if same else 'differs from'} an "
            "uninterrupted run", same and killed_at is not None and killed_at < 4 and rows == 4)


def damaged_input(tmp: Path, what: str) -> tuple[str, str, bool]:
    if what == "hdf5":
        raw = tmp / "g.hdf5"
        with h5py.File(raw, "w") as f:
            f["particle_features"] = np.random.default_rng(0).random((2000, 30, 4), np.float32)
            f["jet_features"] = np.ones((2000, 4), np.float32)
        raw.write_bytes(raw.read_bytes()[: raw.stat().st_size // 2])
        out = tmp / "hdf5_out.parquet"
        result = stage("prepare_jets", "--input", str(raw), "--format", "jetnet", "--label", "0", "--output", str(out))
        tried = "JetNet hdf5 cut to half its size -> prepare_jets"
    else:
        table = jets_table(tmp / f"{what}.parquet", 3000, 2)
        data = bytearray(table.read_bytes())
        if what == "truncated":
            data = data[: len(data) // 2]
            tried = "jets table cut to half its size -> split"
        else:
            middle = len(data) // 2
            data[middle:middle + 64] = bytes(64)
            tried = "64 zero bytes in the middle of a jets table's data pages -> split"
        table.write_bytes(bytes(data))
        out = tmp / f"{what}_train.parquet"
        result = stage("split", "--kind", "jets", "--inputs", str(table), "--train", str(out),
                       "--val", str(tmp / f"{what}_val.parquet"), "--test", str(tmp / f"{what}_test.parquet"))
    message = last_line(result.stderr)
    ok = result.returncode != 0 and not out.exists() and "damaged or incomplete" in message
    return tried, f"exit {result.returncode}, no output; `{message}`", ok


def bad_config(tmp: Path, text: str, key: str) -> tuple[str, str, bool]:
    (tmp / "bad.yaml").write_text(text)
    result = subprocess.run([str(Path(PYTHON).with_name("snakemake")), "--snakefile", str(REPO / "Snakefile"),
                             "--dry-run", "--configfile", "bad.yaml"], cwd=tmp, capture_output=True, text=True)
    lines = [line.strip() for line in (result.stdout + result.stderr).splitlines() if key in line]
    return (f"config `{text.strip()}` -> snakemake --dry-run", f"exit {result.returncode}; `{lines[0][:200]}`"
            if lines else f"exit {result.returncode}; key not named", result.returncode != 0 and bool(lines))


class CutOnce(http.server.BaseHTTPRequestHandler):
    """Serves PAYLOAD with Range support; the first request is cut after a third of the body."""

    payload = np.random.default_rng(3).bytes(600_000)
    requests: list[str] = []

    def do_GET(self) -> None:
        start = int(self.headers["Range"].split("=")[1].split("-")[0]) if "Range" in self.headers else 0
        self.requests.append(self.headers.get("Range", "full"))
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(self.payload) - 1}/{len(self.payload)}")
        self.send_header("Content-Length", str(len(self.payload) - start))
        self.end_headers()
        body = self.payload[start:]
        self.wfile.write(body[: len(body) // 3] if len(self.requests) == 1 else body)

    def log_message(self, *args) -> None:
        pass


def cut_download(tmp: Path) -> tuple[str, str, bool]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), CutOnce)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url, md5 = f"http://127.0.0.1:{server.server_port}/f.bin", hashlib.md5(CutOnce.payload).hexdigest()
    try:
        fetch(url, tmp / "f.bin", md5, dataset="faults", progress=False, timeout=5)
        first = "completed (not cut)"
    except DownloadError as err:
        first = "failed, .part kept" if (tmp / "f.bin.part").exists() else f"failed: {err}"
    fetch(url, tmp / "f.bin", md5, dataset="faults", progress=False, timeout=5)
    server.shutdown()
    ok = (tmp / "f.bin").read_bytes() == CutOnce.payload and CutOnce.requests[1] == "bytes=200000-"
    return ("connection cut after 200 kB of 600 kB, rerun", f"first try {first}; rerun asked for "
            f"`{CutOnce.requests[1]}` and the md5 matched", ok)


class NaNAt:
    """A linear model whose seventh step (epoch 3 of batches of 3) sees a NaN input."""

    def __init__(self, device: torch.device) -> None:
        self.model = torch.nn.Linear(2, 1)
        self.models, self.optimizers = {"m": self.model}, {"sgd": torch.optim.SGD(self.model.parameters(), lr=0.1)}
        self.steps = 0

    def train_step(self, batch: torch.Tensor) -> dict[str, float]:
        self.steps += 1
        x = batch.clone()
        if self.steps == 7:
            x[0, 0] = float("nan")
        loss = self.model(x).pow(2).mean()
        self.optimizers["sgd"].zero_grad()
        loss.backward()
        self.optimizers["sgd"].step()
        return {"loss": loss.item()}

    def validate(self) -> dict[str, float]:
        return {}


def injected_nan(tmp: Path) -> tuple[str, str, bool]:
    batches = [torch.ones(4, 2)] * 3
    try:
        fit(NaNAt, batches, epochs=4, checkpoint_dir=tmp / "nan", metrics_path=tmp / "nan.csv", device="cpu")
        return "NaN in the 7th step's input (epoch 3)", "not detected", False
    except NonFiniteError as err:
        message = str(err)
    ok = "epoch 3, step 7" in message and "(epoch 2)" in message
    return "NaN in the 7th step's input (epoch 3)", f"stopped: `{message}`", ok


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--no-record", action="store_true", help="print only; do not append to results.md")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        cases = [("training job killed", lambda: killed_training(tmp)),
                 ("truncated parquet", lambda: damaged_input(tmp, "truncated")),
                 ("corrupted parquet page", lambda: damaged_input(tmp, "corrupted")),
                 ("truncated hdf5", lambda: damaged_input(tmp, "hdf5")),
                 ("misspelled config key", lambda: bad_config(tmp, "gan: {epoch: 3}\n", "epoch")),
                 ("config value of a wrong type", lambda: bad_config(tmp, "gan: {epochs: many}\n", "['epochs']")),
                 ("download cut mid-file", lambda: cut_download(tmp)),
                 ("NaN in training", lambda: injected_nan(tmp))]
        for name, case in cases:
            tried, outcome, ok = case()
            outcome = outcome.replace(tmp_name, "<tmp>")
            rows.append(f"| {name} | {tried} | {outcome} | {'yes' if ok else 'NO'} |")
            print(rows[-1], flush=True)
    table = "\n".join([f"{sum(r.endswith('| yes |') for r in rows)} of {len(rows)} faults survived; "
                       "`.venv/bin/python benchmarks/faults.py`", "",
                       "| fault | tried | outcome | survived |", "|---|---|---|---|", *rows])
    print(table)
    if not args.no_record:
        append("faults", table)


if __name__ == "__main__":
    main()
