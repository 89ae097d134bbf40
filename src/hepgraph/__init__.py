"""hepgraph: graph neural networks on particle-physics data, as a cached Snakemake workflow."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("hepgraph")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"
