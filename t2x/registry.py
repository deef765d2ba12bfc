"""Registries of problems, models, hparams sets and ranged hparams (T2T semantics).

Registering::

    @registry.register_problem            # name: "image_mnist"
    class ImageMnist(Problem): ...

    @registry.register_model("my_net")    # an explicit name
    class Net(T2XModel): ...

    @registry.register_hparams
    def shake_shake_quick(): ...          # returns an HParams

The default name is the snake_case of the class or function name
(``ImageMnist -> image_mnist``, ``LSTMSeq2seqAttention -> lstm_seq2seq_attention``).
Registering a name twice is an error. A lookup miss names the registry it looked in
and the closest names *of that registry* only.

Problem names may carry T2T's suffixes: ``<name>_rev`` swaps inputs and targets,
``<name>_copy`` makes the targets a copy of the inputs (``<name>_rev_copy`` too).

The built-in catalogue (``t2x.problems``, ``t2x.models``, ``t2x.hparams``) is
imported lazily, by name, the first time a lookup or listing needs it, so that
``registry.problem("image_mnist")`` works from plain Python; this module imports
nothing from the catalogue itself.
"""

import importlib
import re
from typing import Any, Callable, Dict, List, Optional

from t2x.errors import T2XError, did_you_mean

_FIRST_CAP = re.compile(r"(.)([A-Z][a-z0-9]+)")
_ALL_CAP = re.compile(r"([a-z0-9])([A-Z])")

CATALOGUE_MODULE = "t2x.catalogue"
_catalogue_state = {"loaded": False}


def default_name(obj_or_name) -> str:
    """snake_case of a class/function name: ``LSTMSeq2seqAttention -> lstm_seq2seq_attention``."""
    name = obj_or_name if isinstance(obj_or_name, str) else obj_or_name.__name__
    return _ALL_CAP.sub(r"\1_\2", _FIRST_CAP.sub(r"\1_\2", name)).lower()


def _load_catalogue() -> None:
    """Imports the built-in catalogue once (problems, models, hparams sets)."""
    if not _catalogue_state["loaded"]:
        _catalogue_state["loaded"] = True
        importlib.import_module(CATALOGUE_MODULE).load()


class RegistryError(T2XError, KeyError):
    """A registry miss or a duplicate; ``str()`` is the readable message."""


class Registry:
    """A name -> object map with decorators, readable misses and duplicate checks."""

    def __init__(self, kind: str, plural: str):
        self.kind = kind  # "problem"
        self.plural = plural  # "problems"
        self._entries: Dict[str, Any] = {}

    def register(self, name_or_obj=None) -> Callable:
        """Decorator usable as ``@reg.register``, ``@reg.register()`` or ``@reg.register("name")``."""

        def decorator(obj, name=None):
            name = name or default_name(obj)
            if name in self._entries:
                raise RegistryError(
                    f"{self.kind} '{name}' is already registered (by "
                    f"{_describe(self._entries[name])}); pick another name with "
                    f"@register_{self.kind}(\"other_name\")")
            self._entries[name] = obj
            obj.registered_name = name
            return obj

        if callable(name_or_obj):  # bare decorator
            return decorator(name_or_obj)
        return lambda obj: decorator(obj, name_or_obj)

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def get(self, name: str):
        if name not in self._entries:
            _load_catalogue()
        if name not in self._entries:
            raise RegistryError(self.miss_message(name))
        return self._entries[name]

    def miss_message(self, name: str, shown_name: Optional[str] = None) -> str:
        shown = shown_name or name
        hint = did_you_mean(name, self._entries, suffix="? ")
        return (f"{self.kind} '{shown}' is not in the {self.plural} registry; {hint}"
                f"`--registry_help` lists all {len(self._entries)} {self.plural}.")

    def names(self) -> List[str]:
        _load_catalogue()
        return sorted(self._entries)

    def unregister(self, name: str) -> None:
        """Removes an entry (for tests and interactive sessions)."""
        self._entries.pop(name, None)


def _describe(obj) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


problems = Registry("problem", "problems")
models = Registry("model", "models")
hparams_sets = Registry("hparams set", "hparams sets")
ranged_hparams_sets = Registry("ranged hparams set", "ranged hparams sets")
modalities = Registry("modality", "modalities")

register_problem = problems.register
register_hparams = hparams_sets.register
register_ranged_hparams = ranged_hparams_sets.register


def register_modality(name_or_obj=None) -> Callable:
    """Registers a ``t2x.modalities.Modality`` subclass: ``@register_modality("speech")``
    (or bare: the snake_case of the class name without "Modality"). A problem names it in
    ``hparams.modality`` (its ``feature_info``); the class's ``modality_type`` is the name."""

    def decorator(cls, name=None):
        name = name or default_name(cls.__name__[:-len("Modality")] if cls.__name__.endswith("Modality")
                                    and cls.__name__ != "Modality" else cls)
        modalities.register(name)(cls)
        cls.modality_type = name
        return cls

    if callable(name_or_obj):
        return decorator(name_or_obj)
    return lambda cls: decorator(cls, name_or_obj)


def modality(name: str):
    """Returns the modality class registered as ``name`` (the built-ins: symbol,
    class_label, image, real, identity)."""
    if name not in modalities:
        importlib.import_module("t2x.modalities")  # the built-ins register on import
    return modalities.get(name)


# ---------------------------------------------------------------- problems --

def parse_problem_name(name: str):
    """Splits T2T's suffixes: returns ``(base_name, was_reversed, was_copy)``.

    >>> parse_problem_name("image_mnist_rev_copy")
    ('image_mnist', True, True)
    """
    if name.endswith("_rev"):
        base, was_reversed, was_copy = parse_problem_name(name[:-len("_rev")])
        if was_reversed:
            raise RegistryError(f"problem name '{name}' has '_rev' twice")
        return base, True, was_copy
    if name.endswith("_copy"):
        base, was_reversed, was_copy = parse_problem_name(name[:-len("_copy")])
        if was_copy:
            raise RegistryError(f"problem name '{name}' has '_copy' twice")
        return base, was_reversed, True
    return name, False, False


_problem_prefixes: Dict[str, Callable] = {}
_prefix_usage: Dict[str, str] = {}


def register_problem_prefix(prefix: str, factory: Callable, usage: str = "") -> None:
    """``--problem=<prefix>:<spec>`` builds ``factory(spec, was_reversed=, was_copy=)``
    (``tfds:mnist``: ``t2x.data.tfds_problem``); ``usage`` is its line in ``--registry_help``."""
    _problem_prefixes[prefix] = factory
    _prefix_usage[prefix] = usage or f"{prefix}:<name>"


def problem(name: str):
    """Returns a new instance of the named problem (``_rev``/``_copy`` honoured;
    ``<prefix>:<spec>`` names, such as ``tfds:mnist``, built by their prefix's factory)."""
    base, was_reversed, was_copy = parse_problem_name(name)
    prefix, colon, spec = base.partition(":")
    if colon:
        if prefix not in _problem_prefixes:
            _load_catalogue()
        if prefix not in _problem_prefixes:
            raise RegistryError(f"problem '{name}': no problem family '{prefix}:' "
                                f"(known: {', '.join(p + ':' for p in sorted(_problem_prefixes)) or 'none'})")
        return _problem_prefixes[prefix](spec, was_reversed=was_reversed, was_copy=was_copy)
    if base not in problems:
        _load_catalogue()
    if base not in problems:
        raise RegistryError(problems.miss_message(base, shown_name=name))
    return problems.get(base)(was_reversed=was_reversed, was_copy=was_copy)


def register_model(name_or_obj=None, *, default_hparams_set: Optional[str] = None):
    """Registers a model class: ``@register_model``, ``@register_model("name")`` or
    ``@register_model(default_hparams_set="my_set")``. The default hparams set (used when
    ``--hparams_set`` is omitted) comes from this argument or the class's
    ``default_hparams_set`` attribute."""

    def keep_default(cls):
        cls.default_hparams_set = default_hparams_set or getattr(cls, "default_hparams_set", None)
        return cls

    if callable(name_or_obj):
        return models.register(keep_default(name_or_obj))
    return lambda cls: models.register(name_or_obj)(keep_default(cls))


def model(name: str):
    """Returns the named model class."""
    return models.get(name)


def default_hparams_set(model_name: str) -> str:
    """The hparams set a registered model names as its default; a RegistryError naming
    the fix when it names none or an unregistered one."""
    cls = model(model_name)
    name = getattr(cls, "default_hparams_set", None)
    if not name:
        raise RegistryError(f"model '{model_name}' names no default hparams set; pass --hparams_set "
                            f"(or give the class default_hparams_set = \"...\")")
    if name not in hparams_sets:
        _load_catalogue()
    if name not in hparams_sets:
        raise RegistryError(f"model '{model_name}' names default hparams set '{name}', which is "
                            f"not registered; {hparams_sets.miss_message(name)}")
    return name


def hparams(name: str) -> Callable:
    """Returns the function that builds the named hparams set."""
    return hparams_sets.get(name)


def ranged_hparams(name: str) -> Callable:
    """Returns the function that fills a RangedHParams for the named search space."""
    return ranged_hparams_sets.get(name)


def list_problems() -> List[str]:
    return problems.names()


def list_models() -> List[str]:
    return models.names()


def list_hparams() -> List[str]:
    return hparams_sets.names()


def list_ranged_hparams() -> List[str]:
    return ranged_hparams_sets.names()


def help_string() -> str:
    """The text of ``--registry_help``: every registry, names grouped by their first word."""
    lines = ["Registry contents:", "------------------"]
    importlib.import_module("t2x.modalities")
    for reg in (problems, models, hparams_sets, ranged_hparams_sets, modalities):
        names = reg.names()
        lines.append(f"  {reg.plural.capitalize()} ({len(names)}):")
        groups: Dict[str, List[str]] = {}
        for n in names:
            shown = n
            if reg is models and getattr(reg._entries[n], "default_hparams_set", None):
                shown = f"{n} (default set {reg._entries[n].default_hparams_set})"
            groups.setdefault(n.split("_")[0], []).append(shown)
        for prefix in sorted(groups):
            lines.append(f"    {prefix}: {', '.join(groups[prefix])}")
        if not names:
            lines.append("    (none)")
    lines.append("Problem names also take '_rev' (inputs and targets swapped) and '_copy' "
                 "(targets = inputs).")
    if _problem_prefixes:
        lines.append("Problem families: " + "; ".join(_prefix_usage[p] for p in sorted(_problem_prefixes)) + ".")
    return "\n".join(lines)
