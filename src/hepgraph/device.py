"""The one way to pick a torch device and to move data to it."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

import torch


def pick_device(request: str = "auto") -> torch.device:
    """Return the device named by ``request``: "auto" (CUDA if available, else CPU), "cpu", "cuda" or "cuda:N".

    An unavailable or unknown request raises ValueError naming the value and the alternatives.
    """
    name = str(request).strip().lower()
    n_gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    available = ["auto", "cpu"] + (["cuda"] + [f"cuda:{i}" for i in range(n_gpus)] if n_gpus else [])
    if name == "auto":
        return torch.device("cuda" if n_gpus else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        device = None
    if device is None or device.type not in ("cpu", "cuda") or (device.type == "cpu" and device.index):
        raise ValueError(f"unknown device {request!r}; use one of {', '.join(available)}")
    if device.type == "cuda" and (n_gpus == 0 or (device.index or 0) >= n_gpus):
        why = "CUDA is not available on this machine" if n_gpus == 0 else f"only {n_gpus} GPU(s) are visible"
        raise ValueError(f"device {request!r} requested but {why}; use one of {', '.join(available)}")
    return device


def to_device(value: Any, device: torch.device) -> Any:
    """``value`` with every tensor, and every object with a ``.to(device)`` (PyTorch Geometric ``Data``/``Batch``),
    moved to ``device``, also inside mappings, lists and tuples (named tuples keep their type). Containers are new;
    PyG's ``.to`` moves the tensors of its objects in place."""
    if isinstance(value, torch.Tensor):
        return value.to(device, non_blocking=True)
    if isinstance(value, Mapping):
        return {k: to_device(v, device) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        items = [to_device(v, device) for v in value]
        return type(value)(*items) if hasattr(value, "_fields") else type(value)(items)
    if callable(getattr(value, "to", None)):
        return value.to(device)
    return value


def autocast(device: torch.device, enabled: bool = True) -> contextlib.AbstractContextManager:
    """bf16 autocast for forward passes on a CUDA ``device`` if ``enabled``; a no-op on the CPU (where bf16 is
    slower) or when disabled. bf16 keeps float32's range, so no gradient scaler (and no state to resume) is needed."""
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", torch.bfloat16)
    return contextlib.nullcontext()
