"""The one checkpoint format: model and optimiser states, epoch, RNG states, best metric, provenance.

A checkpoint is a ``torch.save`` dict, written atomically and readable with ``weights_only=True``:
``format``, ``version``, ``hepgraph_version``, ``epoch``, ``step``, ``models`` {name: state_dict},
``meta`` (JSON-like settings it was trained with), ``best`` ({metric, mode, value, epoch} or None) and,
in resumable checkpoints, ``optimizers`` {name: state_dict}, ``rng`` (see :func:`capture_rng_state`) and
``best_models`` (the best epoch's model states).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from hepgraph import __version__
from hepgraph.io import atomic_output

FORMAT = "hepgraph-checkpoint"
VERSION = 1


def capture_rng_state(generator: torch.Generator | None = None) -> dict[str, Any]:
    """Python, numpy and torch (CPU, every CUDA device, and ``generator`` if given) RNG states."""
    _, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "generator": None if generator is None else generator.get_state(),
    }


def restore_rng_state(state: Mapping[str, Any], generator: torch.Generator | None = None) -> None:
    """Restore the states captured by :func:`capture_rng_state` (CUDA ones only where the device exists)."""
    random.setstate(state["python"])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
    if generator is not None and state["generator"] is not None:
        generator.set_state(state["generator"])


def map_tensors(fn: Callable[[torch.Tensor], Any], value: Any) -> Any:
    """``value`` with ``fn`` applied to every tensor in it, also inside mappings, lists and tuples."""
    if isinstance(value, torch.Tensor):
        return fn(value)
    if isinstance(value, Mapping):
        return {k: map_tensors(fn, v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(map_tensors(fn, v) for v in value)
    return value


def model_states(models: Mapping[str, nn.Module]) -> dict[str, dict[str, torch.Tensor]]:
    """CPU copies of the models' state dicts (a snapshot that later training does not change)."""
    return {name: map_tensors(lambda t: t.detach().to("cpu", copy=True), model.state_dict())
            for name, model in models.items()}


def save_checkpoint(path: str | Path, payload: Mapping[str, Any]) -> None:
    """Write ``payload`` (the fields listed in the module docstring, bar the format ones) atomically."""
    full = {"format": FORMAT, "version": VERSION, "hepgraph_version": __version__, **payload}
    with atomic_output(path) as tmp:
        torch.save(full, tmp)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read and check a checkpoint written by :func:`save_checkpoint`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist; train the model first")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:
        raise ValueError(f"checkpoint {path} is unreadable or corrupt ({err}); delete it to train "
                         f"from scratch") from err
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path} is not a hepgraph checkpoint (no format {FORMAT!r}); delete it or "
                         f"point to a checkpoint written by hepgraph.train")
    if payload.get("version", 0) > VERSION:
        raise ValueError(f"checkpoint {path} has format version {payload['version']}, newer than this "
                         f"hepgraph ({VERSION}); update hepgraph")
    return payload


def load_states(path: str | Path, states: Mapping[str, Mapping[str, Any]],
                targets: Mapping[str, nn.Module | torch.optim.Optimizer]) -> None:
    """Load ``states`` {name: state_dict} (read from checkpoint ``path``) into ``targets`` by name."""
    if set(states) != set(targets):
        raise ValueError(f"checkpoint {path} holds {sorted(states)} but the model family has "
                         f"{sorted(targets)}; delete the checkpoint to train from scratch")
    for name, target in targets.items():
        try:
            target.load_state_dict(states[name])
        except (RuntimeError, ValueError, KeyError) as err:
            raise ValueError(f"checkpoint {path}: {name!r} does not fit the current model ({err}); "
                             f"delete the checkpoint to train from scratch") from err
