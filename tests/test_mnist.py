"""MNIST sources (idx, npz, bundled), sparse-MNIST and superpixel graphs, and the prepare_mnist stage."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np
import pytest

from hepgraph.data import mnist
from hepgraph.data.tables import read_arrays, read_meta
from hepgraph.stages import prepare_mnist

REAL_NPZ = Path("/work/shared/data/mnist/mnist.npz")


def idx_bytes(type_code: int, shape: tuple[int, ...], data: bytes) -> bytes:
    """An idx file written by hand: 0, 0, type code, ndim, big-endian uint32 dimensions, then the data."""
    return bytes([0, 0, type_code, len(shape)]) + b"".join(d.to_bytes(4, "big") for d in shape) + data


def write_digits_dir(directory: Path, split: str, images: np.ndarray, labels: np.ndarray, gz: bool) -> None:
    image_name, label_name = mnist.IDX_FILES[split]
    for name, raw in ((image_name, idx_bytes(0x08, images.shape, images.tobytes())),
                      (label_name, idx_bytes(0x08, labels.shape, labels.astype(np.uint8).tobytes()))):
        (directory / (name + ".gz" if gz else name)).write_bytes(gzip.compress(raw) if gz else raw)


@pytest.fixture(scope="module")
def bundled() -> tuple[np.ndarray, np.ndarray]:
    return mnist.load_bundled()


@pytest.fixture(scope="module")
def real_npz() -> Path:
    if not REAL_NPZ.is_file():
        pytest.skip(f"reference data {REAL_NPZ} not available")
    return REAL_NPZ


@pytest.fixture
def tiny_npz(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    rng = np.random.default_rng(7)
    arrays = {"x_train": rng.integers(0, 256, (7, 28, 28), dtype=np.uint8), "y_train": np.arange(7) % 10,
              "x_test": rng.integers(0, 256, (3, 28, 28), dtype=np.uint8), "y_test": np.array([9, 8, 7])}
    path = tmp_path / "mnist.npz"
    np.savez(path, **arrays)
    return path, arrays


# ----------------------------------------------------------------------------------------------- idx files


def test_read_idx_hand_written_uint8_and_big_endian_int32(tmp_path: Path) -> None:
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / "a-idx3-ubyte").write_bytes(idx_bytes(0x08, (2, 3, 4), images.tobytes()))
    (tmp_path / "a-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(0x08, (2, 3, 4), images.tobytes())))
    # int32 values stored big-endian: 1, -2, 70000
    (tmp_path / "b-idx1").write_bytes(idx_bytes(0x0C, (3,), bytes.fromhex("00000001" "fffffffe" "00011170")))

    for name in ("a-idx3-ubyte", "a-idx3-ubyte.gz"):
        read = mnist.read_idx(tmp_path / name)
        assert read.dtype == np.uint8 and read.shape == (2, 3, 4)
        np.testing.assert_array_equal(read, images)
    np.testing.assert_array_equal(mnist.read_idx(tmp_path / "b-idx1"), [1, -2, 70000])


def test_idx_directory_source_reads_gzipped_and_raw_files(tmp_path: Path) -> None:
    train = np.zeros((3, 28, 28), np.uint8)
    train[0, 0, 0], train[1, 27, 27], train[2, 5, 9] = 255, 17, 3
    test = np.full((2, 28, 28), 128, np.uint8)
    write_digits_dir(tmp_path, "train", train, np.array([5, 0, 4]), gz=True)
    write_digits_dir(tmp_path, "test", test, np.array([7, 2]), gz=False)

    images, labels = mnist.load_split("download", "train", tmp_path)
    np.testing.assert_array_equal(images, train)
    assert labels.dtype == np.int64 and labels.tolist() == [5, 0, 4]
    images, labels = mnist.load_all("path", tmp_path)  # train, then test
    assert images.shape == (5, 28, 28) and labels.tolist() == [5, 0, 4, 7, 2]
    np.testing.assert_array_equal(images[3:], test)


def test_idx_errors_name_the_file(tmp_path: Path) -> None:
    png = tmp_path / "train-images-idx3-ubyte"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte is not an idx file: magic number 89504e47"):
        mnist.read_idx(png)

    short = tmp_path / "short-idx3-ubyte"
    short.write_bytes(idx_bytes(0x08, (2, 28, 28), bytes(28 * 28)))  # one image of two
    with pytest.raises(ValueError, match=r"short-idx3-ubyte has 784 data bytes.*\(2, 28, 28\)"):
        mnist.read_idx(short)

    broken = tmp_path / "broken.gz"
    broken.write_bytes(gzip.compress(idx_bytes(0x08, (4,), bytes(4)))[:12])
    with pytest.raises(ValueError, match=r"broken.gz is a corrupt gzip file"):
        mnist.read_idx(broken)

    train_only = tmp_path / "train_only"
    train_only.mkdir()
    write_digits_dir(train_only, "train", np.zeros((1, 28, 28), np.uint8), np.array([1]), gz=False)
    with pytest.raises(FileNotFoundError, match=r"has neither t10k-images-idx3-ubyte nor t10k-images-idx3-ubyte.gz"):
        mnist.load_split("path", "test", train_only)

    mismatched = tmp_path / "mismatched"
    mismatched.mkdir()
    write_digits_dir(mismatched, "train", np.zeros((2, 28, 28), np.uint8), np.array([1]), gz=False)
    with pytest.raises(ValueError, match=r"has 2 images but .*train-labels-idx1-ubyte has 1 labels"):
        mnist.load_split("path", "train", mismatched)


# ----------------------------------------------------------------------------------------------- npz, bundled


def test_npz_source(tiny_npz: tuple[Path, dict[str, np.ndarray]]) -> None:
    path, arrays = tiny_npz
    images, labels = mnist.load_split("path", "test", path)
    np.testing.assert_array_equal(images, arrays["x_test"])
    assert labels.dtype == np.int64 and labels.tolist() == [9, 8, 7]
    images, labels = mnist.load_all("path", path)
    np.testing.assert_array_equal(images, np.concatenate([arrays["x_train"], arrays["x_test"]]))
    assert labels.tolist() == [0, 1, 2, 3, 4, 5, 6, 9, 8, 7]


def test_npz_errors(tmp_path: Path) -> None:
    np.savez(tmp_path / "keys.npz", x_train=np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(ValueError, match=r"keys.npz has no arrays \['y_train'\]"):
        mnist.load_split("path", "train", tmp_path / "keys.npz")
    np.savez(tmp_path / "float.npz", x_train=np.zeros((2, 28, 28)), y_train=np.zeros(2, int))
    with pytest.raises(ValueError, match=r"float.npz: images must be uint8 \[N, 28, 28\], got float64"):
        mnist.load_split("path", "train", tmp_path / "float.npz")
    np.savez(tmp_path / "labels.npz", x_train=np.zeros((2, 28, 28), np.uint8), y_train=np.array([3, 10]))
    with pytest.raises(ValueError, match=r"labels.npz: labels must be digits 0..9, found 3..10"):
        mnist.load_split("path", "train", tmp_path / "labels.npz")
    (tmp_path / "text.npz").write_text("not an archive")
    with pytest.raises(ValueError, match=r"text.npz is not a readable npz archive"):
        mnist.load_split("path", "train", tmp_path / "text.npz")
    with pytest.raises(FileNotFoundError, match=r"MNIST path .*missing.npz does not exist"):
        mnist.load_split("path", "train", tmp_path / "missing.npz")
    with pytest.raises(ValueError, match=r"unknown MNIST source 'kaggle'"):
        mnist.load_split("kaggle", "train", tmp_path)


def test_bundled_source_is_5000_real_training_digits(bundled: tuple[np.ndarray, np.ndarray]) -> None:
    images, labels = bundled
    assert images.shape == (5000, 28, 28) and images.dtype == np.uint8
    assert labels.dtype == np.int64 and np.bincount(labels).tolist() == [500] * 10
    assert images.max() == 255 and 0.1 < (images > 0).mean() < 0.3  # ink covers ~19 % of an MNIST digit
    with pytest.raises(ValueError, match=r"only a 'train' split"):
        mnist.load_split("bundled", "test")
    assert mnist.source_splits("bundled") == ("train",)


def test_bundled_digits_are_the_first_500_of_each_digit_of_official_train(
        bundled: tuple[np.ndarray, np.ndarray], real_npz: Path) -> None:
    x_train, y_train = mnist.load_split("path", "train", real_npz)
    expected = np.concatenate([np.flatnonzero(y_train == digit)[:500] for digit in range(10)])
    np.testing.assert_array_equal(bundled[0], x_train[expected])
    np.testing.assert_array_equal(bundled[1], y_train[expected])


def test_real_npz_test_split_matches_reference_checksum(real_npz: Path) -> None:
    images, labels = mnist.load_split("path", "test", real_npz)
    assert images.shape == (10000, 28, 28) and np.bincount(labels)[0] == 980  # official test set: 980 zeros
    assert hashlib.md5(images.tobytes()).hexdigest() == "240610fa99e73bfa49df8e7fc24d3206"


# ----------------------------------------------------------------------------------------------- sparse graphs


def test_sparse_graphs_hand_made_images() -> None:
    images = np.zeros((2, 28, 28), np.uint8)
    # image 0: four lit pixels (row, col) -> padded to 100 nodes
    images[0, 0, 0], images[0, 27, 27], images[0, 14, 3], images[0, 5, 10] = 255, 200, 200, 1
    # image 1: 150 lit pixels, raster index k holds grey value k + 1
    images[1].reshape(-1)[:150] = np.arange(1, 151)
    nodes, mask = mnist.sparse_graphs(images)
    assert nodes.shape == (2, 100, 3) and nodes.dtype == np.float32 and mask.dtype == bool

    expected = np.array([[-14, -14, 255], [-11, 0, 200], [13, 13, 200], [-4, -9, 1]], dtype=np.float64)
    expected[:, :2] /= 28  # (pixel - 14) / 28
    expected[:, 2] = expected[:, 2] / 255 - 0.5  # tie 200/200 broken by raster order: (14, 3) before (27, 27)
    np.testing.assert_allclose(nodes[0, :4], expected, atol=1e-7)
    assert mask[0].tolist() == [True] * 4 + [False] * 96
    assert not nodes[0, 4:].any()

    brightest = 149 - np.arange(100)  # raster indices of values 150, 149, ..., 51
    row, col = np.divmod(brightest, 28)
    assert mask[1].all()
    np.testing.assert_allclose(nodes[1], np.stack([(col - 14) / 28, (row - 14) / 28, (brightest + 1) / 255 - 0.5], 1),
                               atol=1e-7)


def test_sparse_graphs_real_digits(bundled: tuple[np.ndarray, np.ndarray]) -> None:
    images = bundled[0][::250]
    nodes, mask = mnist.sparse_graphs(images)
    grey = np.rint((nodes[..., 2] + 0.5) * 255) * mask
    top = np.sort(images.reshape(len(images), -1), axis=1)[:, ::-1][:, :100]
    np.testing.assert_array_equal(grey, top)  # exactly the 100 brightest values, brightest first
    col, row = np.rint(nodes[..., 0] * 28 + 14).astype(int), np.rint(nodes[..., 1] * 28 + 14).astype(int)
    np.testing.assert_array_equal(images[np.arange(len(images))[:, None], row, col] * mask, grey)
    assert mask.sum(1).tolist() == np.minimum((images > 0).sum((1, 2)), 100).tolist()


def test_graph_input_errors() -> None:
    with pytest.raises(ValueError, match=r"images must be uint8 \[N, H, W\], got float64"):
        mnist.sparse_graphs(np.zeros((1, 28, 28)))
    with pytest.raises(ValueError, match=r"n_nodes=900 must be between 1 and the number of pixels"):
        mnist.superpixel_graphs(np.zeros((1, 28, 28), np.uint8), n_nodes=900)


# ----------------------------------------------------------------------------------------------- superpixels


def test_superpixels_real_digits(bundled: tuple[np.ndarray, np.ndarray]) -> None:
    images = bundled[0][::250]  # two of each digit
    nodes, mask = mnist.superpixel_graphs(images)
    assert nodes.shape == (20, 75, 3) and nodes.dtype == np.float32
    counts = mask.sum(1)
    assert counts.min() >= 70 and counts.max() <= 75
    assert all(m[:c].all() and not m[c:].any() for m, c in zip(mask, counts))  # padding at the end
    assert not nodes[~mask].any()
    real = nodes[mask]
    assert (real[:, 2] >= -0.5).all() and (real[:, 2] <= 0.5).all()
    assert (real[:, :2] >= -0.5).all() and (real[:, :2] <= 13 / 28).all()  # centres inside the pixel grid
    # segments have similar sizes, so the plain mean of node intensities is close to the image's mean grey value
    node_mean = np.array([(n[m, 2] + 0.5).mean() for n, m in zip(nodes, mask)])
    ratio = node_mean / (images.mean((1, 2)) / 255)
    assert 0.9 < ratio.mean() < 1.1 and ((ratio > 0.6) & (ratio < 1.4)).all()


def test_superpixels_follow_edges_of_a_block() -> None:
    image = np.zeros((1, 28, 28), np.uint8)
    image[0, 4:18, 6:20] = 255  # a 14 x 14 white block, rows 4..17, columns 6..19
    nodes, mask = mnist.superpixel_graphs(image)
    real = nodes[0, mask[0]]
    assert len(real) == 75
    assert set(np.round(real[:, 2], 6).tolist()) == {-0.5, 0.5}  # no segment straddles the block's edge
    bright = real[real[:, 2] == 0.5]
    assert 15 <= len(bright) <= 30  # 196 of 784 pixels is a quarter of the image: ~19 of 75 segments
    assert (bright[:, 0] >= (6 - 14) / 28).all() and (bright[:, 0] <= (19 - 14) / 28).all()
    assert (bright[:, 1] >= (4 - 14) / 28).all() and (bright[:, 1] <= (17 - 14) / 28).all()


def test_slic_segments_never_exceed_the_requested_number(bundled: tuple[np.ndarray, np.ndarray]) -> None:
    for image in bundled[0][:5]:
        for n in (10, 75):
            labels = mnist.slic_segments(image, n, compactness=0.25)
            assert labels.shape == (28, 28)
            assert set(np.unique(labels).tolist()) == set(range(labels.max() + 1)) and labels.max() < n


# ----------------------------------------------------------------------------------------------- stage


def test_shard_ranges_cover_all_images_once() -> None:
    ranges = [prepare_mnist.shard_range(10, i, 3) for i in range(3)]
    assert ranges == [(0, 3), (3, 6), (6, 10)]
    with pytest.raises(ValueError, match=r"--shard 3 must be in 0..2"):
        prepare_mnist.shard_range(10, 3, 3)


@pytest.mark.parametrize("graph", ["sparse", "superpixels"])
def test_stage_writes_image_graphs_shard(graph: str, tiny_npz: tuple[Path, dict[str, np.ndarray]],
                                         tmp_path: Path) -> None:
    path, arrays = tiny_npz
    output = tmp_path / "out" / f"{graph}.parquet"
    prepare_mnist.main(["--source", "path", "--path", str(path), "--graph", graph, "--shard", "2",
                        "--n-shards", "3", "--output", str(output)])
    table = read_arrays(output, "image_graphs")
    images = np.concatenate([arrays["x_train"], arrays["x_test"]])[6:10]  # shard 2 of 3 of 10 images
    nodes, mask = (mnist.sparse_graphs if graph == "sparse" else mnist.superpixel_graphs)(images)
    np.testing.assert_array_equal(table["nodes"], nodes)
    np.testing.assert_array_equal(table["mask"], mask)
    assert table["label"].tolist() == [6, 9, 8, 7]
    meta = read_meta(output)
    assert meta["source"] == "path" and meta["path"] == "mnist.npz" and meta["graph"] == graph
    assert meta["shard"] == 2 and meta["n_shards"] == 3 and meta["image_range"] == [6, 10]
    assert meta["splits"] == ["train", "test"] and meta["node_features"] == ["x", "y", "intensity"]
