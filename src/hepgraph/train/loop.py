"""The one training loop every model family uses.

A family provides a :class:`Task`: its models, optimisers and (optionally) learning-rate schedulers by name,
``train_step(batch)`` and ``validate()``, each returning a dict of floats. :func:`fit` provides the rest: device,
seeding, epochs over a data loader (tensors, containers of them, or PyTorch Geometric batches), gradient clipping
by norm, a progress line per epoch, the metrics CSV, checkpoints, exact resume after a kill, the best checkpoint by
a validation metric, and a clear stop on NaN/inf. Tasks wrap their forward passes in
:func:`hepgraph.device.autocast` for bf16 mixed precision on GPUs (a no-op on the CPU). :func:`export` copies a
finished run's best model and metrics out of its state directory.

Files in ``checkpoint_dir``: ``last.pt`` (resumable; written every ``checkpoint_every`` epochs and at
the end; it embeds the best epoch's weights, so that one atomic write keeps both consistent) and
``best.pt`` (the best epoch's models, rewritten from ``last.pt`` whenever that is written or resumed).
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import math
import random
import shutil
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from hepgraph.dependencies import imported_files
from hepgraph.device import pick_device, to_device
from hepgraph.io import atomic_output
from hepgraph.train.checkpoint import (capture_rng_state, load_checkpoint, load_states, model_states,
                                       restore_rng_state, save_checkpoint)

log = logging.getLogger(__name__)


class Task(Protocol):
    """What a model family gives the loop. Its models must live on the device it was built for.

    A task may also have ``schedulers`` {name: LR scheduler}: the loop steps each after every epoch
    (``ReduceLROnPlateau`` with the ``best_metric`` value) and checkpoints their states. A schedule that depends on
    the number of epochs must put it in the run's ``meta``, since more epochs otherwise continue a resumed run.
    """

    models: Mapping[str, nn.Module]
    optimizers: Mapping[str, torch.optim.Optimizer]

    def train_step(self, batch: Any) -> Mapping[str, float]:
        """One optimisation step on ``batch`` (already on the device) -> metrics, e.g. losses."""

    def validate(self) -> Mapping[str, float]:
        """Validation metrics (may be empty)."""


class NonFiniteError(FloatingPointError):
    """Training produced NaN or inf."""


@dataclass(frozen=True)
class FitResult:
    """Where training ended: last completed epoch, checkpoint and metrics paths and the best validation value."""

    epoch: int
    last_checkpoint: Path
    best_checkpoint: Path | None
    metrics: Path
    best_value: float | None
    best_epoch: int | None


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and torch's (all devices) global RNGs."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _batch_size(batch: Any) -> int:
    """Number of samples in ``batch``: the graphs of a PyG batch, else the leading size of its first tensor
    (0 if none)."""
    if isinstance(batch, torch.Tensor):
        return batch.shape[0] if batch.dim() else 1
    if hasattr(batch, "num_graphs"):
        return int(batch.num_graphs)
    items = batch.values() if isinstance(batch, Mapping) else batch if isinstance(batch, (list, tuple)) else []
    return next((n for n in map(_batch_size, items) if n), 0)


def _normalise(meta: Mapping[str, Any] | None) -> dict[str, Any]:
    """``meta`` as plain JSON types (tuples become lists), so that saved and current settings compare."""
    return json.loads(json.dumps(dict(meta or {}), sort_keys=True, default=str))


def fingerprint(*files: str | Path) -> str:
    """The first 16 hex digits of the SHA-256 of the contents of ``files`` (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    for file in files:
        with open(file, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


def code_fingerprint(module: str) -> str:
    """:func:`fingerprint` of ``module`` ("hepgraph.stages.train_gan") and every hepgraph module it imports: put it
    in a run's ``meta`` so that edited training code starts over instead of resuming."""
    return fingerprint(*imported_files(module))


def discard_if_changed(checkpoint_dir: str | Path, meta: Mapping[str, Any], epochs: int) -> bool:
    """Delete ``checkpoint_dir`` if its ``last.pt`` cannot continue into a run of ``epochs`` epochs with settings
    ``meta`` (other settings, or already past ``epochs``); True if so.

    A workflow reruns a training job because its settings, data or code changed: that run starts over, while a
    killed run with the same settings resumes in :func:`fit`, and more epochs continue a finished one.
    """
    last = Path(checkpoint_dir) / "last.pt"
    if not last.is_file():
        return False
    ckpt = load_checkpoint(last)
    if ckpt["meta"] != _normalise(meta):
        why = "was written with other settings, data or code"
    elif ckpt["epoch"] > epochs:
        why = f"is at epoch {ckpt['epoch']}, past the {epochs} epoch(s) asked for"
    else:
        return False
    log.warning("%s %s: starting over", last, why)
    shutil.rmtree(checkpoint_dir)
    return True


def _read_rows(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _write_rows(path: Path, rows: list[Mapping[str, Any]]) -> None:
    """Write ``rows`` as CSV atomically; columns are the union of keys in first-seen order."""
    fields = list(dict.fromkeys(k for row in rows for k in row))
    with atomic_output(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fields, restval="", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def _format(metrics: Mapping[str, float]) -> str:
    return " ".join(f"{k}={v:.5g}" for k, v in metrics.items())


def _nonfinite(metrics: Mapping[str, float]) -> dict[str, float]:
    return {k: v for k, v in metrics.items() if not math.isfinite(v)}


def _nonfinite_parameters(models: Mapping[str, nn.Module]) -> list[str]:
    return [f"{name}.{p_name}" for name, model in models.items()
            for p_name, p in model.named_parameters() if not torch.isfinite(p).all()]


def _better(value: float, best: float | None, mode: str) -> bool:
    return best is None or (value < best if mode == "min" else value > best)


def _clip_gradients(optimizers: Mapping[str, torch.optim.Optimizer], max_norm: float) -> tuple[dict, list]:
    """Clip each optimiser's gradients to total L2 norm ``max_norm`` just before its ``step()`` (a pre-step hook,
    so tasks need not know); returns {name: last norm before clipping} and the hook handles."""
    norms: dict[str, float] = {}

    def hook(name: str) -> Callable:
        def clip(optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
            params = [p for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
            norms[name] = float(nn.utils.clip_grad_norm_(params, max_norm))
        return clip

    return norms, [opt.register_step_pre_hook(hook(name)) for name, opt in optimizers.items()]


def _step_schedulers(schedulers: Mapping[str, Any], val: Mapping[str, float], best_metric: str | None) -> None:
    for name, scheduler in schedulers.items():
        if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            if best_metric is None or best_metric not in val:
                raise ValueError(f"scheduler {name!r} (ReduceLROnPlateau) needs the validation metric best_metric "
                                 f"({best_metric!r}) every epoch; validate every epoch and set best_metric")
            scheduler.step(val[best_metric])
        else:
            scheduler.step()


def fit(make_task: Callable[[torch.device], Task], loader: Iterable, *, epochs: int,
        checkpoint_dir: str | Path, metrics_path: str | Path, seed: int = 0,
        device: str | torch.device = "auto", checkpoint_every: int = 1, validate_every: int = 1,
        best_metric: str | None = None, best_mode: str = "min", meta: Mapping[str, Any] | None = None,
        grad_clip_norm: float | None = None, resume: bool = True) -> FitResult:
    """Train the task built by ``make_task(device)`` for ``epochs`` epochs over ``loader``.

    Seeds every RNG with ``seed`` before building the task. With ``resume`` and an existing
    ``checkpoint_dir/last.pt`` written with the same ``meta`` (the settings that define the run; the
    epoch count is not one), training continues after that checkpoint's epoch and ends with the same
    weights as an uninterrupted run: models, optimisers, schedulers and all RNG states (hence the data order
    of a shuffling loader, drawn from torch's RNG or the loader's own ``generator``) are restored; a checkpoint
    with other settings, or past ``epochs``, is refused (:func:`discard_if_changed` starts such runs over).
    Rows of ``metrics_path`` (one per epoch: ``train_*`` means over the epoch's steps, ``val_*`` from
    ``validate()``) past that epoch are dropped. ``best_metric`` names a ``validate()`` key; lower
    (``best_mode`` "min") or higher ("max") is better. ``grad_clip_norm`` clips each optimiser's gradients
    to that total L2 norm before its step and logs the mean norm before clipping (``train_grad_norm_<name>``).
    NaN/inf in a step's metrics, a validation metric or a parameter raises :class:`NonFiniteError` naming
    epoch, step, batch and the last good checkpoint.
    """
    if epochs < 1 or checkpoint_every < 1 or validate_every < 1:
        raise ValueError(f"epochs ({epochs}), checkpoint_every ({checkpoint_every}) and validate_every "
                         f"({validate_every}) must be >= 1")
    if best_mode not in ("min", "max"):
        raise ValueError(f"best_mode = {best_mode!r}; use 'min' or 'max'")
    if grad_clip_norm is not None and not grad_clip_norm > 0:
        raise ValueError(f"grad_clip_norm = {grad_clip_norm}; use a positive norm, or None for no clipping")
    dev = device if isinstance(device, torch.device) else pick_device(device)
    checkpoint_dir, metrics_path = Path(checkpoint_dir), Path(metrics_path)
    last_path, best_path = checkpoint_dir / "last.pt", checkpoint_dir / "best.pt"
    meta = _normalise(meta)
    generator = getattr(loader, "generator", None)

    seed_everything(seed)
    task = make_task(dev)
    if not task.models or not task.optimizers:
        raise ValueError("the task has no models or no optimizers; a Task needs both (by name)")
    schedulers = getattr(task, "schedulers", {})
    grad_norms, hooks = _clip_gradients(task.optimizers, grad_clip_norm) if grad_clip_norm else ({}, [])

    epoch, step, best, best_models = 0, 0, None, None
    if resume and last_path.is_file():
        ckpt = load_checkpoint(last_path, dev)
        changed = sorted(k for k in set(meta) | set(ckpt["meta"]) if meta.get(k) != ckpt["meta"].get(k))
        if changed:
            diffs = "; ".join(f"{k}: {ckpt['meta'].get(k)!r} in the checkpoint, {meta.get(k)!r} now"
                              for k in changed)
            raise ValueError(f"checkpoint {last_path} was written with other settings ({diffs}); restore "
                             f"them, or delete {checkpoint_dir} to train from scratch")
        if ckpt["epoch"] > epochs:
            raise ValueError(f"checkpoint {last_path} is at epoch {ckpt['epoch']}, past the {epochs} epoch(s) "
                             f"asked for; ask for at least {ckpt['epoch']}, or delete {checkpoint_dir} to train "
                             f"{epochs} from scratch")
        load_states(last_path, ckpt["models"], task.models)
        load_states(last_path, ckpt["optimizers"], task.optimizers)
        load_states(last_path, ckpt.get("schedulers", {}), schedulers)
        epoch, step, best, best_models = ckpt["epoch"], ckpt["step"], ckpt["best"], ckpt["best_models"]
        restore_rng_state(ckpt["rng"], generator)
        _save_best(best_path, best, best_models, meta)
        log.info("resuming from %s after epoch %d (step %d)", last_path, epoch, step)
    else:  # a fresh start: nothing of an older run may be resumed or reported later
        last_path.unlink(missing_ok=True)
        best_path.unlink(missing_ok=True)
    rows = [r for r in _read_rows(metrics_path) if int(r["epoch"]) <= epoch]
    if rows:
        _write_rows(metrics_path, rows)
    else:
        metrics_path.unlink(missing_ok=True)
    if epoch == epochs:
        log.info("nothing to do: %s is at epoch %d of %d", last_path, epoch, epochs)

    for epoch in range(epoch + 1, epochs + 1):
        start, sums, steps, samples = time.perf_counter(), {}, 0, 0
        for index, batch in enumerate(loader):
            batch = to_device(batch, dev)
            metrics = {k: float(v) for k, v in task.train_step(batch).items()}
            metrics.update({f"grad_norm_{name}": norm for name, norm in grad_norms.items()})
            grad_norms.clear()
            step += 1
            bad = _nonfinite(metrics)
            if bad:
                raise NonFiniteError(f"non-finite training metric(s) {bad} at epoch {epoch}, step {step} "
                                     f"(batch {index} of the epoch); last good checkpoint: "
                                     f"{_last_good(last_path)}")
            for k, v in metrics.items():
                sums[k] = sums.get(k, 0.0) + v
            steps += 1
            samples += _batch_size(batch)
        if steps == 0:
            raise ValueError("the data loader yielded no batches; check the training data and batch size")
        seconds = time.perf_counter() - start
        row: dict[str, Any] = {"epoch": epoch, "step": step,
                               **{f"train_{k}": v / steps for k, v in sums.items()},
                               **{f"lr_{name}": opt.param_groups[0]["lr"] for name, opt in task.optimizers.items()}}
        val = {}
        if epoch % validate_every == 0 or epoch == epochs:
            val = {k: float(v) for k, v in task.validate().items()}
            row.update({f"val_{k}": v for k, v in val.items()})
        row["time_s"] = seconds
        bad = {**_nonfinite(val), **{name: math.nan for name in _nonfinite_parameters(task.models)}}
        if bad:
            raise NonFiniteError(f"non-finite validation metric(s) or parameter(s) {sorted(bad)} after "
                                 f"epoch {epoch} (step {step}); last good checkpoint: {_last_good(last_path)}")
        if best_metric is not None and val:
            if best_metric not in val:
                raise ValueError(f"best_metric {best_metric!r} is not among the validation metrics "
                                 f"{sorted(val)}")
            if _better(val[best_metric], best and best["value"], best_mode):
                best = {"metric": best_metric, "mode": best_mode, "value": val[best_metric], "epoch": epoch}
                best_models = model_states(task.models)
        _step_schedulers(schedulers, val, best_metric)
        _write_rows(metrics_path, [*_read_rows(metrics_path), row])
        log.info("epoch %d/%d  train: %s%s  (%.1f s, %.1f samples/s)", epoch, epochs,
                 _format({k: v / steps for k, v in sums.items()}), f"  val: {_format(val)}" if val else "",
                 seconds, samples / seconds)
        if epoch % checkpoint_every == 0 or epoch == epochs:
            save_checkpoint(last_path, {
                "epoch": epoch, "step": step, "models": model_states(task.models),
                "optimizers": {k: o.state_dict() for k, o in task.optimizers.items()},
                "schedulers": {k: s.state_dict() for k, s in schedulers.items()},
                "rng": capture_rng_state(generator), "meta": meta, "best": best, "best_models": best_models,
            })
            _save_best(best_path, best, best_models, meta)
    for handle in hooks:
        handle.remove()
    return FitResult(epoch=epoch, last_checkpoint=last_path,
                     best_checkpoint=best_path if best_models is not None else None, metrics=metrics_path,
                     best_value=None if best is None else best["value"],
                     best_epoch=None if best is None else best["epoch"])


def export(result: FitResult, model: str | Path, metrics: str | Path,
           meta: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Copy a finished run out of its state directory: the best checkpoint (its ``meta`` extended by ``meta``) to
    ``model`` and the metrics CSV to ``metrics``, both atomically; returns the exported checkpoint.

    Workflow outputs are copies: Snakemake deletes a rerun job's outputs, and the state directory must keep the
    whole history for a resumed run.
    """
    if result.best_checkpoint is None:
        raise ValueError(f"run {result.last_checkpoint.parent} has no best epoch to export: give fit() a "
                         "best_metric that validate() returns")
    best = load_checkpoint(result.best_checkpoint)
    best["meta"] = {**best["meta"], **_normalise(meta)}
    save_checkpoint(model, {k: v for k, v in best.items() if k not in ("format", "version", "hepgraph_version")})
    with atomic_output(metrics) as tmp:
        shutil.copyfile(result.metrics, tmp)
    return best


def _save_best(path: Path, best: Mapping[str, Any] | None, models: Mapping[str, Any] | None,
               meta: Mapping[str, Any]) -> None:
    """Write the best epoch's ``models`` as checkpoint ``path`` (nothing while there is no best epoch)."""
    if models is not None:
        save_checkpoint(path, {"epoch": best["epoch"], "step": None, "models": models, "meta": meta, "best": best})


def _last_good(path: Path) -> str:
    """``path`` and its epoch, for error messages, or why there is none."""
    try:
        return f"{path} (epoch {load_checkpoint(path)['epoch']})"
    except FileNotFoundError:
        return "none written yet"
    except ValueError as err:
        return f"none usable ({err})"
