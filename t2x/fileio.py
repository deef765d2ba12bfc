"""Atomic file and directory writing: the helpers behind everything t2x writes whole.

    with atomic_path("/data/vocab.txt") as tmp:      # any writer that takes a path
        write_vocabulary(tmp)
    write_text_atomic("/run/hparams.json", text)
    write_lines_atomic("/run/decodes/dev-100.txt", lines)
    atomic_dir("/run/export/1000", lambda staging: write_export_into(staging))

The content goes to ``<path>.tmp-<pid>`` first, is flushed to disk (fsync), and is renamed
onto ``path`` only when complete, so a reader (or a rerun after a crash) sees the old file
or the new one, never half of one. On an exception the temporary is removed and ``path`` is
left as it was. Temporaries of dead processes are found by ``stale_temporaries``.
A directory is staged the same way beside its final name (``<dir>.partial-<pid>``) and
swapped in whole (``atomic_dir``: exports, the best checkpoint).

Floor 1: imports nothing from t2x.
"""

import contextlib
import errno
import logging
import os
import re
import shutil
from typing import Callable, Iterable, Iterator, List, Optional, Tuple

TMP_MARK = ".tmp-"


def tmp_path(path: str) -> str:
    """The temporary that ``atomic_path`` writes before renaming onto ``path``."""
    return f"{path}{TMP_MARK}{os.getpid()}"


def _fsync(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str) -> Iterator[str]:
    """Yields a temporary path to write; on a clean exit it is fsynced and renamed onto
    ``path`` (parent directories created); on an exception it is removed."""
    path = os.path.abspath(os.path.expanduser(path))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = tmp_path(path)
    try:
        yield tmp
        _fsync(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_text_atomic(path: str, text: str) -> None:
    """Writes ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)


def write_lines_atomic(path: str, lines: Iterable[str]) -> None:
    r"""Writes ``lines`` to ``path`` atomically, each ending in ``\n``."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            f.writelines(line + "\n" for line in lines)


def pid_alive(pid: int) -> bool:
    """True when process ``pid`` runs on this machine (or cannot be signalled by us)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stale_temporaries(paths: Iterable[str]) -> List[str]:
    """The ``<path>.tmp-<pid>`` files of ``paths`` left by processes no longer running."""
    stale = []
    by_dir = {}
    for p in paths:
        by_dir.setdefault(os.path.dirname(p) or ".", set()).add(os.path.basename(p))
    for directory, names in by_dir.items():
        if not os.path.isdir(directory):
            continue
        for entry in os.listdir(directory):
            base, mark, pid = entry.rpartition(TMP_MARK)
            if mark and base in names and pid.isdigit() and not pid_alive(int(pid)):
                stale.append(os.path.join(directory, entry))
    return stale


def resolve_dir(flag_name: str, value, default: str, announce=None) -> str:
    """``value``, or ``default`` (announced: ``announce("--<flag> not given, using <path>")``);
    absolute and user-expanded."""
    path = os.path.abspath(os.path.expanduser(value or default))
    if not value and announce is not None:
        announce(f"--{flag_name} not given, using {path}")
    return path


# ------------------------------------------------------------- directories --
PARTIAL = ".partial-"


def inside(path: str, directory: str) -> bool:
    """``path`` is ``directory`` or under it (both absolute and resolved)."""
    return path == directory or path.startswith(directory.rstrip(os.sep) + os.sep)


def first_existing(path: str) -> str:
    """``path`` or its nearest ancestor that exists (what a new directory would be made in)."""
    while not os.path.lexists(path):
        path = os.path.dirname(path)
    return path


def remove_stale_partials(parent: str, only: Optional[str] = None) -> None:
    """Removes the staging directories (``<name>.partial-<pid>``) that dead writers left in
    ``parent`` (only those of ``<only>`` when given). An ``<name>.partial-old-<pid>`` whose
    ``<name>`` is gone is an earlier version that a replacement, killed between its two
    renames, had moved aside: it goes back."""
    if not os.path.isdir(parent):
        return
    for name in os.listdir(parent):
        base, mark, pid = name.rpartition(PARTIAL)
        number = pid[len("old-"):] if pid.startswith("old-") else pid
        if not mark or (only is not None and base != only) or not number.isdigit() or pid_alive(int(number)):
            continue
        path = os.path.join(parent, name)
        if number != pid and not os.path.exists(os.path.join(parent, base)):
            logging.info("Restoring %s, moved aside by a writer that did not finish", os.path.join(parent, base))
            os.rename(path, os.path.join(parent, base))
            continue
        logging.info("Removing %s, left by a writer that did not finish", path)
        shutil.rmtree(path, ignore_errors=True)


# Where a write into a directory fails for want of space or permission (the errno of an
# OSError; TensorFlow's file system reports the same in its errors' messages).
_DESTINATION_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOTDIR,
                       errno.EEXIST, errno.EXDEV, errno.EBUSY, errno.EISDIR, errno.ENAMETOOLONG)


def destination_problem(error: BaseException, root: str) -> Optional[str]:
    """Why ``error`` (raised while writing under ``root``) is the destination's fault --
    full, read-only, not writable --, or None when it is not (a bug: to re-raise)."""
    if isinstance(error, OSError):
        names = [n for n in (error.filename, error.filename2) if n is not None]
        if error.errno not in _DESTINATION_ERRNOS:
            return None
        if names and not all(inside(os.path.realpath(os.path.abspath(str(n))), os.path.realpath(root))
                             for n in names):
            return None
        if not names and error.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
            return None
        return error.strerror or os.strerror(error.errno)
    message = getattr(error, "message", str(error))
    if os.path.realpath(root) not in message and root not in message:
        return None
    reason = re.sub(r"\s*\[Op:\w+\]|\s*\[\[\{\{node [^]]*\]\]", "", message.rsplit("; ", 1)[-1]).strip()
    return reason or type(error).__name__


def atomic_dir(final: str, write: Callable[[str], None], *, clean_parent: bool = False,
               errors: Tuple[type, ...] = (OSError,),
               on_destination_error: Optional[Callable[[str], BaseException]] = None) -> None:
    """Makes the directory ``final`` whole or not at all: ``write(staging)`` fills
    ``<final>.partial-<pid>`` beside it, which is then renamed onto ``final`` (an earlier
    ``final`` is moved aside first and removed only once the new one is in place; it comes
    back when the rename fails). Stale staging directories of dead writers are removed first
    (every one in ``final``'s parent with ``clean_parent``, else those of ``final`` only).
    An error of ``errors`` that ``destination_problem`` blames on the destination (full,
    read-only) becomes ``on_destination_error(reason)`` when given; then no staging
    directory, nor any directory this call created, is left."""
    parent = os.path.dirname(final)
    created, probe = None, parent  # the highest directory this call creates (None: all exist)
    while not os.path.exists(probe):
        created, probe = probe, os.path.dirname(probe)
    staging = final + PARTIAL + str(os.getpid())
    try:
        os.makedirs(parent, exist_ok=True)
        remove_stale_partials(parent, None if clean_parent else os.path.basename(final))
        os.makedirs(staging)
        write(staging)
        if os.path.isdir(final) and os.listdir(final):
            old = final + PARTIAL + "old-" + str(os.getpid())
            os.rename(final, old)
            try:
                os.rename(staging, final)
            except OSError:
                os.rename(old, final)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(staging, final)  # onto nothing or an empty directory
    except errors as e:
        reason = destination_problem(e, created or parent)
        if reason is None or on_destination_error is None:
            raise
        raise on_destination_error(reason) from e
    finally:
        if os.path.lexists(staging):
            shutil.rmtree(staging, ignore_errors=True)
        if created is not None and not os.path.exists(final):
            directory = parent
            while inside(directory, created):
                try:
                    os.rmdir(directory)  # only if empty
                except OSError:
                    break
                directory = os.path.dirname(directory)
