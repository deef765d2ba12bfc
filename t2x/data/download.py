"""Checksummed downloads that fail fast offline, and archive extraction without path traversal.

``maybe_download(tmp_dir, filename, urls, sha256)``:

* a file already in ``tmp_dir`` with the right sha256 is used as is (no network);
* a file there with the *wrong* sha256 is an error (it is the user's; we never overwrite it);
* otherwise the mirrors in ``urls`` are tried in order; each download goes to a temporary
  name, is verified, and only then renamed; a checksum mismatch is reported and the next
  mirror tried; nothing unverified is ever used or left under the final name;
* when the network is unreachable (name resolution or connection failure) it stops at
  once, within seconds, with one line naming the missing files and the ``--tmp_dir`` to put
  them in. ``T2X_OFFLINE=1`` skips the network altogether.

``maybe_download_all`` does this for a problem's whole file list and reports every
missing file in one message.
"""

import dataclasses
import gzip
import hashlib
import os
import shutil
import socket
import tarfile
import time
import urllib.error
import urllib.request
import zlib
import zipfile
from typing import List, Optional, Sequence

from absl import logging

from t2x.errors import T2XError

DEFAULT_TIMEOUT_S = 10.0
_CHUNK = 1 << 20


class DownloadError(T2XError, RuntimeError):
    """A file could not be fetched or verified; the message says what to do."""


class ChecksumError(DownloadError):
    """A file's sha256 is not the expected one."""


@dataclasses.dataclass(frozen=True)
class RemoteFile:
    """A file a problem needs: its name in ``tmp_dir``, sha256 and mirror URLs in order.

    ``payload_sha256`` (gzip files): the sha256 of the decompressed content. A copy whose
    archive bytes differ (re-compressed: another gzip header, level or timestamp) but whose
    content has this digest is accepted: the data are the same."""
    filename: str
    sha256: str
    urls: Sequence[str]
    payload_sha256: Optional[str] = None


def mirror_urls(filename: str, mirrors: Sequence[str]) -> List[str]:
    """``[mirror + filename, ...]`` for mirrors that serve the same file names."""
    return [m.rstrip("/") + "/" + filename for m in mirrors]


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


class _Offline(Exception):
    """The network is unreachable (no DNS, connection refused or timed out)."""


def _offline_forced() -> bool:
    return os.environ.get("T2X_OFFLINE", "").lower() in ("1", "true", "yes")


def _fetch(url: str, dest_tmp: str, timeout: float) -> str:
    """Streams ``url`` to ``dest_tmp``; returns its sha256. Raises _Offline or DownloadError."""
    request = urllib.request.Request(url, headers={"User-Agent": "t2x-download/0.1"})
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response, open(dest_tmp, "wb") as out:
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                digest.update(chunk)
                out.write(chunk)
    except urllib.error.HTTPError as e:
        raise DownloadError(f"{url}: HTTP {e.code} {e.reason}") from None
    except urllib.error.URLError as e:
        reason = e.reason
        if isinstance(reason, (socket.gaierror, socket.timeout, ConnectionError, OSError)):
            raise _Offline(f"{url}: {reason}") from None
        raise DownloadError(f"{url}: {reason}") from None
    except (socket.timeout, TimeoutError, ConnectionError) as e:
        raise _Offline(f"{url}: {e}") from None
    return digest.hexdigest()


def _missing_message(missing: Sequence[RemoteFile], tmp_dir: str, why: str) -> str:
    names = ", ".join(f.filename for f in missing)
    sources = sorted({f.urls[0].rsplit("/", 1)[0] + "/" for f in missing if f.urls})
    first_urls = ", ".join(sources)
    return (f"cannot download {len(missing)} file(s) ({why}): {names}. Put them in "
            f"--tmp_dir={tmp_dir} (their sha256 is checked) and re-run; they come from "
            f"{first_urls or 'the problem source'}")


def payload_sha256(path: str) -> str:
    """sha256 of a gzip file's decompressed content."""
    digest = hashlib.sha256()
    with gzip.open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _checksum_problem(path: str, rf: "RemoteFile", actual: str) -> Optional[str]:
    """None when ``path`` (sha256 ``actual``) is ``rf``'s data: the archive's digest, or
    the decompressed content's; otherwise what was checked and what was found."""
    if actual == rf.sha256:
        return None
    checked = f"sha256 {actual}, expected {rf.sha256}"
    if rf.payload_sha256:
        try:
            content = payload_sha256(path)
        except (OSError, EOFError, zlib.error) as e:
            return f"{checked}; its content could not be decompressed ({e})"
        if content == rf.payload_sha256:
            logging.info("%s: archive bytes differ (a re-compressed copy), its decompressed content "
                         "has the recorded sha256 %s: accepted", path, content)
            return None
        checked += f"; decompressed content sha256 {content}, expected {rf.payload_sha256}"
    return checked


def _verified_existing(path: str, rf: "RemoteFile") -> bool:
    """True if ``path`` exists with the right checksum (archive or content); ChecksumError
    saying what was checked if with a wrong one."""
    if not os.path.exists(path):
        return False
    problem = _checksum_problem(path, rf, sha256_file(path))
    if problem:
        raise ChecksumError(
            f"{path} has {problem}: the file is corrupt or a different version; delete it to "
            "download it again, or replace it with the right file")
    return True


def _download_one(tmp_dir: str, rf: RemoteFile, timeout: float) -> str:
    """Tries the mirrors of one file; returns its final path. Raises _Offline / DownloadError."""
    path = os.path.join(tmp_dir, rf.filename)
    errors = []
    for url in rf.urls:
        tmp = f"{path}.part-{os.getpid()}"
        start = time.monotonic()
        try:
            logging.info("Downloading %s", url)
            actual = _fetch(url, tmp, timeout)
            problem = _checksum_problem(tmp, rf, actual)
            if problem:
                errors.append(f"{url}: {problem}")
                logging.warning("%s", errors[-1])
                continue
            os.replace(tmp, path)
            logging.info("Fetched %s (%d bytes, %.1f s), sha256 verified", path,
                         os.path.getsize(path), time.monotonic() - start)
            return path
        except DownloadError as e:  # HTTP error etc.: try the next mirror
            errors.append(str(e))
            logging.warning("%s", e)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    raise DownloadError(f"every mirror failed for {rf.filename}: " + "; ".join(errors))


def maybe_download_all(tmp_dir: str, files: Sequence[RemoteFile],
                       timeout: float = DEFAULT_TIMEOUT_S) -> List[str]:
    """Ensures every file is in ``tmp_dir`` with its sha256; returns their paths in order."""
    os.makedirs(tmp_dir, exist_ok=True)
    missing = [rf for rf in files if not _verified_existing(os.path.join(tmp_dir, rf.filename), rf)]
    if missing and _offline_forced():
        raise DownloadError(_missing_message(missing, tmp_dir, "T2X_OFFLINE is set"))
    for i, rf in enumerate(missing):
        try:
            _download_one(tmp_dir, rf, timeout)
        except _Offline as e:
            raise DownloadError(_missing_message(missing[i:], tmp_dir, f"no network: {e}")) from None
        except DownloadError as e:
            raise DownloadError(f"{e}. {_missing_message(missing[i:], tmp_dir, 'mirrors failed')}") from None
    return [os.path.join(tmp_dir, rf.filename) for rf in files]


def maybe_download(tmp_dir: str, filename: str, urls: Sequence[str], sha256: str,
                   timeout: float = DEFAULT_TIMEOUT_S) -> str:
    """One file; see the module docstring. ``urls`` are full URLs, tried in order."""
    return maybe_download_all(tmp_dir, [RemoteFile(filename, sha256, tuple(urls))], timeout)[0]


def _inside(root: str, target: str) -> bool:
    root = os.path.realpath(root)
    return os.path.commonpath([root, os.path.realpath(target)]) == root


def extract_archive(path: str, dest: str) -> List[str]:
    """Extracts a .tar(.gz|.bz2|.xz) or .zip into ``dest``; refuses members that would land
    outside ``dest`` (absolute paths, ``..``, links pointing out). Returns extracted names.

    Extraction goes to a temporary folder beside ``dest`` and is moved in only when complete.
    """
    os.makedirs(dest, exist_ok=True)
    staging = f"{dest.rstrip(os.sep)}.extracting-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    os.makedirs(staging)
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
                for name in names:
                    if os.path.isabs(name) or not _inside(staging, os.path.join(staging, name)):
                        raise DownloadError(f"{path}: member {name!r} would be written outside "
                                            f"{dest}; refusing to extract this archive")
                zf.extractall(staging)
        elif tarfile.is_tarfile(path):
            with tarfile.open(path) as tf_:
                names = tf_.getnames()
                try:
                    tf_.extractall(staging, filter="data")  # rejects traversal and outside links
                except tarfile.FilterError as e:
                    raise DownloadError(f"{path}: {e}; refusing to extract this archive") from None
        else:
            raise DownloadError(f"{path} is neither a tar nor a zip archive")
        for entry in os.listdir(staging):
            target = os.path.join(dest, entry)
            if os.path.isdir(target) and not os.path.islink(target):
                shutil.rmtree(target)
            elif os.path.lexists(target):
                os.remove(target)
            os.replace(os.path.join(staging, entry), target)
        return names
    finally:
        shutil.rmtree(staging, ignore_errors=True)


DEFAULT_DATA_DIR = "~/t2x_data"


def default_tmp_dir(data_dir: Optional[str]) -> str:
    """Where downloads go when ``--tmp_dir`` is not given: ``<data_dir>/tmp``."""
    return os.path.join(data_dir or ".", "tmp")
