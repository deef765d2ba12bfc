"""Typed hyperparameters: ``HParams`` and the override string ``a=1,b=[1,2],c=true,d=adam``.

(The module is ``hparam``, singular, as T2T's ``utils/hparam.py``: ``t2x.hparams`` is the
catalogue of registered sets.)

Each hparam is typed by its first value: ``int``, ``float``, ``bool``, ``str``, a list
of one of those, or a ``dict`` (problem hparams keep per-feature dicts). Later values
must fit that type: an ``int`` is accepted for a ``float`` (and becomes one), anything
else that does not fit is an error naming the expected type. An hparam whose default is
``None`` is untyped until set; a value parsed for it is read as the literal it looks like
(``3`` -> int, ``0.5`` -> float, ``true`` -> bool, ``[1,2]`` -> list, else str).

    >>> hp = HParams(learning_rate=0.1, layers=[64, 64], use_bias=True, optimizer="adam")
    >>> hp.parse("learning_rate=1,layers=[32,32,32],use_bias=false")
    >>> hp.learning_rate, hp.layers, hp.use_bias
    (1.0, [32, 32, 32], False)
    >>> hp.parse("learnin_rate=3")
    Traceback (most recent call last):
    ...
    ValueError: unknown hparam 'learnin_rate'; nearest valid keys: learning_rate
"""

import copy
import json
from typing import Any, Dict, List, Optional

from t2x.errors import ConfigError, closest_names

_SCALARS = (bool, int, float, str)


class HParamsError(ConfigError):
    """A bad hparam name, value or override string."""


def _type_name(t) -> str:
    return {bool: "bool", int: "int", float: "float", str: "str", dict: "dict"}.get(t, str(t))


def _kind(value):
    """The (type, element type) of a value; element type is set for lists only."""
    if value is None:
        return None, None
    if isinstance(value, (list, tuple)):
        elem = type(value[0]) if value else None
        return list, elem
    for t in _SCALARS:  # bool before int: bool is a subclass of int
        if isinstance(value, t):
            return t, None
    if isinstance(value, dict):
        return dict, None
    raise HParamsError(f"hparam values must be bool, int, float, str, list or dict, "
                       f"not {type(value).__name__} ({value!r})")


def _coerce(name: str, value, target, what="") -> Any:
    """Checks/converts one scalar to ``target`` type or raises a readable error."""
    where = f"hparam '{name}'{what}"
    if target is None or isinstance(value, target) and not (target is int and isinstance(value, bool)):
        return value
    if target is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    raise HParamsError(f"{where} expects {_type_name(target)}, got "
                       f"{type(value).__name__} {value!r}")


def _parse_literal(text: str):
    """A string as the literal it looks like: int, float, bool, list or str."""
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):
        inner = text[1:-1].strip()
        return [_parse_literal(x) for x in _split_top_level(inner)] if inner else []
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    return text


def _parse_as(name: str, text: str, target, elem):
    """Parses ``text`` for an hparam of type ``target`` (list element type ``elem``)."""
    text = text.strip()
    if target is None:
        return _parse_literal(text)
    if target is list:
        if not (text.startswith("[") and text.endswith("]")):
            raise HParamsError(f"hparam '{name}' expects a list like [1,2], got {text!r}")
        inner = text[1:-1].strip()
        items = _split_top_level(inner) if inner else []
        return [_parse_as(name, item, elem, None) for item in items]
    if target is dict:
        raise HParamsError(f"hparam '{name}' is a dict and cannot be set from a string; "
                           "set it in Python or in the problem's hparams()")
    if target is bool:
        low = text.lower()
        if low in ("true", "1"):
            return True
        if low in ("false", "0"):
            return False
        raise HParamsError(f"hparam '{name}' expects bool (true/false), got {text!r}")
    if target is str:
        if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
            return text[1:-1]
        return text
    try:
        return target(text)
    except ValueError:
        raise HParamsError(f"hparam '{name}' expects {_type_name(target)}, got {text!r}") from None


def _split_top_level(text: str) -> List[str]:
    """Splits on commas that are not inside brackets or quotes."""
    parts, depth, quote, start = [], 0, None, 0
    for i, ch in enumerate(text):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth < 0:
                raise HParamsError(f"unbalanced ']' in {text!r}")
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    if depth or quote:
        raise HParamsError(f"unbalanced brackets or quotes in {text!r}")
    parts.append(text[start:])
    return parts


class HParams:
    """A typed, ordered bag of hyperparameters with T2T's API."""

    def __init__(self, **kwargs):
        object.__setattr__(self, "_types", {})
        for name, value in kwargs.items():
            self.add_hparam(name, value)

    # -- structure ------------------------------------------------------------
    def add_hparam(self, name: str, value) -> None:
        if name in self._types:
            raise HParamsError(f"hparam '{name}' already exists; use set_hparam to change it")
        if name.startswith("_") or hasattr(type(self), name):
            raise HParamsError(f"'{name}' cannot be an hparam name (reserved)")
        kind, elem = _kind(value)
        self._types[name] = (kind, elem)
        if kind is list:
            value = [_coerce(name, v, elem, " (list element)") for v in value]
        object.__setattr__(self, name, copy.deepcopy(value))

    def del_hparam(self, name: str) -> None:
        self._check_known(name)
        del self._types[name]
        object.__delattr__(self, name)

    def set_hparam(self, name: str, value) -> None:
        """Sets an existing hparam; the value must fit the hparam's type."""
        self._check_known(name)
        kind, elem = self._types[name]
        if value is None or kind is None:
            new_kind, new_elem = _kind(value)
            if kind is None:  # untyped until now: the value types it
                self._types[name] = (new_kind, new_elem)
            object.__setattr__(self, name, copy.deepcopy(value))
            return
        if kind is list:
            if not isinstance(value, (list, tuple)):
                raise HParamsError(f"hparam '{name}' expects a list, got "
                                   f"{type(value).__name__} {value!r}")
            if elem is None and value:
                elem = type(value[0])
                self._types[name] = (list, elem)
            value = [_coerce(name, v, elem, " (list element)") for v in value]
        else:
            value = _coerce(name, value, kind)
        object.__setattr__(self, name, copy.deepcopy(value))

    def __setattr__(self, name, value):
        if name in self._types:
            self.set_hparam(name, value)
        else:
            raise HParamsError(f"unknown hparam '{name}'{self._nearest(name)}; "
                               "use add_hparam to add a new one")

    def __getattr__(self, name):  # only called when normal lookup fails
        if name.startswith("_"):
            raise AttributeError(name)
        raise AttributeError(f"unknown hparam '{name}'{self._nearest(name)}")

    def _nearest(self, name: str) -> str:
        close = closest_names(name, self._types, cutoff=0.5)
        return f"; nearest valid keys: {', '.join(close)}" if close else ""

    def _check_known(self, name: str) -> None:
        if name not in self._types:
            raise HParamsError(f"unknown hparam '{name}'{self._nearest(name)}")

    # -- reading ---------------------------------------------------------------
    def __contains__(self, name) -> bool:
        return name in self._types

    def get(self, name: str, default=None):
        return getattr(self, name) if name in self._types else default

    def keys(self) -> List[str]:
        return list(self._types)

    def values(self) -> Dict[str, Any]:
        """A dict copy of all hparams (T2T's name for it)."""
        return {k: copy.deepcopy(getattr(self, k)) for k in self._types}

    def copy(self) -> "HParams":
        return HParams(**self.values())

    def __eq__(self, other) -> bool:
        return isinstance(other, HParams) and self.values() == other.values()

    def __repr__(self) -> str:
        return f"HParams({', '.join(f'{k}={v!r}' for k, v in sorted(self.values().items()))})"

    # -- overriding --------------------------------------------------------------
    def parse(self, overrides: Optional[str]) -> "HParams":
        """Applies ``"a=1,b=[1,2],c=true,d=adam"``; returns self. Errors name the key."""
        for name, value in self.parse_overrides(overrides).items():
            self._check_known(name)
            kind, elem = self._types[name]
            self.set_hparam(name, _parse_as(name, value, kind, elem))
        return self

    @staticmethod
    def parse_overrides(overrides: Optional[str]) -> Dict[str, str]:
        """Splits an override string into ``{name: raw value text}`` (no typing)."""
        result: Dict[str, str] = {}
        if not overrides or not overrides.strip():
            return result
        for item in _split_top_level(overrides.strip()):
            if not item.strip():
                continue
            if "=" not in item:
                raise HParamsError(f"malformed hparams override {item.strip()!r}: expected name=value")
            name, value = item.split("=", 1)
            name = name.strip()
            if name in result:
                raise HParamsError(f"hparam '{name}' is set twice in {overrides!r}")
            result[name] = value
        return result

    def set_or_add(self, name: str, value) -> None:
        """Sets ``name`` if it exists, else adds it (for sets that extend a base set)."""
        if name in self._types:
            self.set_hparam(name, value)
        else:
            self.add_hparam(name, value)

    def override_from_dict(self, values: Dict[str, Any]) -> "HParams":
        for name, value in values.items():
            self.set_hparam(name, value)
        return self

    # -- serialisation -------------------------------------------------------------
    def to_json(self, indent: Optional[int] = 2) -> str:
        return json.dumps(self.values(), indent=indent, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "HParams":
        return cls(**json.loads(text))

    def parse_json(self, text: str) -> "HParams":
        """Overrides existing hparams from a JSON object (unknown keys are errors)."""
        return self.override_from_dict(json.loads(text))

    # -- comparing --------------------------------------------------------------------
    def diff(self, other: "HParams") -> List[str]:
        """Readable differences ``self -> other``; empty when equal.

        >>> HParams(a=1, b="x").diff(HParams(a=2, c=True))
        ['a: 1 -> 2', "b: removed (was 'x')", 'c: added (= True)']
        """
        mine, theirs = self.values(), other.values()
        lines = []
        for key in sorted(set(mine) | set(theirs)):
            if key not in theirs:
                lines.append(f"{key}: removed (was {mine[key]!r})")
            elif key not in mine:
                lines.append(f"{key}: added (= {theirs[key]!r})")
            elif mine[key] != theirs[key]:
                lines.append(f"{key}: {mine[key]!r} -> {theirs[key]!r}")
        return lines


_MISSING = object()


def get_hparam(hparams, name: str, default=_MISSING):
    """``hparams.name`` for HParams or any object; ``default`` when given and missing,
    otherwise the HParams error that names the nearest keys."""
    if default is _MISSING:
        return getattr(hparams, name)
    try:
        return getattr(hparams, name)
    except AttributeError:
        return default


def create_hparams(hparams_set: str, overrides: str = "") -> HParams:
    """The registered set ``hparams_set`` with the override string applied."""
    from t2x import registry  # same floor; imported here to keep this module standalone

    hp = registry.hparams(hparams_set)()
    if not isinstance(hp, HParams):
        raise HParamsError(f"hparams set '{hparams_set}' returned {type(hp).__name__}, "
                           "not HParams")
    try:
        hp.parse(overrides)
        check_implemented(hp)
        check_ranges(hp)
    except HParamsError as e:
        raise HParamsError(f"{e} (in --hparams for set '{hparams_set}')") from None
    return hp


INT32_MAX = 2 ** 31 - 1  # TensorFlow's shapes and batch sizes are int32 in the compiled step

#: The valid range of the hparams a model or the input pipeline uses as a size, a count, a
#: rate or a probability: ``{name: (low, high, low_open, high_open, what)}`` (None: no bound).
#: ``check_ranges`` refuses a set (with its overrides) holding a value outside, naming it.
HPARAM_RANGES = {
    "batch_size": (1, INT32_MAX, False, False, "examples (or tokens) per batch"),
    "hidden_size": (1, INT32_MAX, False, False, "a layer width"),
    "filter_size": (1, INT32_MAX, False, False, "a layer width"),
    "num_hidden_layers": (1, INT32_MAX, False, False, "a layer count"),
    "num_heads": (1, INT32_MAX, False, False, "a head count"),
    "max_length": (0, INT32_MAX, False, False, "tokens (0: no limit)"),
    "packed_length": (0, INT32_MAX, False, False, "tokens a packed row holds (0: max_length)"),
    "min_length_bucket": (1, INT32_MAX, False, False, "tokens"),
    "batch_shuffle_size": (0, INT32_MAX, False, False, "batches (0: no shuffling)"),
    "learning_rate_warmup_steps": (0, INT32_MAX, False, False, "steps"),
    "optimizer_multistep_accumulate_steps": (0, INT32_MAX, False, False, "micro-batches (0 or 1: off)"),
    "dropout": (0.0, 1.0, False, True, "a probability"),
    "attention_dropout": (0.0, 1.0, False, True, "a probability"),
    "relu_dropout": (0.0, 1.0, False, True, "a probability"),
    "layer_prepostprocess_dropout": (0.0, 1.0, False, True, "a probability"),
    "label_smoothing": (0.0, 1.0, False, True, "a probability"),
    "learning_rate": (0.0, None, False, False, "a rate"),
    "learning_rate_constant": (0.0, None, False, False, "a rate"),
    "learning_rate_minimum": (0.0, None, False, False, "a rate"),
    "weight_decay": (0.0, None, False, False, "a rate"),
    "clip_grad_norm": (0.0, None, False, False, "a norm (0: no clipping)"),
    "length_bucket_step": (1.0, None, True, False, "the ratio of neighbouring length buckets"),
}


def _range_text(low, high, low_open, high_open) -> str:
    if high is None:
        return f"{'>' if low_open else '>='} {low}"
    if high == INT32_MAX and not high_open:
        return f">= {low} and <= {INT32_MAX} (2**31 - 1, TensorFlow's int32)"
    return f"in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"


def check_ranges(hparams) -> None:
    """Refuses an hparam outside its valid range (``HPARAM_RANGES``), naming the hparam, the
    value and the range; hparams a set does not have are not checked."""
    for name, (low, high, low_open, high_open, what) in HPARAM_RANGES.items():
        if name not in hparams:
            continue
        value = hparams.get(name)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue  # the set's own type is enforced by parse
        below = value <= low if low_open else value < low
        above = high is not None and (value >= high if high_open else value > high)
        if below or above or value != value:  # NaN is outside every range
            raise HParamsError(f"hparam {name}={value!r} is out of range: {name} must be "
                               f"{_range_text(low, high, low_open, high_open)} ({what}; --hparams={name}=...)")


def check_packed_batch(hparams) -> None:
    """With ``packed`` (and a token-budget ``batch_size``): refuses a batch_size below
    packed_length, which would silently become one packed row of packed_length tokens."""
    packed_length = hparams.get("packed_length", 0) if "packed_length" in hparams else 0
    if hparams.get("packed", False) and "batch_size" in hparams and not hparams.get("use_fixed_batch_size", False):
        length = int(packed_length or hparams.get("max_length", 0) or 256)
        if hparams.get("batch_size") < length:
            raise HParamsError(
                f"packed=true with batch_size={hparams.get('batch_size')} < packed_length={length}: a packed "
                f"batch holds batch_size // packed_length rows of packed_length tokens, so batch_size (tokens) "
                f"must be >= packed_length; raise batch_size to {length} or more, or lower packed_length")


#: Keys of ``basic_params1`` kept so that sets written for T2T read the same, but not
#: implemented by t2x: ``{key: (the value that means "off", why)}``. A model is not built
#: with any other value (``check_implemented``), so nothing is accepted and then ignored.
UNIMPLEMENTED_HPARAMS = {
    "weight_dtype": ("float32", "weights stay float32 (mixed precision keeps float32 master weights); "
                     "for bfloat16 or float16 compute set activation_dtype instead"),
    "weight_noise": (0.0, "weight noise is not implemented"),
    "grad_noise_scale": (0.0, "gradient noise is not implemented"),
    "kernel_height": (3, "no t2x model reads it (T2T's basic conv kernel)"),
    "kernel_width": (1, "no t2x model reads it (T2T's basic conv kernel)"),
}


def check_implemented(hparams) -> None:
    """Refuses an hparams set whose T2T-compatibility-only keys (``UNIMPLEMENTED_HPARAMS``)
    are moved off their "off" value: an HParamsError naming the key, its value and why."""
    for key, (off, why) in UNIMPLEMENTED_HPARAMS.items():
        value = hparams.get(key, off)
        if value != off:
            raise HParamsError(f"hparam {key}={value!r} is not supported: {why}; leave it at {off!r}")


class RangedHParams:
    """A search space for ``@register_ranged_hparams`` functions (T2T's API)::

        @registry.register_ranged_hparams
        def basic_fc_range(rhp):
            rhp.set_float("learning_rate", 0.05, 5.0, scale=rhp.LOG_SCALE)
            rhp.set_discrete("hidden_size", [128, 256, 512, 1024])
            rhp.set_categorical("initializer", ["orthogonal", "uniform_unit_scaling"])

    Each ``set_*`` records ``name -> spec`` (``specs()``); ``t2x-tuner`` hands the specs to
    its search library, ``sample(rng)`` draws one point uniformly (log-uniformly on a log
    scale) for tests and random search. ``check(hparams)`` refuses a name the hparams set
    does not have, naming the nearest keys.
    """

    LINEAR_SCALE, LOG_SCALE, REVERSE_LOG_SCALE = "LINEAR_SCALE", "LOG_SCALE", "REVERSE_LOG_SCALE"
    LINEAR, LOG = LINEAR_SCALE, LOG_SCALE  # short names

    def __init__(self):
        self._specs: Dict[str, Dict[str, Any]] = {}

    def _set(self, name, spec):
        if name in self._specs:
            raise HParamsError(f"ranged hparam '{name}' is set twice")
        self._specs[name] = spec

    def set_categorical(self, name, categories, length=None):
        del length  # T2T's multivalent hparams are not supported
        if not categories:
            raise HParamsError(f"ranged hparam '{name}': no categories")
        self._set(name, {"type": "categorical", "values": list(categories)})

    def set_discrete(self, name, values, scale=None, length=None):
        del scale, length  # T2T passed a scale for discrete values; every value is listed here
        if not values:
            raise HParamsError(f"ranged hparam '{name}': no values")
        self._set(name, {"type": "discrete", "values": sorted(values)})

    def set_float(self, name, low, high, scale=LINEAR_SCALE, length=None):
        del length
        self._check_range(name, low, high, scale)
        self._set(name, {"type": "float", "min": float(low), "max": float(high), "scale": scale})

    def set_int(self, name, low, high, scale=LINEAR_SCALE, length=None):
        del length
        self._check_range(name, low, high, scale)
        self._set(name, {"type": "int", "min": int(low), "max": int(high), "scale": scale})

    def _check_range(self, name, low, high, scale):
        if not low < high:
            raise HParamsError(f"ranged hparam '{name}': low {low} must be < high {high}")
        if scale not in (self.LINEAR_SCALE, self.LOG_SCALE, self.REVERSE_LOG_SCALE):
            raise HParamsError(f"ranged hparam '{name}': unknown scale {scale!r}; use LINEAR_SCALE or LOG_SCALE")
        if scale != self.LINEAR_SCALE and low <= 0:
            raise HParamsError(f"ranged hparam '{name}': a log scale needs low > 0, got {low}")

    def specs(self) -> Dict[str, Dict[str, Any]]:
        return copy.deepcopy(self._specs)

    def sample(self, rng) -> Dict[str, Any]:
        """One point of the space drawn with ``rng`` (a ``random.Random``)."""
        import math

        point = {}
        for name, spec in self._specs.items():
            if spec["type"] in ("categorical", "discrete"):
                point[name] = rng.choice(spec["values"])
                continue
            lo, hi = spec["min"], spec["max"]
            if spec["scale"] == self.LINEAR_SCALE:
                value = rng.uniform(lo, hi)
            else:
                value = math.exp(rng.uniform(math.log(lo), math.log(hi)))
            point[name] = min(max(int(round(value)), lo), hi) if spec["type"] == "int" else value
        return point

    def check(self, hparams) -> None:
        """Every ranged name is an hparam of ``hparams`` (an ``HParams``), or an error
        naming the nearest keys."""
        for name in self._specs:
            if name not in hparams:
                close = closest_names(name, list(hparams.keys()))
                hint = f" (did you mean {', '.join(close)}?)" if close else ""
                raise HParamsError(f"ranged hparam '{name}' is not an hparam of the set{hint}")
