"""Downloads against a real HTTP server on 127.0.0.1: checksums, resume, Range fallback, failures, checksums
published by a (stand-in) Zenodo files API; the registry and the download jobs the workflow plans from it."""

from __future__ import annotations

import hashlib
import http.server
import json
import logging
import random
import re
import socket
import threading
from pathlib import Path

import pytest

from hepgraph.data import registry
from hepgraph.data.download import ChecksumError, DownloadError, fetch, file_checksum, part_path, published_checksum
from hepgraph.stages import fetch as fetch_stage
from workflow_runs import snakemake

PAYLOAD = random.Random(0).randbytes(300_000)
PAYLOAD_MD5 = hashlib.md5(PAYLOAD).hexdigest()
ABC_MD5 = "900150983cd24fb0d6963f7d28e17f72"  # RFC 1321 test vector: MD5("abc")
ABC_SHA256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"  # FIPS 180-2: SHA-256("abc")


class Handler(http.server.BaseHTTPRequestHandler):
    """Serves ``server.files``; honours ``Range: bytes=N-`` unless ``server.honor_range`` is false and sends only
    the first ``server.cut[path]`` body bytes of a response (then closes) while that entry is set."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        server = self.server
        body = server.files.get(self.path)
        range_header = self.headers.get("Range")
        if body is None:
            status, headers, payload = 404, {}, b""
        elif range_header and server.honor_range:
            start = int(re.fullmatch(r"bytes=(\d+)-", range_header).group(1))
            if start >= len(body):
                status, headers, payload = 416, {"Content-Range": f"bytes */{len(body)}"}, b""
            else:
                status, payload = 206, body[start:]
                headers = {"Content-Range": f"bytes {start}-{len(body) - 1}/{len(body)}"}
        else:
            status, headers, payload = 200, {}, body
        server.log.append((self.path, range_header, status))
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        cut = server.cut.get(self.path)
        self.wfile.write(payload if cut is None else payload[:cut])
        self.wfile.flush()
        if cut is not None:
            self.close_connection = True

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.files, httpd.cut, httpd.log, httpd.honor_range = {}, {}, [], True
    httpd.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _get(server, dest: Path, checksum: str = PAYLOAD_MD5, algorithm: str = "md5", name: str = "/f.bin") -> Path:
    return fetch(server.base + name, dest, checksum, algorithm, dataset="toptag", progress=False, timeout=5.0)


def test_known_digests_of_abc(server, tmp_path):
    server.files["/abc"] = b"abc"
    assert _get(server, tmp_path / "a", ABC_MD5, "md5", "/abc").read_bytes() == b"abc"
    assert _get(server, tmp_path / "b", ABC_SHA256, "sha256", "/abc").read_bytes() == b"abc"
    assert file_checksum(tmp_path / "b", "sha256") == ABC_SHA256


def test_good_file_is_placed(server, tmp_path):
    server.files["/f.bin"] = PAYLOAD
    dest = tmp_path / "sub" / "f.bin"
    assert _get(server, dest) == dest
    assert dest.read_bytes() == PAYLOAD
    assert not part_path(dest).exists()
    assert server.log == [("/f.bin", None, 200)]


def test_existing_verified_file_is_kept_without_request(server, tmp_path):
    dest = tmp_path / "f.bin"
    dest.write_bytes(PAYLOAD)
    _get(server, dest)
    assert server.log == []


def test_existing_wrong_file_is_replaced(server, tmp_path):
    server.files["/f.bin"] = PAYLOAD
    dest = tmp_path / "f.bin"
    dest.write_bytes(b"stale")
    _get(server, dest)
    assert dest.read_bytes() == PAYLOAD


def test_corrupt_download_leaves_nothing(server, tmp_path):
    server.files["/f.bin"] = PAYLOAD[:-1] + b"\x00"
    dest = tmp_path / "f.bin"
    with pytest.raises(ChecksumError) as info:
        _get(server, dest)
    message = str(info.value)
    assert str(dest) in message and PAYLOAD_MD5 in message
    assert hashlib.md5(server.files["/f.bin"]).hexdigest() in message
    assert not dest.exists() and not part_path(dest).exists()


def test_interrupted_download_resumes_with_range(server, tmp_path):
    server.files["/f.bin"] = PAYLOAD
    half = len(PAYLOAD) // 2
    server.cut["/f.bin"] = half
    dest = tmp_path / "f.bin"
    with pytest.raises(DownloadError, match="run again to resume"):
        _get(server, dest)
    assert not dest.exists()
    assert part_path(dest).read_bytes() == PAYLOAD[:half]

    del server.cut["/f.bin"]
    _get(server, dest)
    assert server.log == [("/f.bin", None, 200), ("/f.bin", f"bytes={half}-", 206)]
    assert dest.read_bytes() == PAYLOAD
    assert not part_path(dest).exists()


def test_server_ignoring_range_restarts_from_zero(server, tmp_path):
    server.files["/f.bin"] = PAYLOAD
    server.honor_range = False
    dest = tmp_path / "f.bin"
    part_path(dest).write_bytes(b"x" * 1000)  # a prefix that is wrong: must be discarded, not extended
    _get(server, dest)
    assert server.log == [("/f.bin", "bytes=1000-", 200)]
    assert dest.read_bytes() == PAYLOAD


def test_complete_part_file_is_verified_after_416(server, tmp_path):
    server.files["/f.bin"] = PAYLOAD
    dest = tmp_path / "f.bin"
    part_path(dest).write_bytes(PAYLOAD)
    _get(server, dest)
    assert server.log == [("/f.bin", f"bytes={len(PAYLOAD)}-", 416)]
    assert dest.read_bytes() == PAYLOAD


def test_http_error_names_dataset_and_config_switch(server, tmp_path):
    with pytest.raises(DownloadError) as info:
        _get(server, tmp_path / "f.bin", name="/missing.bin")
    message = str(info.value)
    assert "HTTP 404" in message and "'toptag'" in message
    assert "`datasets.toptag.source: path`" in message and "`datasets.toptag.path: <directory" in message


def test_unreachable_url_raises_download_error(tmp_path):
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(DownloadError) as info:
        fetch(f"http://127.0.0.1:{port}/f.bin", tmp_path / "f.bin", PAYLOAD_MD5, dataset="qg", progress=False,
              timeout=5.0)
    assert "'qg'" in str(info.value) and "`datasets.qg.source: path`" in str(info.value)
    assert not (tmp_path / "f.bin").exists()


def test_malformed_checksum_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="32 hex digits"):
        fetch("http://127.0.0.1:9/x", tmp_path / "x", "abc", dataset="qg")
    with pytest.raises(ValueError, match="unknown checksum algorithm"):
        fetch("http://127.0.0.1:9/x", tmp_path / "x", ABC_MD5, "crc32", dataset="qg")


def test_fetch_stage_places_registered_file(server, tmp_path, monkeypatch):
    server.files["/train.h5"] = PAYLOAD
    local = registry.RemoteFile(server.base + "/train.h5", PAYLOAD_MD5, "md5", len(PAYLOAD))
    monkeypatch.setattr(fetch_stage, "remote_file", lambda dataset, name: local)
    out = tmp_path / "results" / "downloads" / "toptag" / "train.h5"
    fetch_stage.main(["--dataset", "toptag", "--file", "train.h5", "--output", str(out), "--no-progress"])
    assert out.read_bytes() == PAYLOAD

    server.files["/train.h5"] = b"changed"
    out.unlink()
    with pytest.raises(SystemExit):
        fetch_stage.main(["--dataset", "toptag", "--file", "train.h5", "--output", str(out), "--no-progress"])
    assert not out.exists()


def _local(entry: registry.RemoteFile, server) -> registry.RemoteFile:
    """``entry`` with its URLs moved from zenodo.org to the test server (paths, checksums unchanged)."""
    zenodo = "https://zenodo.org"
    return entry._replace(url=entry.url.replace(zenodo, server.base),
                          checksum_url=entry.checksum_url and entry.checksum_url.replace(zenodo, server.base))


def _serve_jetnet(server, monkeypatch, body: bytes) -> tuple[str, str]:
    """Serve ``body`` as g.hdf5 of the 30-particle JetNet record and a files-API entry publishing PAYLOAD's md5;
    point the fetch stage there. Returns the file's and the entry's request paths."""
    local = _local(registry.remote_file("jetnet", "g.hdf5"), server)
    file_path, api_path = (url.removeprefix(server.base) for url in (local.url, local.checksum_url))
    server.files[file_path] = body
    server.files[api_path] = json.dumps({"key": "g.hdf5", "size": len(body), "checksum": "md5:" + PAYLOAD_MD5}).encode()
    monkeypatch.setattr(fetch_stage, "remote_file", lambda dataset, name: local)
    return file_path, api_path


def _fetch_jetnet(out: Path) -> None:
    fetch_stage.main(["--dataset", "jetnet", "--file", "g.hdf5", "--output", str(out), "--no-progress",
                      "--timeout", "5"])


def test_jetnet_is_verified_against_the_md5_its_zenodo_record_publishes(server, tmp_path, monkeypatch):
    file_path, api_path = _serve_jetnet(server, monkeypatch, PAYLOAD)
    assert (file_path, api_path) == ("/records/6975118/files/g.hdf5?download=1",
                                     "/api/records/6975118/files/g.hdf5")
    half = len(PAYLOAD) // 2
    server.cut[file_path] = half
    out = tmp_path / "raw" / "jetnet" / "download" / "g.hdf5"
    with pytest.raises(SystemExit):  # connection cut: the partial file is kept
        _fetch_jetnet(out)
    assert part_path(out).read_bytes() == PAYLOAD[:half] and not out.exists()

    del server.cut[file_path]
    _fetch_jetnet(out)
    assert out.read_bytes() == PAYLOAD and not part_path(out).exists()
    assert server.log == [(api_path, None, 200), (file_path, None, 200),
                          (api_path, None, 200), (file_path, f"bytes={half}-", 206)]


def test_jetnet_corrupt_byte_deletes_the_file_and_says_what_to_do(server, tmp_path, monkeypatch, caplog):
    corrupt = bytearray(PAYLOAD)
    corrupt[len(corrupt) // 3] ^= 0x01
    _serve_jetnet(server, monkeypatch, bytes(corrupt))
    out = tmp_path / "g.hdf5"
    with caplog.at_level(logging.ERROR), pytest.raises(SystemExit):
        _fetch_jetnet(out)
    assert not out.exists() and not part_path(out).exists()
    message = caplog.records[-1].getMessage()
    assert str(out) in message and "'jetnet'" in message and PAYLOAD_MD5 in message
    assert "deleted" in message and "`datasets.jetnet.source: path`" in message


@pytest.mark.parametrize(("entry", "problem"), [
    (json.dumps({"key": "q.hdf5", "checksum": "md5:" + PAYLOAD_MD5}), "got key 'q.hdf5'"),
    (json.dumps({"key": "g.hdf5", "checksum": "sha256:" + ABC_SHA256}), "got key 'g.hdf5' and checksum 'sha256:"),
    (json.dumps({"key": "g.hdf5", "checksum": "md5:" + PAYLOAD_MD5[:-1]}), "32 hex digits"),
    (json.dumps({"key": "g.hdf5"}), "checksum None"),
    ("<html>maintenance</html>", "is not JSON"),
])
def test_unusable_published_checksum_stops_before_the_download(server, entry, problem):
    server.files["/api/records/1/files/g.hdf5"] = entry.encode()
    with pytest.raises(DownloadError, match=problem) as info:
        published_checksum(server.base + "/api/records/1/files/g.hdf5", "g.hdf5", dataset="jetnet", timeout=5.0)
    assert "/api/records/1/files/g.hdf5 (dataset 'jetnet')" in str(info.value)


def test_missing_files_api_entry_names_the_url_and_the_fallback(server):
    with pytest.raises(DownloadError, match="HTTP 404") as info:
        published_checksum(server.base + "/api/records/1/files/g.hdf5", "g.hdf5", dataset="jetnet", timeout=5.0)
    assert "`datasets.jetnet.source: path`" in str(info.value)


def test_registered_checksum_is_the_one_enforced(server, tmp_path, monkeypatch, caplog):
    local = _local(registry.remote_file("toptag", "val.h5"), server)  # the registry's own md5, a local URL
    server.files[local.url.removeprefix(server.base)] = PAYLOAD
    monkeypatch.setattr(fetch_stage, "remote_file", lambda dataset, name: local)
    out = tmp_path / "val.h5"
    with caplog.at_level(logging.ERROR), pytest.raises(SystemExit):
        fetch_stage.main(["--dataset", "toptag", "--file", "val.h5", "--output", str(out), "--no-progress"])
    assert f"expected {local.checksum}" in caplog.records[-1].getMessage()
    assert not out.exists() and not part_path(out).exists()


def test_registry_entries_are_well_formed():
    assert registry.datasets() == ["jetnet", "mnist", "qg", "toptag"]
    for dataset in registry.datasets():
        names = registry.files(dataset)
        assert names
        for name in names:
            entry = registry.remote_file(dataset, name)
            assert entry.algorithm in {"md5", "sha256"}
            assert entry.url.startswith("https://") and name in entry.url
            assert entry.size is None or entry.size > 0
            if entry.checksum is None:  # published by the record's own files API instead
                assert entry.checksum_url.startswith("https://zenodo.org/api/records/")
                assert entry.checksum_url.endswith(f"/files/{name}")
            else:
                assert re.fullmatch(f"[0-9a-f]{{{2 * hashlib.new(entry.algorithm).digest_size}}}", entry.checksum)
    pinned = [registry.remote_file(d, n).checksum for d in registry.datasets() for n in registry.files(d)]
    pinned = [checksum for checksum in pinned if checksum is not None]
    assert len(set(pinned)) == len(pinned)


# Independently known: the records and files each dataset publishes (Zenodo 2603256: the top-tagging train/val/test;
# Zenodo 3164691: EnergyFlow's twenty files of 100k Pythia quark/gluon jets; JetNet's five classes, 30 particles in
# record 6975118 and 150 in 6975117, as jet-net/JetNet loads them) and Zenodo's download URL of a record's file.
@pytest.mark.parametrize(("dataset", "record", "names"), [
    ("toptag", 2603256, ["train.h5", "val.h5", "test.h5"]),
    ("qg", 3164691, ["QG_jets.npz"] + [f"QG_jets_{i}.npz" for i in range(1, 20)]),
    ("jetnet", 6975118, [f"{c}.hdf5" for c in "gqtwz"]),
    ("jetnet", 6975117, [f"{c}150.hdf5" for c in "gqtwz"]),
])
def test_registry_points_at_each_published_file(dataset, record, names):
    assert set(names) <= set(registry.files(dataset))
    for name in names:
        assert registry.remote_file(dataset, name).url == f"https://zenodo.org/records/{record}/files/{name}?download=1"


def test_jetnet_file_follows_the_particles_per_jet():
    assert [registry.jetnet_file("g", n) for n in (1, 30, 31, 150)] == ["g.hdf5", "g.hdf5", "g150.hdf5", "g150.hdf5"]
    with pytest.raises(ValueError, match="datasets.jetnet.n_nodes is 151.*at most 150"):
        registry.jetnet_file("g", 151)
    with pytest.raises(ValueError, match="unknown JetNet class 'gluon'; JetNet has g, q, t, w, z"):
        registry.jetnet_file("gluon", 30)


def test_unknown_dataset_or_file_lists_the_known_ones():
    with pytest.raises(ValueError, match="known: jetnet, mnist, qg, toptag.*`datasets.trackml.source: path`"):
        registry.files("trackml")
    with pytest.raises(ValueError, match="known: train.h5, val.h5, test.h5"):
        registry.remote_file("toptag", "train.hdf5")


def _dry_run(config: str, cwd: Path) -> str:
    """Output of ``snakemake --dry-run`` of the repository's workflow with ``config`` layered on its config.yaml."""
    (cwd / "override.yaml").write_text(config + "\n")
    return snakemake("--dry-run", "--configfile", "override.yaml", cwd=cwd, check=False)


@pytest.mark.parametrize(("n_nodes", "suffix"), [(30, ""), (150, "150")])
def test_jetnet_download_plans_one_job_per_class_file(tmp_path, n_nodes, suffix):
    output = _dry_run(f"datasets: {{jetnet: {{source: download, n_nodes: {n_nodes}, classes: [g, q, t, w, z]}}}}",
                      tmp_path)
    downloads = re.findall(r": Downloading (\w+) file (\S+)$", output, flags=re.MULTILINE)
    assert sorted(downloads) == [("jetnet", f"{c}{suffix}.hdf5") for c in "gqtwz"], output
    assert f"Preprocessing results/raw/jetnet/download/g{suffix}.hdf5 into jet graphs" in output


def test_simulated_jetnet_beyond_30_particles_is_rejected_naming_the_key(tmp_path):
    output = _dry_run("datasets: {jetnet: {source: simulate, n_nodes: 150}}", tmp_path)
    assert "150 is greater than the maximum of 30" in output, output
    assert "On instance['datasets']['jetnet']['n_nodes']" in output
    assert "'datasets.jetnet.n_nodes: simulated JetNet jets keep '" in output  # the schema's hint, line-wrapped
