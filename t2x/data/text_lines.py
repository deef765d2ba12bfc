"""Reading a user's text file, one sentence (or example) a line, with one-line errors.

    for n, line in read_lines("train.en", "TranslateFromFiles.train_inputs", fix=...):
        ...                                  # n counts from 1; the newline (and a \\r) stripped

Every binary that reads a file the user named (``t2x-decoder --decode_from_file``,
``t2x-bleu``, the ``*_from_files`` problems) reads it here, so that each way a file can be
wrong ends in one ``T2XError`` line naming the file and the fix:

* no such file -> ``DataMissingError``; a directory, a file that cannot be opened
  (permissions), a gzip file that is not one -> ``DataError``;
* bytes that are not UTF-8 -> ``DataError`` naming ``file:line`` and the byte.

Files ending in ``.gz`` are read through gzip. Lines are yielded as they are read (a corpus
is never held whole). Floor 2 (data); imports only ``t2x.errors``.
"""

import gzip
import os
import zlib
from typing import Iterator, Tuple

from t2x.errors import DataError, DataMissingError


def check_readable(path: str, name: str, fix: str = "") -> str:
    """``path`` user-expanded, after making sure it names a file this process can open;
    else the one-line error. ``name`` is how the user set it (``--translation``,
    ``TranslateFromFiles.train_inputs``; empty: the path alone), ``fix`` the last words of
    the message."""
    path = os.path.expanduser(path)
    where = f"{name}={path}" if name else path
    fix = fix or f"set {name or 'it'} to a UTF-8 text file, one sentence a line"
    if os.path.isdir(path):
        raise DataError(f"{where} is a directory, not a text file: {fix}")
    try:
        with open(path, "rb"):
            pass
    except FileNotFoundError:
        raise DataMissingError(f"{where}: no such file: {fix}") from None
    except PermissionError:
        raise DataError(f"{where} cannot be read (permission denied): make it readable "
                        f"(chmod a+r {path}) or {fix}") from None
    except OSError as e:
        raise DataError(f"{where} cannot be read ({e.strerror}): {fix}") from None
    return path


def read_lines(path: str, name: str, fix: str = "", *, check: bool = True) -> Iterator[Tuple[int, str]]:
    """``(line number, line)`` of a plain or gzipped UTF-8 file, newline stripped (module
    docstring). ``check=False`` skips ``check_readable`` (already done by the caller)."""
    if check:
        path = check_readable(path, name, fix)
    opener = gzip.open if path.endswith(".gz") else open
    n = 0
    try:
        with opener(path, "rb") as f:
            for n, raw in enumerate(f, 1):
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as e:
                    raise DataError(f"{path}:{n}: not UTF-8 ({e.reason}: byte 0x{raw[e.start]:02x} at "
                                    f"byte {e.start} of the line); convert the file to UTF-8 "
                                    "(e.g. iconv -f latin1 -t UTF-8)") from None
                yield n, line.rstrip("\n").rstrip("\r")
    except (gzip.BadGzipFile, EOFError, zlib.error) as e:
        raise DataError(f"{path}: not a complete gzip file after line {n} ({e}): "
                        "decompress it again, or drop the .gz suffix of a plain file") from None

