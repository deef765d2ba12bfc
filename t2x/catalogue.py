"""The one place in ``t2x/`` that imports the catalogue (problems, models, hparams sets).

``load()`` registers every built-in entry; the registry calls it lazily on its first miss,
the binaries call it up front. ``import_usr_dir`` adds a user's own registrations
(``--t2x_usr_dir``).
"""

import importlib
import os
import sys

from absl import logging

from t2x.errors import T2XError

CATALOGUE_PACKAGES = ("t2x.problems", "t2x.models", "t2x.hparams")


def load() -> None:
    """Imports the built-in problems, models and hparams sets (idempotent)."""
    for package in CATALOGUE_PACKAGES:
        importlib.import_module(package)


class UsrDirError(T2XError, ImportError):
    """``--t2x_usr_dir`` does not name an importable directory, or its code fails to import."""


def _import_user_module(usr_dir: str, name: str) -> None:
    """Imports one module of the user's directory; a failure (syntax error, bad import,
    an exception at import time) is a UsrDirError naming the dir, the file and line."""
    import traceback

    try:
        importlib.import_module(name)
    except T2XError:
        raise
    except Exception as e:  # the user's code: say where, in one line
        frames = [f for f in traceback.extract_tb(e.__traceback__)
                  if os.path.abspath(f.filename).startswith(os.path.abspath(usr_dir))]
        where = (f"{e.filename}:{e.lineno}" if isinstance(e, SyntaxError) else
                 f"{frames[-1].filename}:{frames[-1].lineno}" if frames else name)
        raise UsrDirError(f"--t2x_usr_dir={usr_dir}: importing {name} failed at {where}: "
                          f"{type(e).__name__}: {e}") from e


def import_usr_dir(usr_dir: str) -> str:
    """Imports a user's directory of registrations (T2T's ``--t2t_usr_dir``).

    A directory with ``__init__.py`` is imported as a package named after it (its own
    imports decide what registers); without one, every ``*.py`` in it is imported.
    Returns the imported package or module names, comma separated.
    """
    if not usr_dir:
        return ""
    path = os.path.abspath(os.path.expanduser(usr_dir.rstrip(os.sep)))
    if not os.path.isdir(path):
        raise UsrDirError(f"--t2x_usr_dir={usr_dir}: no such directory")
    parent, name = os.path.split(path)
    if os.path.exists(os.path.join(path, "__init__.py")):
        if not name.isidentifier():
            raise UsrDirError(f"--t2x_usr_dir={usr_dir}: '{name}' is not a valid Python package "
                              "name; rename the directory (letters, digits, underscores)")
        if parent not in sys.path:
            sys.path.insert(0, parent)
        _import_user_module(usr_dir, name)
        imported = [name]
    else:
        if path not in sys.path:
            sys.path.insert(0, path)
        imported = []
        for fname in sorted(os.listdir(path)):
            if fname.endswith(".py") and fname[:-3].isidentifier():
                _import_user_module(usr_dir, fname[:-3])
                imported.append(fname[:-3])
    logging.info("Imported --t2x_usr_dir=%s (%s)", usr_dir, ", ".join(imported) or "no modules")
    return ", ".join(imported)
