import functools
import hashlib
import http.server
import io
import os
import socket
import tarfile
import threading
import time
import zipfile

import pytest

from t2x.data import download
from t2x.data.download import ChecksumError, DownloadError, RemoteFile

PAYLOAD = b"t2x test payload\n" * 100
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()


@pytest.fixture
def server(tmp_path):
    """A local HTTP server on 127.0.0.1: /good/f.bin is right, /bad/f.bin is corrupt."""
    root = tmp_path / "www"
    (root / "good").mkdir(parents=True)
    (root / "bad").mkdir()
    (root / "good" / "f.bin").write_bytes(PAYLOAD)
    (root / "bad" / "f.bin").write_bytes(PAYLOAD[:-1] + b"X")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_existing_file_with_right_checksum_is_used_without_network(tmp_path):
    (tmp_path / "f.bin").write_bytes(PAYLOAD)
    path = download.maybe_download(str(tmp_path), "f.bin", [f"http://127.0.0.1:{closed_port()}/f.bin"],
                                   PAYLOAD_SHA)
    assert path == str(tmp_path / "f.bin")


def test_existing_file_with_wrong_checksum_is_rejected_not_replaced(tmp_path):
    (tmp_path / "f.bin").write_bytes(b"something else")
    with pytest.raises(ChecksumError, match="expected " + PAYLOAD_SHA + ".*delete it"):
        download.maybe_download(str(tmp_path), "f.bin", ["http://127.0.0.1:1/f.bin"], PAYLOAD_SHA)
    assert (tmp_path / "f.bin").read_bytes() == b"something else"


def test_mirrors_in_order_skip_404_and_corrupt(tmp_path, server):
    urls = [f"{server}/missing/f.bin", f"{server}/bad/f.bin", f"{server}/good/f.bin"]
    path = download.maybe_download(str(tmp_path / "dl"), "f.bin", urls, PAYLOAD_SHA)
    assert open(path, "rb").read() == PAYLOAD
    assert os.listdir(tmp_path / "dl") == ["f.bin"]  # no .part leftovers


def test_only_corrupt_mirror_is_an_error_and_leaves_nothing(tmp_path, server):
    with pytest.raises(DownloadError, match="sha256 [0-9a-f]+, expected [0-9a-f]+"):
        download.maybe_download(str(tmp_path / "dl"), "f.bin", [f"{server}/bad/f.bin"], PAYLOAD_SHA)
    assert os.listdir(tmp_path / "dl") == []


def test_offline_fails_fast_naming_files_and_tmp_dir(tmp_path):
    port = closed_port()
    files = [RemoteFile(name, "0" * 64, (f"http://127.0.0.1:{port}/{name}",))
             for name in ("a.gz", "b.gz")]
    start = time.monotonic()
    with pytest.raises(DownloadError) as e:
        download.maybe_download_all(str(tmp_path), files)
    assert time.monotonic() - start < 10
    msg = str(e.value)
    assert "cannot download 2 file(s)" in msg and "a.gz, b.gz" in msg
    assert f"--tmp_dir={tmp_path}" in msg and "no network" in msg
    assert "\n" not in msg


def test_t2x_offline_skips_the_network(tmp_path, monkeypatch):
    monkeypatch.setenv("T2X_OFFLINE", "1")
    with pytest.raises(DownloadError, match="T2X_OFFLINE is set"):
        download.maybe_download(str(tmp_path), "x.gz", ["http://127.0.0.1:1/x.gz"], "0" * 64)


def _tar_with(tmp_path, members):
    path = tmp_path / "a.tar.gz"
    with tarfile.open(path, "w:gz") as tf_:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf_.addfile(info, io.BytesIO(data))
    return str(path)


def test_extract_tar_and_zip(tmp_path):
    names = download.extract_archive(_tar_with(tmp_path, [("d/x.txt", b"x")]), str(tmp_path / "out"))
    assert names == ["d/x.txt"] and (tmp_path / "out" / "d" / "x.txt").read_bytes() == b"x"
    zpath = tmp_path / "a.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("z.txt", "z")
    download.extract_archive(str(zpath), str(tmp_path / "zout"))
    assert (tmp_path / "zout" / "z.txt").read_text() == "z"


def test_extract_refuses_path_traversal(tmp_path):
    (tmp_path / "out").mkdir()
    with pytest.raises(DownloadError, match="refusing"):
        download.extract_archive(_tar_with(tmp_path, [("ok.txt", b"1"), ("../evil.txt", b"2")]),
                                 str(tmp_path / "out"))
    assert not (tmp_path / "evil.txt").exists()
    assert os.listdir(tmp_path / "out") == []  # nothing half-extracted
    zpath = tmp_path / "evil.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("../../evil2.txt", "x")
    with pytest.raises(DownloadError, match="outside"):
        download.extract_archive(str(zpath), str(tmp_path / "out"))
    assert not (tmp_path / "evil2.txt").exists()


def test_a_recompressed_copy_is_accepted_by_its_content_and_a_real_mismatch_says_what_was_checked(tmp_path):
    import gzip
    import hashlib

    from t2x.data import download

    content = b"the same bytes inside\n" * 100
    original, recompressed = tmp_path / "orig.gz", tmp_path / "dl" / "data.gz"
    recompressed.parent.mkdir()
    with gzip.GzipFile(original, "wb", mtime=0) as f:
        f.write(content)
    with gzip.GzipFile(recompressed, "wb", mtime=1234567, compresslevel=1) as f:
        f.write(content)
    archive_sha = hashlib.sha256(original.read_bytes()).hexdigest()
    assert archive_sha != hashlib.sha256(recompressed.read_bytes()).hexdigest()
    rf = download.RemoteFile("data.gz", archive_sha, ("http://127.0.0.1:9/data.gz",),
                             hashlib.sha256(content).hexdigest())
    assert download.maybe_download_all(str(tmp_path / "dl"), [rf]) == [str(recompressed)]
    wrong = download.RemoteFile("data.gz", archive_sha, rf.urls, "0" * 64)
    with pytest.raises(download.ChecksumError) as error:
        download.maybe_download_all(str(tmp_path / "dl"), [wrong])
    message = str(error.value)
    assert f"expected {archive_sha}" in message
    assert f"decompressed content sha256 {hashlib.sha256(content).hexdigest()}, expected {'0' * 64}" in message
    no_payload = download.RemoteFile("data.gz", archive_sha, rf.urls)
    with pytest.raises(download.ChecksumError, match="the file is corrupt or a different version"):
        download.maybe_download_all(str(tmp_path / "dl"), [no_payload])
