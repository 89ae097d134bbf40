"""The shared training loop: device choice, exact resume after a kill, metrics CSV, best checkpoint, NaN stop."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import itertools
import random
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from hepgraph.data import mnist
from hepgraph.dependencies import imported_files
from hepgraph.device import autocast, pick_device, to_device
from hepgraph.models.graph_gan import GraphGANTask, graph_gan_config
from hepgraph.train.checkpoint import capture_rng_state, load_checkpoint, restore_rng_state, save_checkpoint
from hepgraph.train.loop import (FitResult, NonFiniteError, Task, _batch_size, code_fingerprint, discard_if_changed,
                                 fingerprint, fit, seed_everything)

GAN = graph_gan_config("mnist_small", num_nodes=12, latent_size=8, hidden_size=8, edge_layers=(16, 12),
                       node_layers=(24,), lr_d=1e-3, lr_g=1e-3)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


class Killed(Exception):
    """Stands in for SIGKILL: the run stops between two steps and nothing after it is written."""


def killed_at(make_task: Callable[[torch.device], Task], step: int) -> Callable[[torch.device], Task]:
    """``make_task`` whose ``train_step`` raises :class:`Killed` at its ``step``-th call (1-based)."""
    def make(device: torch.device) -> Task:
        task = make_task(device)
        step_once, calls = task.train_step, itertools.count(1)

        def train_step(batch):
            if next(calls) == step:
                raise Killed
            return step_once(batch)

        task.train_step = train_step
        return task
    return make


@pytest.fixture(scope="module")
def sevens() -> tuple[torch.Tensor, torch.Tensor]:
    """Sparse MNIST graphs (12 brightest pixels) of 192 real handwritten sevens."""
    images, labels = mnist.load_bundled()
    nodes, mask = mnist.sparse_graphs(images[labels == 7][:192], n_nodes=12)
    return torch.from_numpy(nodes), torch.from_numpy(mask)


def train_gan(out: Path, sevens: tuple[torch.Tensor, torch.Tensor], epochs: int,
              kill_step: int | None = None) -> FitResult:
    """Tiny graph GAN on real digits: 4 shuffled batches per epoch, checkpoint every 2 epochs."""
    nodes, mask = sevens
    loader = DataLoader(TensorDataset(nodes[:128], mask[:128]), batch_size=32, shuffle=True)

    def make(device: torch.device) -> GraphGANTask:
        return GraphGANTask(GAN, device, val_nodes=nodes[128:], val_mask=mask[128:])

    return fit(make if kill_step is None else killed_at(make, kill_step), loader, epochs=epochs,
               checkpoint_dir=out / "ckpt", metrics_path=out / "metrics.csv", seed=11, device="cpu",
               checkpoint_every=2, best_metric="w1_nodes", meta={"model": dataclasses.asdict(GAN)})


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def without_time(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    return [{k: v for k, v in row.items() if k != "time_s"} for row in rows]


def assert_same_states(a: dict, b: dict) -> None:
    """Nested state dicts equal bit for bit."""
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], torch.Tensor):
            assert torch.equal(a[key], b[key]), key
        elif isinstance(a[key], dict):
            assert_same_states(a[key], b[key])
        else:
            assert a[key] == b[key], key


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory, sevens) -> Path:
    out = tmp_path_factory.mktemp("uninterrupted")
    result = train_gan(out, sevens, epochs=6)
    assert result.epoch == 6 and result.last_checkpoint == out / "ckpt" / "last.pt"
    return out


@pytest.mark.parametrize("kill_step,rows_before_resume", [(18, 4), (21, 5)])
def test_kill_and_resume_gives_bit_identical_weights(tmp_path: Path, sevens, uninterrupted: Path,
                                                     kill_step: int, rows_before_resume: int) -> None:
    # step 18 = batch 1 of epoch 5 (last checkpoint: epoch 4); step 21 = first batch of epoch 6, after
    # epoch 5's metrics row was written but before any checkpoint of epoch 5 (there is none: every 2).
    with pytest.raises(Killed):
        train_gan(tmp_path, sevens, epochs=6, kill_step=kill_step)
    assert load_checkpoint(tmp_path / "ckpt" / "last.pt")["epoch"] == 4
    assert [r["epoch"] for r in read_csv(tmp_path / "metrics.csv")] == [str(e) for e in
                                                                       range(1, rows_before_resume + 1)]

    result = train_gan(tmp_path, sevens, epochs=6)
    assert result.epoch == 6
    full, resumed = (load_checkpoint(d / "ckpt" / "last.pt") for d in (uninterrupted, tmp_path))
    for key in ("models", "optimizers", "best_models"):
        assert_same_states(full[key], resumed[key])
    assert full["best"] == resumed["best"] and full["step"] == resumed["step"] == 24
    assert_same_states(*(load_checkpoint(d / "ckpt" / "best.pt")["models"] for d in (uninterrupted, tmp_path)))
    assert without_time(read_csv(tmp_path / "metrics.csv")) == without_time(read_csv(uninterrupted / "metrics.csv"))


def test_metrics_csv_and_best_checkpoint(tmp_path: Path, uninterrupted: Path, sevens) -> None:
    rows = read_csv(uninterrupted / "metrics.csv")
    assert [r["epoch"] for r in rows] == ["1", "2", "3", "4", "5", "6"]
    assert [r["step"] for r in rows] == ["4", "8", "12", "16", "20", "24"]
    assert {"train_loss_d", "train_loss_g", "val_loss_d", "val_loss_g", "val_w1_nodes", "time_s"} <= rows[0].keys()
    w1 = [float(r["val_w1_nodes"]) for r in rows]
    best = load_checkpoint(uninterrupted / "ckpt" / "best.pt")
    assert best["best"]["value"] == min(w1) and best["epoch"] == best["best"]["epoch"] == 1 + int(np.argmin(w1))
    assert "optimizers" not in best
    # the best epoch's weights are those of a run stopped at that epoch
    train_gan(tmp_path, sevens, epochs=best["epoch"])
    assert_same_states(best["models"], load_checkpoint(tmp_path / "ckpt" / "last.pt")["models"])


def test_rerun_after_the_end_does_nothing_and_more_epochs_continue(tmp_path: Path, sevens,
                                                                    uninterrupted: Path) -> None:
    train_gan(tmp_path, sevens, epochs=4)
    before = (tmp_path / "ckpt" / "last.pt").read_bytes()
    assert train_gan(tmp_path, sevens, epochs=4).epoch == 4
    assert (tmp_path / "ckpt" / "last.pt").read_bytes() == before
    train_gan(tmp_path, sevens, epochs=6)
    assert_same_states(load_checkpoint(tmp_path / "ckpt" / "last.pt")["models"],
                       load_checkpoint(uninterrupted / "ckpt" / "last.pt")["models"])


def test_resume_with_other_settings_is_refused(tmp_path: Path, sevens) -> None:
    nodes, mask = sevens
    loader = DataLoader(TensorDataset(nodes[:32], mask[:32]), batch_size=32)
    kw = dict(epochs=1, checkpoint_dir=tmp_path / "ckpt", metrics_path=tmp_path / "m.csv", device="cpu")
    fit(lambda d: GraphGANTask(GAN, d), loader, meta={"lr_d": 1e-3}, **kw)
    with pytest.raises(ValueError, match=r"other settings \(lr_d: 0.001 in the checkpoint, 0.01 now\).*delete"):
        fit(lambda d: GraphGANTask(GAN, d), loader, meta={"lr_d": 1e-2}, **kw)
    (tmp_path / "ckpt" / "last.pt").write_bytes(b"truncated")
    with pytest.raises(ValueError, match=r"last.pt is unreadable or corrupt .*delete it"):
        fit(lambda d: GraphGANTask(GAN, d), loader, meta={"lr_d": 1e-3}, **kw)


class Regression:
    """Least squares with a small MLP (dropout) and SGD; validation MSE on a held-out set."""

    def __init__(self, device: torch.device, x_val: torch.Tensor, y_val: torch.Tensor) -> None:
        self.model = nn.Sequential(nn.Linear(3, 16), nn.Dropout(0.2), nn.Linear(16, 1)).to(device)
        self.models = {"mlp": self.model}
        self.optimizers = {"sgd": torch.optim.SGD(self.model.parameters(), lr=0.05)}
        self.x_val, self.y_val = x_val, y_val

    def train_step(self, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, float]:
        x, y = batch
        self.model.train()
        loss = F.mse_loss(self.model(x).squeeze(-1), y)
        self.optimizers["sgd"].zero_grad()
        loss.backward()
        self.optimizers["sgd"].step()
        return {"mse": loss.item()}

    def validate(self) -> dict[str, float]:
        self.model.eval()
        with torch.no_grad():
            return {"mse": F.mse_loss(self.model(self.x_val).squeeze(-1), self.y_val).item()}


def regression_data(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.from_numpy(np.random.default_rng(0).normal(size=(n, 3)).astype(np.float32))
    return x, x @ torch.tensor([1.0, -2.0, 0.5])


class CorruptSecondEpoch:
    """Four batches of 16 per epoch; from the second pass on, batch 1 holds a NaN feature."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.x, self.y, self.passes = x, y, 0

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        self.passes += 1
        for i in range(4):
            x = self.x[16 * i:16 * i + 16].clone()
            if self.passes >= 2 and i == 1:
                x[3, 0] = float("nan")
            yield x, self.y[16 * i:16 * i + 16]


def test_nan_stops_with_epoch_step_batch_and_last_good_checkpoint(tmp_path: Path) -> None:
    x, y = regression_data(96)
    loader = CorruptSecondEpoch(x[:64], y[:64])
    with pytest.raises(NonFiniteError) as err:
        fit(lambda d: Regression(d, x[64:], y[64:]), loader, epochs=3, checkpoint_dir=tmp_path / "ckpt",
            metrics_path=tmp_path / "m.csv", device="cpu")
    last = tmp_path / "ckpt" / "last.pt"
    assert str(err.value) == (f"non-finite training metric(s) {{'mse': nan}} at epoch 2, step 6 (batch 1 of "
                              f"the epoch); last good checkpoint: {last} (epoch 1)")
    assert load_checkpoint(last)["epoch"] == 1 and len(read_csv(tmp_path / "m.csv")) == 1

    loader.passes = 1  # corrupt from the first epoch on: nothing written yet
    with pytest.raises(NonFiniteError, match=r"at epoch 1, step 2 \(batch 1 .*checkpoint: none written yet"):
        fit(lambda d: Regression(d, x[64:], y[64:]), loader, epochs=3, checkpoint_dir=tmp_path / "new",
            metrics_path=tmp_path / "new.csv", device="cpu")


def test_regression_converges_and_best_max_mode(tmp_path: Path) -> None:
    x, y = regression_data(96)
    loader = DataLoader(TensorDataset(x[:64], y[:64]), batch_size=16, shuffle=True)
    result = fit(lambda d: Regression(d, x[64:], y[64:]), loader, epochs=5, checkpoint_dir=tmp_path / "ckpt",
                 metrics_path=tmp_path / "m.csv", device="cpu", best_metric="mse", best_mode="max")
    mse = [float(r["val_mse"]) for r in read_csv(tmp_path / "m.csv")]
    assert mse[-1] < 0.1 * mse[0]  # y = x . (1, -2, 0.5) is learnt
    assert result.best_value == max(mse) and result.best_epoch == 1 + int(np.argmax(mse))
    with pytest.raises(ValueError, match=r"best_metric 'w1' is not among the validation metrics \['mse'\]"):
        fit(lambda d: Regression(d, x[64:], y[64:]), loader, epochs=1, checkpoint_dir=tmp_path / "other",
            metrics_path=tmp_path / "other.csv", device="cpu", best_metric="w1")
    with pytest.raises(ValueError, match="yielded no batches"):
        fit(lambda d: Regression(d, x[64:], y[64:]), [], epochs=1, checkpoint_dir=tmp_path / "empty",
            metrics_path=tmp_path / "empty.csv", device="cpu")


def test_resume_restores_the_data_order_of_a_loader_with_its_own_generator(tmp_path: Path) -> None:
    x, y = regression_data(96)

    def run(out: Path, kill_step: int | None = None) -> dict:
        loader = DataLoader(TensorDataset(x[:64], y[:64]), batch_size=16, shuffle=True,
                            generator=torch.Generator().manual_seed(5))  # a new process builds it afresh

        def make(d: torch.device) -> Regression:
            return Regression(d, x[64:], y[64:])

        fit(make if kill_step is None else killed_at(make, kill_step), loader, epochs=4,
            checkpoint_dir=out, metrics_path=out / "m.csv", device="cpu")
        return load_checkpoint(out / "last.pt")["models"]

    with pytest.raises(Killed):
        run(tmp_path / "killed", kill_step=10)  # epoch 3, batch 1
    assert_same_states(run(tmp_path / "killed"), run(tmp_path / "full"))


def test_rng_state_round_trip() -> None:
    generator = torch.Generator().manual_seed(3)
    state = capture_rng_state(generator)

    def draw() -> tuple:
        return (random.random(), np.random.normal(), torch.rand(3).tolist(),
                torch.randint(0, 10**9, (1,), generator=generator).item())

    first = draw()
    restore_rng_state(state, generator)
    assert draw() == first


def test_pick_device() -> None:
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device(" CPU ") == torch.device("cpu")
    assert pick_device("auto") == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match=r"unknown device 'tpu'; use one of auto, cpu"):
        pick_device("tpu")
    with pytest.raises(ValueError, match="unknown device 'cpu:1'"):
        pick_device("cpu:1")
    if not torch.cuda.is_available():
        for request in ("cuda", "cuda:1"):
            with pytest.raises(ValueError, match=rf"device '{request}' requested but CUDA is not available on "
                                                 r"this machine; use one of auto, cpu$"):
                pick_device(request)
    else:
        n = torch.cuda.device_count()
        assert pick_device(f"cuda:{n - 1}") == torch.device(f"cuda:{n - 1}")
        with pytest.raises(ValueError, match=f"only {n} GPU"):
            pick_device(f"cuda:{n}")


def test_discard_if_changed_keeps_a_resumable_run_and_drops_a_changed_one(tmp_path):
    state = tmp_path / "state"
    assert not discard_if_changed(state, {"lr": 1e-3}, epochs=1)  # nothing there yet
    save_checkpoint(state / "last.pt", {"epoch": 2, "step": 1, "models": {}, "meta": {"lr": 1e-3, "sizes": [1, 2]},
                                        "best": None})
    assert not discard_if_changed(state, {"lr": 1e-3, "sizes": (1, 2)}, epochs=3) and (state / "last.pt").exists()
    assert not discard_if_changed(state, {"lr": 1e-3, "sizes": (1, 2)}, epochs=2) and (state / "last.pt").exists()
    assert discard_if_changed(state, {"lr": 1e-3, "sizes": (1, 2)}, epochs=1) and not state.exists()
    save_checkpoint(state / "last.pt", {"epoch": 1, "step": 1, "models": {}, "meta": {"lr": 1e-3}, "best": None})
    assert discard_if_changed(state, {"lr": 1e-4}, epochs=1) and not state.exists()


def test_fewer_epochs_are_refused_by_fit_and_start_over_in_a_workflow(tmp_path: Path, sevens) -> None:
    train_gan(tmp_path / "long", sevens, epochs=4)
    with pytest.raises(ValueError, match=r"last.pt is at epoch 4, past the 2 epoch\(s\) asked for; ask for at "
                                         r"least 4, or delete .*ckpt to train 2 from scratch"):
        train_gan(tmp_path / "long", sevens, epochs=2)
    assert discard_if_changed(tmp_path / "long" / "ckpt", {"model": dataclasses.asdict(GAN)}, epochs=2)
    shorter = train_gan(tmp_path / "long", sevens, epochs=2)
    train_gan(tmp_path / "fresh", sevens, epochs=2)
    assert shorter.epoch == 2 and len(read_csv(tmp_path / "long" / "metrics.csv")) == 2
    assert_same_states(*(load_checkpoint(d / "ckpt" / "last.pt")["models"] for d in (tmp_path / "long",
                                                                                       tmp_path / "fresh")))


def test_fingerprint_follows_the_content_and_code_fingerprint_the_imports(tmp_path):
    a, b = tmp_path / "a.bin", tmp_path / "b.bin"
    a.write_bytes(bytes(range(256)) * 5000)  # more than one 1 MiB block
    b.write_text("y = 2\n")
    before = fingerprint(a, b)
    assert len(before) == 16 and fingerprint(a, b) == before
    assert before == hashlib.sha256(a.read_bytes() + b.read_bytes()).hexdigest()[:16]
    b.write_text("y = 3\n")
    assert fingerprint(a, b) != before
    assert code_fingerprint("hepgraph.stages.train_gan") == fingerprint(*imported_files("hepgraph.stages.train_gan"))


class Graphs:
    """Mean node feature of each graph, regressed by a one-layer GCN over PyTorch Geometric batches."""

    def __init__(self, device: torch.device) -> None:
        from torch_geometric.nn import GCNConv, global_mean_pool

        self.conv, self.pool = GCNConv(2, 1).to(device), global_mean_pool
        self.models = {"gcn": self.conv}
        self.optimizers = {"adam": torch.optim.Adam(self.conv.parameters(), lr=0.05)}
        self.schedulers = {"adam": torch.optim.lr_scheduler.StepLR(self.optimizers["adam"], step_size=1, gamma=0.5)}
        self.graphs_seen = 0

    def train_step(self, batch) -> dict[str, float]:
        self.graphs_seen += batch.num_graphs
        out = self.pool(self.conv(batch.x, batch.edge_index), batch.batch).squeeze(-1)
        loss = F.mse_loss(out, batch.y)
        self.optimizers["adam"].zero_grad()
        loss.backward()
        self.optimizers["adam"].step()
        return {"mse": loss.item()}

    def validate(self) -> dict[str, float]:
        return {}


def graph_loader(n: int = 24):
    from torch_geometric.data import Data
    from torch_geometric.loader import DataLoader as GraphLoader

    rng = np.random.default_rng(1)
    graphs = []
    for size in rng.integers(3, 8, n):
        x = torch.from_numpy(rng.normal(size=(size, 2)).astype(np.float32))
        ring = torch.arange(size)
        graphs.append(Data(x=x, edge_index=torch.stack([ring, (ring + 1) % size]), y=x.mean(0, keepdim=True)[:, 0]))
    return GraphLoader(graphs, batch_size=8, shuffle=True, generator=torch.Generator().manual_seed(2))


def test_pyg_batches_are_moved_counted_and_scheduled(tmp_path: Path) -> None:
    from torch_geometric.data import Batch

    batch = next(iter(graph_loader()))
    x = torch.zeros(3)
    moved = to_device({"graphs": batch, "pair": (x, 3)}, torch.device("meta"))
    assert isinstance(moved["graphs"], Batch) and moved["graphs"].x.is_meta and moved["graphs"].edge_index.is_meta
    assert moved["pair"][0].is_meta and moved["pair"][1] == 3 and not x.is_meta
    assert _batch_size(batch) == 8 and _batch_size([batch]) == 8 and _batch_size({"x": torch.zeros(5, 2)}) == 5

    tasks = []
    fit(lambda d: tasks.append(Graphs(d)) or tasks[-1], graph_loader(), epochs=3, checkpoint_dir=tmp_path / "ckpt",
        metrics_path=tmp_path / "m.csv", device="cpu")
    assert tasks[0].graphs_seen == 3 * 24
    assert [float(r["lr_adam"]) for r in read_csv(tmp_path / "m.csv")] == [0.05, 0.025, 0.0125]
    assert load_checkpoint(tmp_path / "ckpt" / "last.pt")["schedulers"]["adam"]["last_epoch"] == 3


def test_scheduler_and_clipping_resume_exactly(tmp_path: Path) -> None:
    def run(out: Path, epochs: int, kill_step: int | None = None) -> dict:
        def make(d: torch.device) -> Graphs:
            return Graphs(d)

        fit(make if kill_step is None else killed_at(make, kill_step), graph_loader(), epochs=epochs,
            checkpoint_dir=out, metrics_path=out / "m.csv", device="cpu", grad_clip_norm=0.05)
        return load_checkpoint(out / "last.pt")

    with pytest.raises(Killed):
        run(tmp_path / "killed", 4, kill_step=8)  # epoch 3, batch 2 (3 batches per epoch)
    resumed, full = run(tmp_path / "killed", 4), run(tmp_path / "full", 4)
    for key in ("models", "optimizers", "schedulers"):
        assert_same_states(resumed[key], full[key])
    rows = read_csv(tmp_path / "full" / "m.csv")
    assert without_time(read_csv(tmp_path / "killed" / "m.csv")) == without_time(rows)
    assert all(float(r["train_grad_norm_adam"]) > 0.05 for r in rows)  # so clipping was active


def test_clipping_bounds_the_step_of_plain_sgd(tmp_path: Path) -> None:
    x, y = regression_data(16)
    seed_everything(0)
    start = torch.nn.utils.parameters_to_vector(Regression(torch.device("cpu"), x, y).model.parameters()).detach()
    loader = [(x, 10 * y)]  # one batch: a large gradient
    for clip in (None, 0.1):
        out = tmp_path / str(clip)
        fit(lambda d: Regression(d, x, y), loader, epochs=1, checkpoint_dir=out, metrics_path=out / "m.csv",
            device="cpu", grad_clip_norm=clip)
        after = torch.cat([t.flatten() for t in load_checkpoint(out / "last.pt")["models"]["mlp"].values()])
        # SGD without momentum: the step is lr * gradient, its norm lr * ||g|| (lr 0.05)
        step = float((after - start).norm())
        if clip is None:
            assert step > 0.05 * 0.1 * 10
        else:
            assert step == pytest.approx(0.05 * 0.1, rel=1e-4)
            assert float(read_csv(out / "m.csv")[0]["train_grad_norm_sgd"]) > 0.1


def test_autocast_is_bf16_on_gpus_only() -> None:
    layer = nn.Linear(4, 4)
    with autocast(torch.device("cpu")):
        assert layer(torch.ones(2, 4)).dtype == torch.float32
    if torch.cuda.is_available():
        cuda = torch.device("cuda")
        with autocast(cuda):
            assert layer.to(cuda)(torch.ones(2, 4, device=cuda)).dtype == torch.bfloat16
        with autocast(cuda, enabled=False):
            assert layer(torch.ones(2, 4, device=cuda)).dtype == torch.float32


class Plateau(Graphs):
    """Graphs with a validation loss that improves for two epochs, then stays flat: ReduceLROnPlateau's case."""

    def __init__(self, device: torch.device) -> None:
        super().__init__(device)
        self.schedulers = {"adam": torch.optim.lr_scheduler.ReduceLROnPlateau(self.optimizers["adam"], factor=0.5,
                                                                             patience=1)}
        self.epoch = 0

    def validate(self) -> dict[str, float]:
        self.epoch += 1
        return {"val_loss": max(3.0 - self.epoch, 1.0)}  # 2, 1, 1, 1, 1


def test_reduce_on_plateau_follows_the_best_metric(tmp_path: Path) -> None:
    fit(Plateau, graph_loader(), epochs=5, checkpoint_dir=tmp_path / "ckpt", metrics_path=tmp_path / "m.csv",
        device="cpu", best_metric="val_loss")
    # lr of each epoch's training: epochs 3 and 4 bring no improvement, more than the patience of 1 allows, so the
    # scheduler halves the rate after epoch 4
    assert [float(r["lr_adam"]) for r in read_csv(tmp_path / "m.csv")] == [0.05, 0.05, 0.05, 0.05, 0.025]
    with pytest.raises(ValueError, match="needs the validation metric best_metric"):
        fit(Plateau, graph_loader(), epochs=1, checkpoint_dir=tmp_path / "other", metrics_path=tmp_path / "o.csv",
            device="cpu")
