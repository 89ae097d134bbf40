"""Checksum-verified, resumable, atomic downloads over HTTP(S), with the standard library and tqdm.

A download streams into ``<dest>.part``; an interrupted one resumes from there with an HTTP Range request.
Only a file whose checksum matches is renamed onto ``dest``, so ``dest`` is either complete and verified
or absent. A checksum that only the repository's own metadata publishes (Zenodo's files API) is read from
there first with ``published_checksum``.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import os
import re
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

from hepgraph import __version__

log = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20
ALGORITHMS = ("md5", "sha1", "sha256", "sha512")


class DownloadError(RuntimeError):
    """The network failed: no connection, DNS, an HTTP error, or a connection cut mid-way."""


class ChecksumError(ValueError):
    """A downloaded file's checksum differs from the published one."""


def part_path(dest: str | os.PathLike) -> Path:
    """Where the download of ``dest`` accumulates until it is verified: ``<dest>.part``."""
    dest = Path(dest)
    return dest.with_name(dest.name + ".part")


def file_checksum(path: str | os.PathLike, algorithm: str = "md5") -> str:
    """Hex digest of the file at ``path`` with hashlib ``algorithm``, read in 1 MiB chunks."""
    hasher = hashlib.new(algorithm)
    with open(path, "rb") as stream:
        while chunk := stream.read(CHUNK_BYTES):
            hasher.update(chunk)
    return hasher.hexdigest()


def _digest_length(algorithm: str) -> int:
    """Hex digits of an ``algorithm`` digest; ValueError naming the choices for an unknown algorithm."""
    if algorithm not in ALGORITHMS:
        raise ValueError(f"unknown checksum algorithm {algorithm!r}; use one of {', '.join(ALGORITHMS)}")
    return 2 * hashlib.new(algorithm).digest_size


def _check_checksum_form(checksum: str, algorithm: str) -> None:
    length = _digest_length(algorithm)
    if not re.fullmatch(f"[0-9a-f]{{{length}}}", checksum):
        raise ValueError(f"checksum {checksum!r} is not a lower-case {algorithm} hex digest ({length} hex digits)")


def _network_error(url: str, dataset: str, reason: object, part: Path | None = None) -> DownloadError:
    kept = (f" The partial file {part} is kept; run again to resume."
            if part is not None and part.exists() and part.stat().st_size else "")
    return DownloadError(
        f"could not download {url} (dataset {dataset!r}): {reason}.{kept} Without network access, download the "
        f"files elsewhere and set `datasets.{dataset}.source: path` and "
        f"`datasets.{dataset}.path: <directory with the files>` in config.yaml."
    )


def _content_range_start(header: str | None) -> int | None:
    """First byte of a ``Content-Range: bytes START-END/TOTAL`` header, None if absent or malformed."""
    match = re.fullmatch(r"bytes (\d+)-\d+/(\d+|\*)", (header or "").strip())
    return int(match.group(1)) if match else None


def published_checksum(metadata_url: str, name: str, algorithm: str = "md5", *, dataset: str,
                       timeout: float = 60.0) -> str:
    """The ``algorithm`` hex digest of file ``name`` that a Zenodo files-API entry (``/api/records/<id>/files/<name>``)
    publishes in its ``"checksum": "md5:<hex>"`` field. Raises DownloadError if it cannot be read."""
    request = urllib.request.Request(metadata_url, headers={"User-Agent": f"hepgraph/{__version__} (+urllib)",
                                                            "Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            entry = json.load(response)
    except urllib.error.HTTPError as exc:
        raise _network_error(metadata_url, dataset, f"HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        raise _network_error(metadata_url, dataset, getattr(exc, "reason", exc)) from exc
    except ValueError as exc:
        raise DownloadError(f"{metadata_url} (dataset {dataset!r}) is not JSON ({exc}); cannot read the "
                            f"published checksum of {name}") from exc
    entry = entry if isinstance(entry, dict) else {}
    key, published = entry.get("key"), entry.get("checksum")
    prefix, _, checksum = str(published).partition(":")
    length = _digest_length(algorithm)
    if key != name or prefix != algorithm or not re.fullmatch(f"[0-9a-f]{{{length}}}", checksum):
        raise DownloadError(f"{metadata_url} (dataset {dataset!r}) does not publish a usable {algorithm} checksum "
                            f"of {name}: expected \"key\": {name!r} and \"checksum\": \"{algorithm}:<{length} hex "
                            f"digits>\", got key {key!r} and checksum {published!r}")
    return checksum


def fetch(url: str, dest: str | os.PathLike, checksum: str, algorithm: str = "md5", *, dataset: str,
          progress: bool = True, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dest`` and verify its ``algorithm`` hex digest against ``checksum``; return ``dest``.

    An existing ``dest`` with the right checksum is kept without any request. An existing ``<dest>.part``
    is resumed with a Range request (restarted if the server answers 200). ``timeout`` (s) applies to each
    connect and read. Raises DownloadError on network failure (the partial file is kept for the next try)
    and ChecksumError on a mismatch (the partial file is deleted).
    """
    _check_checksum_form(checksum, algorithm)
    dest, part = Path(dest), part_path(dest)
    if dest.exists():
        if file_checksum(dest, algorithm) == checksum:
            log.info("%s already present with the right %s checksum; not downloading", dest, algorithm)
            return dest
        log.warning("%s exists but its %s checksum is not %s; downloading it again", dest, algorithm, checksum)
    dest.parent.mkdir(parents=True, exist_ok=True)

    offset = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": f"hepgraph/{__version__} (+urllib)"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code != 416 or not offset:  # 416: the partial file already holds every byte
            raise _network_error(url, dataset, f"HTTP {exc.code} {exc.reason}", part) from exc
        log.info("%s: server reports %s already complete; verifying", url, part)
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        raise _network_error(url, dataset, getattr(exc, "reason", exc), part) from exc
    else:
        with response:
            offset = _resume_offset(response, offset, url, dataset, part)
            _stream(response, part, offset, url, dataset, progress)

    actual = file_checksum(part, algorithm)
    if actual != checksum:
        part.unlink()
        raise ChecksumError(
            f"{algorithm} checksum of {dest} (dataset {dataset!r}) downloaded from {url} is {actual}, expected "
            f"{checksum}; the corrupt download was deleted. Run again to download it afresh; if the checksum "
            f"differs again, the server sends a different file from the published one: download it yourself and set "
            f"`datasets.{dataset}.source: path`."
        )
    os.replace(part, dest)
    log.info("%s verified (%s %s)", dest, algorithm, checksum)
    return dest


def _resume_offset(response: http.client.HTTPResponse, offset: int, url: str, dataset: str, part: Path) -> int:
    """Byte at which ``response``'s body starts: ``offset`` if the server honoured the Range request, else 0."""
    if not offset:
        return 0
    if response.status != 206:
        log.info("%s ignored the Range request (HTTP %s); restarting from byte 0", url, response.status)
        return 0
    start = _content_range_start(response.headers.get("Content-Range"))
    if start != offset:
        part.unlink()
        raise _network_error(url, dataset, f"asked for bytes from {offset}, got Content-Range "
                                           f"{response.headers.get('Content-Range')!r}; partial file deleted", part)
    log.info("resuming %s at byte %d", url, offset)
    return offset


def _stream(response: http.client.HTTPResponse, part: Path, offset: int, url: str, dataset: str,
            progress: bool) -> None:
    """Append ``response``'s body to ``part`` (truncated to ``offset`` bytes first); fail if it ends short."""
    length = response.headers.get("Content-Length")
    expected = int(length) if length is not None else None
    received = 0
    with open(part, "r+b" if offset else "wb") as out, tqdm(
        total=None if expected is None else offset + expected, initial=offset, unit="B", unit_scale=True,
        unit_divisor=1024, desc=part.name[: -len(".part")], disable=not progress, mininterval=1.0,
    ) as bar:
        out.truncate(offset)
        out.seek(offset)
        while True:
            try:
                chunk = response.read(CHUNK_BYTES)
            except (OSError, http.client.HTTPException) as exc:
                raise _network_error(url, dataset, f"connection lost after {offset + received} bytes ({exc})",
                                     part) from exc
            if not chunk:
                break
            out.write(chunk)
            received += len(chunk)
            bar.update(len(chunk))
    if expected is not None and received < expected:
        raise _network_error(url, dataset, f"connection closed after {offset + received} of {offset + expected} "
                                           f"bytes", part)
