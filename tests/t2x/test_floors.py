"""DESIGN's floors hold: a module imports only from its own floor or below (function-level
imports included), no import cycle anywhere (inside a package too), nothing in t2x/ imports
the catalogue but t2x.catalogue, no module is over 600 lines, each binary's main is thin,
and reading a run (t2x-decoder, t2x-exporter) never imports the trainer."""

import ast
import os

import pytest

from conftest import REPO_ROOT

# Floor of each core module: packages (data, training, scripts) by prefix, modules exactly.
# `t2x` itself is the package's facade (`t2x.train(...)` runs the trainer): the top floor.
FLOORS = {
    "t2x": 8, "t2x.errors": 1, "t2x.fileio": 1, "t2x.registry": 1, "t2x.hparam": 1,
    "t2x.catalogue": 1,
    "t2x.data": 2,
    "t2x.layers": 3, "t2x.modalities": 3, "t2x.model": 3, "t2x.decoding": 3, "t2x.metrics": 3, "t2x.bleu": 3,
    "t2x.runs": 4,
    "t2x.inference": 5, "t2x.export": 5,
    "t2x.training": 6,
    "t2x.tuning": 7,
    "t2x.scripts": 8,
}
CATALOGUE = ("t2x.problems", "t2x.models", "t2x.hparams")
FOLDERS = {"t2x": "t2x", "problems": "t2x.problems", "models": "t2x.models", "hparams": "t2x.hparams",
           "scripts": "t2x.scripts"}


def _modules():
    for folder, package in FOLDERS.items():
        for dirpath, _, files in os.walk(os.path.join(REPO_ROOT, folder)):
            for name in files:
                if name.endswith(".py"):
                    rel = os.path.relpath(os.path.join(dirpath, name), os.path.join(REPO_ROOT, folder))
                    parts = rel[:-3].split(os.sep)
                    if parts[-1] == "__init__":
                        parts = parts[:-1]
                    yield ".".join([package] + parts), os.path.join(dirpath, name)


PACKAGES = ("t2x.data", "t2x.layers", "t2x.runs", "t2x.inference", "t2x.export", "t2x.training", "t2x.tuning",
            "t2x.scripts")


def _floor(module):
    if module in FLOORS:
        return FLOORS[module]
    package = next((p for p in PACKAGES if module.startswith(p + ".")), None)
    return FLOORS[package] if package else None


def _imports(path):
    tree = ast.parse(open(path, encoding="utf-8").read())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module != "t2x":  # `from t2x import x` names submodules, not the facade
                yield node.module
            for alias in node.names:  # `from t2x import registry` imports t2x.registry
                yield f"{node.module}.{alias.name}"


MODULES = dict(_modules())


@pytest.mark.parametrize("module", sorted(m for m in MODULES if not m.startswith(CATALOGUE)))
def test_core_modules_import_only_their_floor_or_below(module):
    own = _floor(module)
    assert own is not None, f"{module} has no floor in this test's table: add it"
    for name in _imports(MODULES[module]):
        if not name.startswith("t2x") or name not in MODULES:
            continue
        if name.startswith(CATALOGUE):
            assert module in ("t2x.catalogue", "t2x.scripts") or module.startswith("t2x.scripts."), \
                f"{module} imports the catalogue ({name}); only t2x.catalogue may"
            continue
        assert _floor(name) <= own, f"{module} (floor {own}) imports {name} (floor {_floor(name)})"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.startswith(CATALOGUE)))
def test_the_catalogue_imports_no_training_or_binary(module):
    for name in _imports(MODULES[module]):
        if name in MODULES and not name.startswith(CATALOGUE):
            assert _floor(name) <= 3, f"{module} imports {name} (floor {_floor(name)})"


def test_no_module_is_over_600_lines():
    long = {m: n for m, p in MODULES.items() if (n := len(open(p, encoding="utf-8").readlines())) > 600}
    assert not long


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.startswith("t2x.scripts.t2x_")))
def test_each_binary_main_is_short(module):
    tree = ast.parse(open(MODULES[module], encoding="utf-8").read())
    main = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "main"]
    assert main and main[0].end_lineno - main[0].lineno < 30


def _graph():
    """module -> the core modules it imports (function-level imports counted); a package's
    ``__init__`` is the package's own node."""
    graph = {}
    for module, path in MODULES.items():
        if module.startswith(CATALOGUE):
            continue
        targets = set()
        for name in _imports(path):
            while name and name not in MODULES:
                name = name.rpartition(".")[0]
            if name and name != module and not name.startswith(CATALOGUE):
                targets.add(name)
        graph[module] = targets
    return graph


def _cycle(graph):
    """One import cycle as a list of modules, or None."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                return stack[stack.index(target):] + [target]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_no_import_cycle_anywhere():
    graph = _graph()
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))
    # the test sees a cycle when there is one: the trainer reading back what imports it
    planted = {k: set(v) for k, v in graph.items()}
    planted["t2x.runs.run_dir"].add("t2x.training.trainer")
    assert _cycle(planted) is not None


@pytest.mark.parametrize("binary", ["t2x_decoder", "t2x_exporter", "t2x_avg_checkpoints"])
def test_reading_a_run_does_not_import_the_trainer(binary):
    """The binaries that read a run, imported and given --helpfull-free flags in a fresh
    process: the trainer module is not among the modules loaded (nor the tuner)."""
    import subprocess
    import sys

    code = (f"import sys; from t2x.scripts import {binary} as b; "
            "import t2x.inference.decoder, t2x.export.exporter, t2x.runs.averaging, t2x.runs.checkpoints; "
            "print(sorted(m for m in sys.modules if m in ('t2x.training.trainer', 't2x.tuning.tuner', "
            "'t2x.training.steps')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"
