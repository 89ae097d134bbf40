"""Download one registered file of a dataset, verify its published checksum, and place it atomically.

A file whose checksum the registry does not pin (JetNet) is verified against the checksum its Zenodo
record's files API publishes, read just before the download."""

from __future__ import annotations

import argparse
import logging

from hepgraph.data.download import ChecksumError, DownloadError, fetch, published_checksum
from hepgraph.data.registry import remote_file

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", required=True, help="registered dataset, e.g. toptag, qg, mnist, jetnet")
    parser.add_argument("--file", required=True, help="file name within the dataset, e.g. train.h5")
    parser.add_argument("--output", required=True, help="where the verified file is placed")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds allowed for each connect and read")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    remote = remote_file(args.dataset, args.file)
    size = "unknown size" if remote.size is None else f"{remote.size / 1e6:.1f} MB"
    try:
        checksum = remote.checksum
        if checksum is None:
            checksum = published_checksum(remote.checksum_url, args.file, remote.algorithm, dataset=args.dataset,
                                          timeout=args.timeout)
            log.info("%s/%s: %s %s as published by %s", args.dataset, args.file, remote.algorithm, checksum,
                     remote.checksum_url)
        log.info("%s/%s: %s (%s, %s %s) -> %s", args.dataset, args.file, remote.url, size, remote.algorithm,
                 checksum, args.output)
        fetch(remote.url, args.output, checksum, remote.algorithm, dataset=args.dataset,
              progress=not args.no_progress, timeout=args.timeout)
    except (DownloadError, ChecksumError) as exc:
        log.error("%s", exc)
        raise SystemExit(1) from exc


if __name__ == "__main__":
    main()
