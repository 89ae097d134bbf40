"""The remote files of each downloadable dataset, with their published checksums.

Every checksum below was copied from a public source named in the comment beside it. Where the only
publisher of a checksum is the repository's own metadata API (JetNet: Zenodo lists an md5 per file and
nobody else states them), the entry names that API instead (``checksum_url``) and the download reads the
checksum from there before verifying the file against it; no file is ever accepted unverified.
"""

from __future__ import annotations

from typing import NamedTuple


class RemoteFile(NamedTuple):
    """One downloadable file: its URL, its checksum (hex digest), the hashlib algorithm, its size in bytes;
    a None checksum is published at ``checksum_url`` (a Zenodo files-API entry) and read from there."""

    url: str
    checksum: str | None
    algorithm: str
    size: int | None
    checksum_url: str | None = None


def _zenodo(record: int, name: str) -> str:
    """Download URL of file ``name`` in Zenodo record ``record`` (the records/... form Zenodo serves since 2023)."""
    return f"https://zenodo.org/records/{record}/files/{name}?download=1"


# Top Quark Tagging Reference Dataset (Kasieczka et al.), Zenodo record 2603256.
# md5s: Star9daisy/hep-ml-lab, hml/datasets/top_tagging.py (commit 0021098), keras get_file(file_hash=...);
# the same md5s with these byte sizes appear in independent download scripts for the record.
_TOPTAG = {
    "train.h5": RemoteFile(_zenodo(2603256, "train.h5"), "45663819f47c13724f67eb0fd80bfa5c", "md5", 1_038_496_555),
    "val.h5": RemoteFile(_zenodo(2603256, "val.h5"), "dca4b7248027618f041f9baa86d360fc", "md5", 347_378_076),
    "test.h5": RemoteFile(_zenodo(2603256, "test.h5"), "13163479dee30a5fe546e4536cc3d04d", "md5", 347_849_376),
}

# Pythia 8 quark (uds) and gluon jets (Komiske, Metodiev, Thaler), Zenodo record 3164691, 20 files of 100k jets.
# sha256s: thaler-lab/EnergyFlow, energyflow/datasets/qg_jets.py, HASHES['pythia']['nobc']['sha256'];
# EnergyFlow checks the same sha256 for its Dropbox and its Zenodo copies of each file.
_QG_SHA256 = (
    "3f27a02eab06e8b83ccc9d25638021e6e24c9361341730961f9d560dee12c257",
    "648e49cd59b5353e0064e7b1a3388d9c2f4a454d3ca67afaa8d0344c836ecb35",
    "09f7b16fa7edb312c0f652bb8504de45f082c4193df65204d693155017272fe9",
    "7dc9a50bb38e9f6fc1f11db18f9bd04f72823c944851746b848dee0bba808537",
    "3e6217aad8e0502f5ce3b6371c61396dfc48a6cf4f26ee377cc7b991b1d2b543",
    "b5b7d742b2599bcbe1d7a639895bca64c28da513dc3620b0e5bbb5801f8c88fd",
    "7d31bc48c15983401e0dbe8fd5ee938c3809d9ee3c909f4adab6daf8b73c14f1",
    "cec0d7b2afa9d955543c597f9b7f3b3767812a68b2401ec870caf3a2ceb98401",
    "e984620f57abe06fc5d0b063f9f84ba54bd3e8c295d2b2419a7b1c6175079ed4",
    "6e3b69196995d6eb3b8e7af874e2b9f93d904624f7a7a73b8ff39f151e3bd189",
    "fa3d386f230b806058ff17e5bd77326ff4bf01d72aa5eb3325c1df2a8825927c",
    "acd49ab7bea8f72ecf699a9a898bccacc8730474259d68406656a5a43d407fb0",
    "2edd55b8bc30c686a0637855e1ba068586eb97041e8114d5540d96db2a7a2e17",
    "7276a8a0e573f9795a47f9d5addc10d2af903c2a0ffa5c848a720ccae93daa90",
    "2068ecfa912e94cd3ce7273b7c77af0bbd5ec57940997e7483b56f03434a6869",
    "41a732ce6321dd593214225b03fb87329607ccae768c705e3896ffecc28bfcca",
    "9d68caeb18f3ccf127b9032f52e63ee011c4381293a3a503f894e5c0741ae215",
    "086053ca611bb04d97fa0b6509b4ffb6955421b067c7b277498f0e5188879331",
    "cdc595f5fedef7db9411a9f93f2786f110073b4d17a523700f625846588b1e44",
    "d07781139320ae134ce4824bc0cefa43fd5003cd97cdf3aed90d4fb12fad8a1d",
)
_QG = {
    name: RemoteFile(_zenodo(3164691, name), sha256, "sha256", None)
    for name, sha256 in zip(["QG_jets.npz"] + [f"QG_jets_{i}.npz" for i in range(1, 20)], _QG_SHA256)
}

# MNIST (LeCun, Cortes, Burges), the official idx files. md5s: pytorch/vision, torchvision/datasets/mnist.py,
# MNIST.resources; URL: torchvision's HTTPS mirror (yann.lecun.com now answers 403); sizes as torchvision
# reports them while downloading.
_MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"
_MNIST = {
    name: RemoteFile(_MNIST_URL + name, md5, "md5", size)
    for name, md5, size in (
        ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873", 9_912_422),
        ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432", 28_881),
        ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3", 1_648_877),
        ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c", 4_542),
    )
}

# JetNet (Kansal et al. 2021), one file per class: Zenodo record 6975118 holds the 30-particle files
# {g,q,t,w,z}.hdf5, record 6975117 the 150-particle files {g,q,t,w,z}150.hdf5. Record ids and file names:
# jet-net/JetNet, jetnet/datasets/jetnet.py (commit 6ca12b7): _ZENODO_RECORD_IDS = {"30": 6975118,
# "150": 6975117} and key f"{jet_type}{'150' if num_particles > 30 else ''}.hdf5" (record 6302240 is the
# superseded 150-particle release that the library read until August 2022). md5s: the only publisher is
# Zenodo's files API, GET https://zenodo.org/api/records/<record>/files/<name> -> "checksum": "md5:<hex>"
# (JetNet's own loader reads them there too, jetnet/datasets/utils.py::_getZenodoFileURL; no copy of them is
# published elsewhere), so they are read from there at download time. Zenodo does not change a published
# record's files (a new release is a new record), so the record id pins the files the md5s describe.
JETNET_CLASSES = ("g", "q", "t", "w", "z")
JETNET_RECORDS = {30: 6975118, 150: 6975117}  # particles per jet -> Zenodo record


def _jetnet_name(cls: str, particles: int) -> str:
    return f"{cls}{'' if particles == 30 else particles}.hdf5"


_JETNET = {
    _jetnet_name(cls, particles): RemoteFile(
        _zenodo(record, _jetnet_name(cls, particles)), None, "md5", None,
        f"https://zenodo.org/api/records/{record}/files/{_jetnet_name(cls, particles)}")
    for particles, record in JETNET_RECORDS.items() for cls in JETNET_CLASSES
}

_REGISTRY: dict[str, dict[str, RemoteFile]] = {"toptag": _TOPTAG, "qg": _QG, "mnist": _MNIST, "jetnet": _JETNET}


def jetnet_file(cls: str, n_nodes: int) -> str:
    """JetNet's file of class ``cls`` holding at least ``n_nodes`` particles per jet: g.hdf5 (30), g150.hdf5 (150)."""
    if cls not in JETNET_CLASSES:
        raise ValueError(f"unknown JetNet class {cls!r}; JetNet has {', '.join(JETNET_CLASSES)}")
    for particles in sorted(JETNET_RECORDS):
        if n_nodes <= particles:
            return _jetnet_name(cls, particles)
    raise ValueError(f"datasets.jetnet.n_nodes is {n_nodes}, but JetNet's jets have at most "
                     f"{max(JETNET_RECORDS)} particles; set it to at most that")


def datasets() -> list[str]:
    """Names of the datasets that can be downloaded."""
    return sorted(_REGISTRY)


def files(dataset: str) -> list[str]:
    """File names of ``dataset``, in the order the dataset publishes them."""
    if dataset not in _REGISTRY:
        raise ValueError(
            f"unknown dataset {dataset!r} for download; known: {', '.join(datasets())}. "
            f"Other datasets are read from local files (`datasets.{dataset}.source: path`) or simulated."
        )
    return list(_REGISTRY[dataset])


def remote_file(dataset: str, name: str) -> RemoteFile:
    """URL, checksum, hash algorithm and size of file ``name`` of ``dataset``."""
    known = files(dataset)
    if name not in known:
        raise ValueError(f"unknown file {name!r} of dataset {dataset!r}; known: {', '.join(known)}")
    return _REGISTRY[dataset][name]
