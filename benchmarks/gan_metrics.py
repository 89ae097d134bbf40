"""Time the generated-jet metrics (W1M, W1P, W1EFP, FPD, KPD) of hepgraph, of hepgraph at an earlier commit, and of
jetnet, side by side in one run on the same arrays, and compare their values.

    .venv/bin/python benchmarks/gan_metrics.py --jetnet-python /tmp/jetnet-venv/bin/python --before a0d7677
    .venv/bin/python benchmarks/gan_metrics.py -n 5000 --repeats 1 --no-record      # hepgraph only, quick

jetnet is never a dependency: give ``--jetnet-python`` an interpreter of a separate venv, e.g.
``python3 -m venv /tmp/jetnet-venv && /tmp/jetnet-venv/bin/pip install 'numpy<2' 'pyarrow<17' jetnet==0.2.5
torch==2.13.0``. ``--before REV`` exports ``src/`` at that git revision and times it the same way.

Toy jets of 30 particles (10-30 real: Gaussian eta_rel, phi_rel of width 0.1, exponential pt_rel summing to 1);
the "generated" sample is shifted by 0.01 in eta_rel. Both samples are saved to one .npz that every implementation
reads in its own subprocess (jetnet gets the 3 features with zeroed padding and the masks for W1P: a 4th feature
would be read as particle mass). Steps use each library's defaults: W1s over 5 bootstrap batches of N jets,
W1EFP including the 5 EFPs of both samples, the 36 EFPs (d <= 4) of both samples, FPD and KPD on those. Rounds
are interleaved (ours, before, jetnet, ours, ...); each cell is the median wall time over the rounds that ran it:
``--repeats`` rounds of this checkout, the first ``--reference-repeats`` of them also of the earlier revision and
of jetnet (slow: minutes per round).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
STEPS: tuple[str, ...] = ("W1M", "W1P", "W1EFP (+ 5 EFPs of both)", "36 EFPs of both", "FPD", "KPD")


def toy_jets(n_jets: int, rng: np.random.Generator, eta_shift: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Jets [n_jets, 30, 3] (eta_rel, phi_rel, pt_rel) float32 and mask [n_jets, 30]."""
    n_real = rng.integers(10, 31, n_jets)
    mask = np.arange(30)[None, :] < n_real[:, None]
    pt = np.where(mask, rng.exponential(1.0, (n_jets, 30)), 0.0)
    jets = np.stack([rng.normal(eta_shift, 0.1, (n_jets, 30)), rng.normal(0.0, 0.1, (n_jets, 30)),
                     pt / pt.sum(axis=1, keepdims=True)], axis=-1)
    return np.where(mask[..., None], jets, 0.0).astype(np.float32), mask


def _timed(steps: dict[str, Callable[[], tuple[float, float]]]) -> dict[str, dict[str, float]]:
    """Run each step once: {step: {"wall": s, "value": v, "error": e}}."""
    out = {}
    for name, fn in steps.items():
        start = time.perf_counter()
        value, error = fn()
        out[name] = {"wall": time.perf_counter() - start, "value": float(value), "error": float(error)}
    return out


def _hepgraph_steps(a: dict[str, np.ndarray]) -> dict[str, Callable[[], tuple[float, float]]]:
    """The steps with whichever hepgraph is on sys.path (this checkout's or an exported revision's)."""
    from hepgraph.metrics import efp
    from hepgraph.metrics import jets as metrics

    rng = np.random.default_rng(0)
    jets = (a["real"], a["real_mask"], a["gen"], a["gen_mask"])
    features: list[np.ndarray] = []

    def d_le_4() -> tuple[float, float]:
        features[:] = [efp.efps_d_le_4(a["real"], a["real_mask"]), efp.efps_d_le_4(a["gen"], a["gen_mask"])]
        return float(features[0].mean()), float(features[1].mean())

    return {"W1M": lambda: metrics.w1m(*jets, rng)[:2], "W1P": lambda: metrics.w1p(*jets, rng)[:2],
            "W1EFP (+ 5 EFPs of both)": lambda: metrics.w1efp(*jets, rng)[:2], "36 EFPs of both": d_le_4,
            "FPD": lambda: metrics.fpd(*features), "KPD": lambda: metrics.kpd(*features)}


def _jetnet_steps(a: dict[str, np.ndarray]) -> dict[str, Callable[[], tuple[float, float]]]:
    """The steps with jetnet.evaluation (its defaults); multi-feature W1s averaged as hepgraph's W1Score does."""
    from jetnet import evaluation as je

    real, gen = a["real"], a["gen"]
    features: list[np.ndarray] = []

    def averaged(means: np.ndarray, stds: np.ndarray) -> tuple[float, float]:
        return float(np.mean(means)), float(np.linalg.norm(stds))

    def d_le_4() -> tuple[float, float]:
        features[:] = [je.get_fpd_kpd_jet_features(real), je.get_fpd_kpd_jet_features(gen)]
        return float(features[0].mean()), float(features[1].mean())

    return {"W1M": lambda: je.w1m(real, gen),
            "W1P": lambda: averaged(*je.w1p(real, gen, a["real_mask"], a["gen_mask"])),
            "W1EFP (+ 5 EFPs of both)": lambda: averaged(*je.w1efp(real, gen)), "36 EFPs of both": d_le_4,
            "FPD": lambda: je.fpd(*features), "KPD": lambda: je.kpd(*features)}


def worker(library: str, arrays: Path, out: Path) -> None:
    """Subprocess entry: time every step of ``library`` on the saved arrays, write the results as JSON."""
    with np.load(arrays) as data:
        a = {k: data[k] for k in data.files}
    steps = _jetnet_steps(a) if library == "jetnet" else _hepgraph_steps(a)
    out.write_text(json.dumps(_timed(steps)))


def _export(revision: str, into: Path) -> Path:
    """``src/`` of the git ``revision`` unpacked under ``into``; returns the directory to put on PYTHONPATH."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision, "src"], check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into / "src"


def _run(python: str, library: str, pythonpath: Path | None, arrays: Path, tmp: Path) -> dict:
    """One subprocess run of ``worker``; raises with its stderr if it fails."""
    out = tmp / f"{library}-{time.monotonic_ns()}.json"
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    proc = subprocess.run([python, __file__, "--worker", library, "--arrays", str(arrays), "--out", str(out)],
                          env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{library} worker ({python}) failed:\n{proc.stderr[-3000:]}")
    return json.loads(out.read_text())


def _value(step: str, r: dict) -> str:
    """A step's value cell: value ± error, or the two samples' mean EFP for the EFP step."""
    if step == "36 EFPs of both":
        return f"mean {r['value']:.6g} / {r['error']:.6g}"
    return f"{r['value']:.4g} ± {r['error']:.2g}"


def table(results: dict[str, list[dict]]) -> str:
    """Markdown table: median wall seconds per implementation and step, the speed-ups, and each one's values."""
    names = list(results)
    med = {k: {s: statistics.median(r[s]["wall"] for r in runs) for s in STEPS} for k, runs in results.items()}
    for k in names:
        med[k]["all five"] = sum(med[k].values())
    others = [k for k in names if k != "hepgraph"]
    header = [f"{k} s" for k in names] + [f"{k} / hepgraph" for k in others] + [f"value {k}" for k in names]
    lines = ["| step | " + " | ".join(header) + " |",
             "|---|" + "---:|" * (len(names) + len(others)) + "---|" * len(names)]
    for s in (*STEPS, "all five"):
        cells = ([f"{med[k][s]:.2f}" for k in names] + [f"{med[k][s] / med['hepgraph'][s]:.1f}x" for k in others]
                 + ["" if s == "all five" else _value(s, results[k][0][s]) for k in names])
        lines.append(f"| {s} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=50_000, help="jets per sample (default 50,000, jetnet's)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds; cells are medians")
    parser.add_argument("--reference-repeats", type=int, default=1,
                        help="how many of the rounds also run --before and jetnet (default 1)")
    parser.add_argument("--jetnet-python", help="interpreter of a venv with jetnet (and energyflow) installed")
    parser.add_argument("--before", metavar="REV", help="also time hepgraph's src/ at this git revision")
    parser.add_argument("--no-record", action="store_true", help="print only; do not append to results.md")
    parser.add_argument("--worker", choices=["hepgraph", "jetnet"], help=argparse.SUPPRESS)
    parser.add_argument("--arrays", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.arrays, args.out)
        return
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        rng = np.random.default_rng(0)
        (real, real_mask), (gen, gen_mask) = toy_jets(args.n, rng), toy_jets(args.n, rng, eta_shift=0.01)
        arrays = tmp / "jets.npz"
        np.savez(arrays, real=real, real_mask=real_mask, gen=gen, gen_mask=gen_mask)
        runs: dict[str, tuple[str, str, Path | None]] = {"hepgraph": (sys.executable, "hepgraph", ROOT / "src")}
        if args.before:
            runs[f"hepgraph {args.before}"] = (sys.executable, "hepgraph", _export(args.before, tmp))
        if args.jetnet_python:
            runs["jetnet"] = (args.jetnet_python, "jetnet", None)
        results: dict[str, list[dict]] = {k: [] for k in runs}
        loads = []
        for r in range(args.repeats):
            for name, (python, library, path) in runs.items():
                if name != "hepgraph" and r >= args.reference_repeats:
                    continue
                results[name].append(_run(python, library, path, arrays, tmp))
                loads.append(os.getloadavg()[0])
                total = sum(step["wall"] for step in results[name][-1].values())
                print(f"round {r + 1}: {name:24s} {total:7.1f} s  (1-min load {loads[-1]:.1f})", flush=True)
    rounds = ", ".join(f"{k} {len(v)}" for k, v in results.items())
    text = (f"N = {args.n:,} real and {args.n:,} generated toy jets; wall s, median over interleaved rounds ({rounds}); "
            f"1-min load average {min(loads):.1f}-{max(loads):.1f} on {os.cpu_count()} cores (shared machine); "
            f"values (value ± error) from round 1.\n"
            f"`{' '.join([Path(sys.executable).name, *sys.argv])}`\n\n{table(results)}")
    print(text)
    if not args.no_record:
        sys.path.insert(0, str(Path(__file__).parent))
        from record import append
        append("generated-jet metrics: hepgraph vs jetnet", text)


if __name__ == "__main__":
    main()
