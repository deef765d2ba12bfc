"""Atomic file writing: the one helper behind every file t2x writes whole.

    with atomic_path("/data/vocab.txt") as tmp:      # any writer that takes a path
        write_vocabulary(tmp)
    write_text_atomic("/run/hparams.json", text)
    write_lines_atomic("/run/decodes/dev-100.txt", lines)

The content goes to ``<path>.tmp-<pid>`` first, is flushed to disk (fsync), and is renamed
onto ``path`` only when complete, so a reader (or a rerun after a crash) sees the old file
or the new one, never half of one. On an exception the temporary is removed and ``path`` is
left as it was. Temporaries of dead processes are found by ``stale_temporaries``.

Floor 1: imports nothing from t2x.
"""

import contextlib
import os
from typing import Iterable, Iterator, List

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
