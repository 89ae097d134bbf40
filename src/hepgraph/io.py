"""Atomic outputs (a killed job never leaves a file or directory that looks complete); the error for damaged inputs."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


TABLE_FIX = "delete it and rerun the workflow step that writes it (snakemake --cores N {path})"
RAW_FIX = ("re-download it (or copy it again) and check its size and checksum; if this workflow downloaded or "
           "simulated it, delete it and rerun the workflow")


class UnreadableFileError(ValueError):
    """A file that exists but cannot be read (truncated or corrupted); the message names it, where, and the fix.

    ``fix`` is a template with ``{path}``: :data:`TABLE_FIX` for files this workflow writes, :data:`RAW_FIX` for
    raw inputs.
    """

    def __init__(self, path: str | os.PathLike, problem: str, fix: str) -> None:
        self.path = Path(path)
        super().__init__(f"{self.path}: {problem}; the file is damaged or incomplete: {fix.format(path=self.path)}")


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    The temporary file is hidden (leading dot) and keeps ``path``'s suffixes (or ``suffix``), so that
    writers which infer the format from the extension still work. On any exception it is removed and
    ``path`` is left untouched. The file gets the permissions of a normally created file (umask applied).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or "".join(path.suffixes),
                               dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    tmp.chmod(0o666 & ~_umask())  # mkstemp makes the file private; the result gets the usual permissions
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a hidden temporary directory beside ``path``; it replaces ``path`` only if the block succeeds.

    An existing ``path`` is swapped out and deleted only after the new directory is in place. On any
    exception the temporary directory is removed and ``path`` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    tmp.chmod(0o777 & ~_umask())
    try:
        yield tmp
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old.", dir=path.parent))
            os.replace(path, old / path.name)
            os.replace(tmp, path)
            shutil.rmtree(old)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
