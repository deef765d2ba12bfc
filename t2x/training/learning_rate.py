"""Learning-rate schedules with Tensor2Tensor's semantics.

A schedule is read from hparams and turned into a function of the training step::

    lr = learning_rate_schedule(hparams, train_steps=10000)
    lr(0), lr(50), lr(tf_variable_step)      # float32 scalar tensors

or, for a Keras optimizer, into a ``LearningRateSchedule`` driven by the optimizer's own
iteration counter::

    optimizer = keras.optimizers.Adam(T2XLearningRate(hparams, train_steps=10000))

The step is the number of updates applied so far: the first update runs at step 0, as
T2T's global step and Keras's ``optimizer.iterations``. Everything is validated when the
schedule is built (unknown factor, unknown decay scheme, missing ``train_steps``...), not
at the first step; the returned function only does tensor arithmetic, so it runs eagerly,
inside a ``tf.function`` and on any device.

The product string
------------------
``hparams.learning_rate_schedule`` is a product of factors separated by ``*``, as in T2T::

    rate(step) = factor_1(step) * factor_2(step) * ...

with ``w = learning_rate_warmup_steps``, ``d = learning_rate_decay_steps`` and ``s`` the step:

=========================  ==========================================================
``constant``               ``learning_rate_constant``
``linear_warmup``          ``min(1, s / w)``  (1 when ``w`` is 0)
``linear_decay``           ``clip((train_steps - s) / d, 0, 1)``: flat, then linear to 0
                           over the last ``d`` steps; needs ``train_steps``
``rsqrt_decay``            ``1 / sqrt(max(s, w))``
``rsqrt_normalized_decay`` ``sqrt(w) / sqrt(max(s, w))``: 1 until ``w``, then rsqrt
``exp_decay``              ``learning_rate_decay_rate ** max((s - w) / d, 0)``, the
                           exponent floored when ``learning_rate_decay_staircase``
``rsqrt_hidden_size``      ``hidden_size ** -0.5``
``cosdecay``               1 while ``s <= w``, then ``0.5 * (1 + cos(pi * s / d))``
                           (OpenAI GPT's; note ``s``, not ``s - w``)
``single_cycle_cos_decay`` ``0.5 * (1 + cos(pi * (max(s, w) - w) / d))``: 1 at the end
                           of warmup, 0 at ``w + d`` (and back up after, as in T2T)
``piecewise``              the piecewise multiplier below (a t2x addition as a factor)
``legacy``                 T2T's whole legacy schedule, below
=========================  ==========================================================

In ``rsqrt_decay`` and ``rsqrt_normalized_decay`` a step below 1 counts as 1 when ``w``
is 0 (T2T divided by zero there). Worked example, ``constant*linear_warmup*rsqrt_decay``
with ``learning_rate_constant=2``, ``w=100``: step 50 gives ``2 * 0.5 * 1/sqrt(100) = 0.1``;
step 400 gives ``2 * 1 * 1/sqrt(400) = 0.1``; the peak, ``0.2``, is at step 100.

``legacy`` (T2T's ``legacy_learning_rate_schedule``)
----------------------------------------------------
::

    legacy(s) = learning_rate * correction * (warmup(s) if s < w else decay(s))

- ``correction = 0.002`` when the optimizer is Adam-like (``"adam"`` is in
  ``hparams.optimizer``, case-insensitively: adam, Adam, adamw, true_adam...), else 1.
  **This 0.002 is T2T's**: ``optimizer_correction = 0.002 if "adam" in hparams.optimizer
  else 1.0`` in ``legacy_learning_rate_schedule`` of ``tensor2tensor/utils/learning_rate.py``
  (older T2T spelt the test ``"Adam" in hparams.optimizer``, when optimizer names were
  CamelCase). It lets one ``learning_rate=0.1`` serve both SGD-like optimizers and Adam
  (0.1 * 0.002 = 2e-4). It applies under ``legacy`` only, never in the other factors.
- ``warmup(s)`` (``learning_rate_warmup_schedule``; T2T's ``_learning_rate_warmup``):
  ``"exp"`` (T2T's only choice in legacy) is ``0.01 ** (1 - s / w)``, rising from 0.01 at
  step 0 to 1 at ``w``; ``"linear"`` is ``0.35 + 0.65 * s / w``. With ``w = 0`` there is no
  warmup.
- ``decay(s)`` by ``learning_rate_decay_scheme``:

  ==================  ========================================================
  ``none``            1
  ``noam``            replaces warmup and decay altogether:
                      ``5000 / sqrt(hidden_size) * min((s+1) * w**-1.5, (s+1)**-0.5)``
  ``exp``             ``learning_rate_decay_rate ** ((s - w) / d)`` (floored exponent
                      when ``learning_rate_decay_staircase``)
  ``sqrt``            ``500 / sqrt(max(s - w, 1))``
  ``cosine``          cycles between 1 and 0 every ``c = learning_rate_cosine_cycle_steps``:
                      ``0.5 * (1 + cos(pi * p / c))`` with ``p = c - |c - (s mod 2c)|``
  ``cyclelinear10x``  linear between 0.3 and 3.3 and back, period ``2w``
  ``piecewise``       the piecewise multiplier below
  ==================  ========================================================

Piecewise
---------
``learning_rate_boundaries = [b1, b2, ...]`` (steps, increasing) and
``learning_rate_multiples = [m1, m2, ...]`` (same length) give a multiplier of 1 up to and
including step ``b1``, ``m1`` after ``b1`` up to and including ``b2``, and so on. Multiples
are not cumulative (T2T's ``_piecewise_learning_rate`` over ``tf.train.piecewise_constant``).
With ``b = [100, 200]`` and ``m = [0.1, 0.01]``: step 100 -> 1, step 101 -> 0.1,
step 201 -> 0.01.

Floor
-----
When ``learning_rate_minimum`` is set (not None/0), the final rate is
``max(rate, learning_rate_minimum)`` (as T2T's ``T2TModel.optimize`` applied it in 2018).
"""

import copy
import math
import numbers
from typing import Callable, Optional

import keras
import tensorflow as tf

from t2x.errors import ConfigError, closest_names, did_you_mean
from t2x.hparam import HParams, get_hparam

__all__ = [
    "FACTOR_NAMES",
    "DECAY_SCHEMES",
    "WARMUP_SCHEDULES",
    "learning_rate_schedule",
    "T2XLearningRate",
]

#: Factor names accepted in ``hparams.learning_rate_schedule``.
FACTOR_NAMES = (
    "constant",
    "linear_warmup",
    "linear_decay",
    "rsqrt_decay",
    "rsqrt_normalized_decay",
    "exp_decay",
    "rsqrt_hidden_size",
    "cosdecay",
    "single_cycle_cos_decay",
    "piecewise",
    "legacy",
)
#: Values of ``hparams.learning_rate_decay_scheme`` (used by the ``legacy`` factor).
DECAY_SCHEMES = ("none", "noam", "exp", "sqrt", "cosine", "cyclelinear10x", "piecewise")
#: Values of ``hparams.learning_rate_warmup_schedule`` (used by the ``legacy`` factor).
WARMUP_SCHEDULES = ("exp", "linear")

# Hparams a schedule may read besides those starting with "learning_rate".
_OTHER_SCHEDULE_HPARAMS = ("hidden_size", "optimizer", "train_steps")

StepFn = Callable[[tf.Tensor], tf.Tensor]


# ---------------------------------------------------------------------------- helpers


def _nearest(name, choices):
    return did_you_mean(name, choices, cutoff=0.5, prefix="; did you mean ", joiner=", ")


def _as_float_step(step) -> tf.Tensor:
    """A step (int, float, tensor, tf/Keras variable) as a float32 tensor."""
    if isinstance(step, numbers.Number):
        return tf.constant(float(step), tf.float32)
    return tf.cast(step, tf.float32)


def _const(value: float) -> StepFn:
    value = float(value)
    return lambda s: tf.fill(tf.shape(s), value)


def _positive(hparams, name, factor, allow_zero=False) -> float:
    value = get_hparam(hparams, name)
    if value is None or value < 0 or (value == 0 and not allow_zero):
        need = ">= 0" if allow_zero else "> 0"
        raise ConfigError(f"learning-rate {factor} needs hparams.{name} {need}, got {value!r}")
    return float(value)


def _piecewise_fn(hparams, where: str) -> StepFn:
    """T2T's non-cumulative piecewise multiplier; validated here."""
    boundaries = list(get_hparam(hparams, "learning_rate_boundaries", []) or [])
    multiples = list(get_hparam(hparams, "learning_rate_multiples", []) or [])
    if len(boundaries) != len(multiples):
        raise ConfigError(
            f"{where} needs as many hparams.learning_rate_multiples as "
            f"hparams.learning_rate_boundaries, got boundaries={boundaries} and "
            f"multiples={multiples}")
    if any(b >= a for b, a in zip(boundaries, boundaries[1:])):
        raise ConfigError(f"{where}: hparams.learning_rate_boundaries must be strictly "
                         f"increasing, got {boundaries}")
    pairs = [(float(b), float(m)) for b, m in zip(boundaries, multiples)]

    def fn(s):
        value = tf.ones_like(s)
        for boundary, multiple in pairs:  # increasing: the last passed boundary wins
            value = tf.where(s > boundary, multiple, value)
        return value

    return fn


# ------------------------------------------------------------------ product factors
def _constant(hparams, train_steps):
    return _const(get_hparam(hparams, "learning_rate_constant"))


def _linear_warmup(hparams, train_steps):
    warmup = _positive(hparams, "learning_rate_warmup_steps", "factor 'linear_warmup'", True)
    if warmup == 0:
        return _const(1.0)
    return lambda s: tf.minimum(1.0, s / warmup)


def _linear_decay(hparams, train_steps):
    if train_steps is None:
        raise ConfigError(
            "learning-rate factor 'linear_decay' needs the number of training steps: "
            "pass train_steps= to learning_rate_schedule()/T2XLearningRate (the trainer "
            "passes --train_steps)")
    decay_steps = _positive(hparams, "learning_rate_decay_steps", "factor 'linear_decay'")
    train_steps = float(train_steps)
    return lambda s: tf.clip_by_value((train_steps - s) / decay_steps, 0.0, 1.0)


def _rsqrt_floor(hparams, factor):
    warmup = _positive(hparams, "learning_rate_warmup_steps", factor, True)
    return warmup, max(warmup, 1.0)


def _rsqrt_decay(hparams, train_steps):
    _, floor = _rsqrt_floor(hparams, "factor 'rsqrt_decay'")
    return lambda s: tf.math.rsqrt(tf.maximum(s, floor))


def _rsqrt_normalized_decay(hparams, train_steps):
    warmup, floor = _rsqrt_floor(hparams, "factor 'rsqrt_normalized_decay'")
    scale = math.sqrt(warmup) if warmup else 1.0
    return lambda s: scale * tf.math.rsqrt(tf.maximum(s, floor))


def _exp_decay(hparams, train_steps):
    warmup = _positive(hparams, "learning_rate_warmup_steps", "factor 'exp_decay'", True)
    decay_steps = _positive(hparams, "learning_rate_decay_steps", "factor 'exp_decay'")
    rate = float(get_hparam(hparams, "learning_rate_decay_rate"))
    staircase = bool(get_hparam(hparams, "learning_rate_decay_staircase", False))

    def fn(s):
        p = tf.maximum((s - warmup) / decay_steps, 0.0)
        if staircase:
            p = tf.floor(p)
        return tf.pow(rate, p)

    return fn


def _rsqrt_hidden_size(hparams, train_steps):
    hidden = get_hparam(hparams, "hidden_size")
    if not hidden or hidden <= 0:
        raise ConfigError(f"learning-rate factor 'rsqrt_hidden_size' needs "
                         f"hparams.hidden_size > 0, got {hidden!r}")
    return _const(float(hidden) ** -0.5)


def _cosdecay(hparams, train_steps):
    warmup = _positive(hparams, "learning_rate_warmup_steps", "factor 'cosdecay'", True)
    decay_steps = _positive(hparams, "learning_rate_decay_steps", "factor 'cosdecay'")

    def fn(s):
        decayed = 0.5 * (1.0 + tf.cos(math.pi * s / decay_steps))
        return tf.where(s <= warmup, 1.0, decayed)

    return fn


def _single_cycle_cos_decay(hparams, train_steps):
    factor = "factor 'single_cycle_cos_decay'"
    warmup = _positive(hparams, "learning_rate_warmup_steps", factor, True)
    decay_steps = _positive(hparams, "learning_rate_decay_steps", factor)

    def fn(s):
        since_warmup = tf.maximum(s, warmup) - warmup
        return 0.5 * tf.cos(math.pi * since_warmup / decay_steps) + 0.5

    return fn


def _piecewise(hparams, train_steps):
    return _piecewise_fn(hparams, "learning-rate factor 'piecewise'")


def _legacy(hparams, train_steps):
    return _legacy_schedule(hparams)


_FACTORS = {
    "constant": _constant,
    "linear_warmup": _linear_warmup,
    "linear_decay": _linear_decay,
    "rsqrt_decay": _rsqrt_decay,
    "rsqrt_normalized_decay": _rsqrt_normalized_decay,
    "exp_decay": _exp_decay,
    "rsqrt_hidden_size": _rsqrt_hidden_size,
    "cosdecay": _cosdecay,
    "single_cycle_cos_decay": _single_cycle_cos_decay,
    "piecewise": _piecewise,
    "legacy": _legacy,
}
assert tuple(_FACTORS) == FACTOR_NAMES


# -------------------------------------------------------------------------- legacy
def _adam_correction(hparams) -> float:
    """T2T's legacy Adam factor: 0.002 when "adam" is in the optimizer name, else 1."""
    optimizer = str(get_hparam(hparams, "optimizer", "") or "")
    return 0.002 if "adam" in optimizer.lower() else 1.0


def _legacy_warmup(warmup: float, schedule: str) -> StepFn:
    """T2T's ``_learning_rate_warmup``: exp from 0.01 to 1, or linear from 0.35 to 1."""
    if not warmup:
        return _const(1.0)
    if schedule == "exp":
        return lambda s: tf.pow(0.01, 1.0 - s / warmup)
    return lambda s: 0.35 + (0.65 / warmup) * s


def _legacy_decay(hparams, scheme: str, warmup: float) -> StepFn:
    """T2T's ``_learning_rate_decay`` for ``scheme`` (not "noam"), validated here."""
    if scheme == "none":
        return _const(1.0)
    if scheme == "exp":
        decay_steps = _positive(hparams, "learning_rate_decay_steps", "decay scheme 'exp'")
        rate = float(get_hparam(hparams, "learning_rate_decay_rate"))
        staircase = bool(get_hparam(hparams, "learning_rate_decay_staircase", False))

        def exp_fn(s):
            p = (s - warmup) / decay_steps
            if staircase:
                p = tf.floor(p)
            return tf.pow(rate, p)

        return exp_fn
    if scheme == "piecewise":
        return _piecewise_fn(hparams, "learning-rate decay scheme 'piecewise'")
    if scheme == "cosine":
        cycle = _positive(hparams, "learning_rate_cosine_cycle_steps", "decay scheme 'cosine'")

        def cosine_fn(s):
            position = tf.math.floormod(s, 2.0 * cycle)
            position = cycle - tf.abs(cycle - position)
            return 0.5 * (1.0 + tf.cos(math.pi * position / cycle))

        return cosine_fn
    if scheme == "cyclelinear10x":
        if not warmup:
            raise ConfigError("learning-rate decay scheme 'cyclelinear10x' cycles every "
                             "hparams.learning_rate_warmup_steps, which must be > 0")

        def cyclelinear_fn(s):
            position = (tf.math.floormod(s, 2.0 * warmup) - warmup) / warmup  # [-1, 1)
            return (1.0 - tf.abs(position) + 0.1) * 3.0  # 0.3 .. 3.3

        return cyclelinear_fn
    if scheme == "sqrt":
        return lambda s: 500.0 / tf.sqrt(tf.maximum(s - warmup, 1.0))
    raise AssertionError(scheme)  # schemes are validated by the caller


def _legacy_schedule(hparams) -> StepFn:
    """T2T's ``legacy_learning_rate_schedule`` (see the module docstring)."""
    warmup = _positive(hparams, "learning_rate_warmup_steps", "factor 'legacy'", True)
    scheme = get_hparam(hparams, "learning_rate_decay_scheme", "none") or "none"
    if scheme not in DECAY_SCHEMES:
        raise ConfigError(
            f"unknown learning_rate_decay_scheme {scheme!r}{_nearest(scheme, DECAY_SCHEMES)} "
            f"(valid: {', '.join(DECAY_SCHEMES)})")
    scale = float(get_hparam(hparams, "learning_rate")) * _adam_correction(hparams)

    if scheme == "noam":
        hidden = get_hparam(hparams, "hidden_size")
        if not hidden or hidden <= 0:
            raise ConfigError(f"learning-rate decay scheme 'noam' needs hparams.hidden_size "
                             f"> 0, got {hidden!r}")
        noam_scale = scale * 5000.0 * float(hidden) ** -0.5
        if warmup:
            warmup_slope = warmup ** -1.5
            return lambda s: noam_scale * tf.minimum((s + 1.0) * warmup_slope,
                                                     tf.math.rsqrt(s + 1.0))
        return lambda s: noam_scale * tf.math.rsqrt(s + 1.0)

    warmup_schedule = get_hparam(hparams, "learning_rate_warmup_schedule", "exp") or "exp"
    if warmup_schedule not in WARMUP_SCHEDULES:
        raise ConfigError(
            f"unknown learning_rate_warmup_schedule {warmup_schedule!r}"
            f"{_nearest(warmup_schedule, WARMUP_SCHEDULES)} "
            f"(valid: {', '.join(WARMUP_SCHEDULES)})")
    warmup_fn = _legacy_warmup(warmup, warmup_schedule)
    decay_fn = _legacy_decay(hparams, scheme, warmup)
    return lambda s: scale * tf.where(s < warmup, warmup_fn(s), decay_fn(s))


# ------------------------------------------------------------------------ public API
def parse_factor_names(schedule: str):
    """``"constant * linear_warmup*rsqrt_decay"`` -> ``["constant", "linear_warmup",
    "rsqrt_decay"]``; an unknown name raises ``ValueError`` naming the nearest valid ones."""
    if not isinstance(schedule, str):
        raise ConfigError(f"hparams.learning_rate_schedule must be a string like "
                         f"'constant*linear_warmup*rsqrt_decay', got {schedule!r}")
    names = [name.strip() for name in schedule.split("*") if name.strip()]
    for name in names:
        if name not in _FACTORS:
            close = closest_names(name, FACTOR_NAMES, cutoff=0.5)
            hint = (f"nearest valid factors: {', '.join(close)}" if close
                    else f"valid factors: {', '.join(FACTOR_NAMES)}")
            raise ConfigError(f"unknown learning-rate factor {name!r} in "
                             f"learning_rate_schedule={schedule!r}; {hint}")
    return names


def learning_rate_schedule(hparams, train_steps: Optional[int] = None) -> StepFn:
    """The learning rate as a function of the step, from ``hparams.learning_rate_schedule``.

    Args:
      hparams: an ``HParams`` (normally from ``basic_params1``) holding the
        ``learning_rate*`` hparams, ``hidden_size`` and ``optimizer``.
      train_steps: total number of training steps (``--train_steps``); needed by
        ``linear_decay`` only. Defaults to ``hparams.train_steps`` when that exists.

    Returns:
      ``lr(step)``: a plain Python callable. ``step`` is a Python int/float, a scalar
      int or float tensor, or a ``tf.Variable``/Keras variable (e.g. the optimizer's
      ``iterations``); it returns a float32 tensor of the step's shape. It is pure
      tensor arithmetic: safe inside ``tf.function`` (traced once for a tensor step) and
      under a distribution strategy.

    Raises:
      ValueError: now, not at the first step: unknown factor (naming the nearest),
        unknown decay scheme or warmup schedule, missing ``train_steps`` for
        ``linear_decay``, bad piecewise lists, non-positive step counts.
    """
    if train_steps is None:
        train_steps = get_hparam(hparams, "train_steps", None)
    names = parse_factor_names(get_hparam(hparams, "learning_rate_schedule"))
    factors = [_FACTORS[name](hparams, train_steps) for name in names]
    minimum = get_hparam(hparams, "learning_rate_minimum", None)
    minimum = float(minimum) if minimum else None

    def lr(step) -> tf.Tensor:
        s = _as_float_step(step)
        rate = tf.ones_like(s)
        for factor in factors:
            rate = rate * factor(s)
        if minimum is not None:
            rate = tf.maximum(rate, minimum)
        return rate

    lr.factor_names = tuple(names)
    return lr


@keras.saving.register_keras_serializable(package="t2x", name="T2XLearningRate")
class T2XLearningRate(keras.optimizers.schedules.LearningRateSchedule):
    """``learning_rate_schedule(hparams, train_steps)`` as a Keras 3 schedule.

    Pass it as ``learning_rate=`` to any Keras optimizer: the optimizer calls it with its
    own ``iterations`` counter at every update (and ``optimizer.learning_rate`` reads it
    at the current step). ``get_config`` keeps only the hparams a schedule reads (those
    starting with ``learning_rate`` plus ``hidden_size``, ``optimizer``, ``train_steps``),
    so the optimizer's config stays small and round-trips through ``from_config``.
    """

    def __init__(self, hparams, train_steps: Optional[int] = None):
        if isinstance(hparams, dict):
            hparams = HParams(**hparams)
        names = hparams.keys() if hasattr(hparams, "keys") else dir(hparams)
        self._schedule_hparams = {
            name: get_hparam(hparams, name) for name in names
            if name.startswith("learning_rate") or name in _OTHER_SCHEDULE_HPARAMS}
        self.train_steps = None if train_steps is None else int(train_steps)
        self._fn = learning_rate_schedule(hparams, self.train_steps)

    @property
    def factor_names(self):
        return self._fn.factor_names

    def __call__(self, step):
        return self._fn(step)

    def get_config(self):
        return {"hparams": copy.deepcopy(self._schedule_hparams),
                "train_steps": self.train_steps}

    @classmethod
    def from_config(cls, config):
        return cls(HParams(**config["hparams"]), config.get("train_steps"))
