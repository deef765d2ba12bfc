"""User errors: one base class, and the "closest names" every error message uses.

A ``T2XError`` is a bad input whose message is the whole story: it says what was wrong and
how to fix it. The binaries print it as one line, ``<binary>: error: <message>``, and exit
with status 1; any other exception is a bug and keeps its traceback.

The subclasses say what kind of input was bad. Each also derives from the built-in
exception a Python caller would expect (``KeyError`` for a registry miss, ``ValueError``
for a bad value, ``FileNotFoundError`` for a missing file), so ``except ValueError`` in user
code keeps working.

``closest_names(name, candidates)`` is the one spelling-suggestion helper: the registry,
HParams, the learning-rate schedule and the optimizer names all call it.

Floor 1: imports nothing from t2x.
"""

import difflib
from typing import Iterable, List


class T2XError(Exception):
    """A bad input; ``str()`` is one line that names the fix."""

    def __str__(self):
        return str(self.args[0]) if self.args else ""


class ConfigError(T2XError, ValueError):
    """A bad configuration value: an hparam, a flag, a trainer option, a gin binding."""


class DataError(T2XError, ValueError):
    """Bad data: a raw file or shard that cannot be read as the problem expects."""


class DataMissingError(T2XError, FileNotFoundError):
    """Shards, raw files or a vocabulary are missing; the message names the command or flag."""


def closest_names(name: str, candidates: Iterable[str], n: int = 3, cutoff: float = 0.6) -> List[str]:
    """The ``n`` candidates spelled most like ``name`` (difflib ratio >= ``cutoff``), best first."""
    return difflib.get_close_matches(str(name), [str(c) for c in candidates], n=n, cutoff=cutoff)


def did_you_mean(name: str, candidates: Iterable[str], n: int = 3, cutoff: float = 0.6,
                 prefix: str = "did you mean ", joiner: str = " or ", suffix: str = "?") -> str:
    """``"did you mean a or b?"`` for the closest names, or ``""`` when none is close."""
    close = closest_names(name, candidates, n=n, cutoff=cutoff)
    return f"{prefix}{joiner.join(close)}{suffix}" if close else ""


class Preempted(T2XError):
    """Training stopped on a signal after saving a checkpoint; the message says where.
    Not an error: the binaries print it and exit with ``exit_code`` (143 SIGTERM, 130 SIGINT)."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code
