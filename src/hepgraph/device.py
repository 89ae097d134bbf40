"""The one way to pick a torch device."""

from __future__ import annotations

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
