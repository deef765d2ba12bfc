"""Optimizers from hparams, gradient clipping and T2T's weight decay.

``make_optimizer(hparams, learning_rate)`` returns a Keras 3 optimizer chosen by
``hparams.optimizer`` (case-insensitive; underscores and dashes are ignored, so T2T's
spellings work: ``Adam``, ``RMSProp``/``rms_prop``, ``adam_w``, ``true_adam``):

=============  =================================  ========================================
name           Keras 3 optimizer                  hparams
=============  =================================  ========================================
``adam``       ``Adam``                           ``optimizer_adam_beta1`` -> ``beta_1``,
                                                  ``optimizer_adam_beta2`` -> ``beta_2``,
                                                  ``optimizer_adam_epsilon`` -> ``epsilon``
``adamw``      ``AdamW``                          the Adam ones, and ``weight_decay``
                                                  (decoupled: Keras decays by
                                                  ``lr * weight_decay`` per step)
``momentum``   ``SGD(momentum=, nesterov=)``      ``optimizer_momentum_momentum``,
                                                  ``optimizer_momentum_nesterov``
``sgd``        ``SGD``                            none
``rmsprop``    ``RMSprop``                        ``optimizer_rmsprop_decay`` -> ``rho``,
                                                  ``optimizer_rmsprop_momentum``,
                                                  ``optimizer_rmsprop_epsilon``,
                                                  ``optimizer_rmsprop_centered``
``adafactor``  ``Adafactor``                      ``optimizer_adafactor_memory_exponent``
                                                  -> ``beta_2_decay = -exponent``,
                                                  ``optimizer_adafactor_clipping_threshold``
                                                  -> ``clip_threshold``
=============  =================================  ========================================

T2T's "adam" was LazyAdam (sparse-friendly); Keras's Adam updates all rows, with the
same formula (epsilon added to ``sqrt(v)``). RMSprop's defaults are TF1's
``RMSPropOptimizer``'s, which T2T's "RMSProp" used (decay 0.9, momentum 0, epsilon 1e-10).
Keras's Adafactor is T2T's Adafactor with its default settings, which the remaining T2T
hparams must keep: ``optimizer_adafactor_beta1 = 0`` (no first moment),
``optimizer_adafactor_decay_type = "pow"`` (second-moment decay ``1 - (step+1)**-exponent``),
``optimizer_adafactor_factored = True`` and
``optimizer_adafactor_multiply_by_parameter_scale = True``; other values are refused
rather than ignored. Unlike T2T's, Keras's Adafactor caps the step size at
``min(learning_rate, 1/sqrt(step+1))``.

No optimizer clips gradients: the training step clips with :func:`clip_gradients`, which
also returns the global norm for the summaries. Weight decay, T2T-style, is an L2 term
added to the loss: :func:`weight_decay_loss` with :func:`l2_weight_decay_rate`.
"""

import inspect
import numbers
from typing import Iterable, List, Optional, Sequence, Tuple

import keras
import tensorflow as tf

from t2x.errors import ConfigError, did_you_mean
from t2x.hparam import get_hparam
from t2x.training.learning_rate import T2XLearningRate

__all__ = [
    "OPTIMIZER_NAMES",
    "canonical_optimizer_name",
    "make_optimizer",
    "clip_gradients",
    "weight_decay_loss",
    "l2_weight_decay_rate",
]

#: Canonical optimizer names (``hparams.optimizer`` is matched case-insensitively).
OPTIMIZER_NAMES = ("adam", "adamw", "momentum", "sgd", "rmsprop", "adafactor")
_ALIASES = {"trueadam": "adam"}  # T2T's "true_adam" (tf.train.AdamOptimizer)




def canonical_optimizer_name(name: str) -> str:
    """``"Adam"`` -> ``"adam"``, ``"RMSProp"``/``"rms_prop"`` -> ``"rmsprop"``, ...

    Raises:
      ValueError: unknown name; the message names the valid ones and the nearest.
    """
    key = str(name).strip().lower().replace("_", "").replace("-", "")
    key = _ALIASES.get(key, key)
    if key not in OPTIMIZER_NAMES:
        hint = did_you_mean(key, OPTIMIZER_NAMES, n=2, cutoff=0.5, prefix="; did you mean ", joiner=", ")
        raise ConfigError(
            f"unknown optimizer {name!r} (hparams.optimizer){hint} Valid names: "
            f"{', '.join(OPTIMIZER_NAMES)} (case-insensitive; T2T spellings such as "
            f"Adam, RMSProp, adam_w and true_adam are accepted)")
    return key


class _StepFunctionSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Adapts a plain ``lr(step)`` function to Keras (not serializable: prefer
    ``T2XLearningRate`` when the optimizer's config is saved)."""

    def __init__(self, fn):
        self._fn = fn

    def __call__(self, step):
        return self._fn(step)


def _takes_step(fn) -> bool:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return True
    return any(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
               for p in params)


def _keras_learning_rate(learning_rate, hparams, train_steps):
    if learning_rate is None:
        return T2XLearningRate(hparams, train_steps)
    if isinstance(learning_rate, keras.optimizers.schedules.LearningRateSchedule):
        return learning_rate
    if isinstance(learning_rate, numbers.Real) and not isinstance(learning_rate, bool):
        return float(learning_rate)
    if callable(learning_rate):
        # A function of the step (as learning_rate_schedule returns) is adapted; a
        # zero-argument callable is Keras's own convention and is passed through.
        return _StepFunctionSchedule(learning_rate) if _takes_step(learning_rate) \
            else learning_rate
    raise ConfigError(
        f"learning_rate must be a float, a function of the step, a Keras "
        f"LearningRateSchedule or None (the hparams' schedule), got "
        f"{type(learning_rate).__name__} {learning_rate!r}")


def _adam_kwargs(hparams):
    return dict(beta_1=float(hparams.optimizer_adam_beta1),
                beta_2=float(hparams.optimizer_adam_beta2),
                epsilon=float(hparams.optimizer_adam_epsilon))


def _adam(hparams, lr):
    return keras.optimizers.Adam(learning_rate=lr, **_adam_kwargs(hparams))


def _adamw(hparams, lr):
    return keras.optimizers.AdamW(learning_rate=lr, weight_decay=float(hparams.weight_decay),
                                  **_adam_kwargs(hparams))


def _momentum(hparams, lr):
    return keras.optimizers.SGD(learning_rate=lr,
                                momentum=float(hparams.optimizer_momentum_momentum),
                                nesterov=bool(hparams.optimizer_momentum_nesterov))


def _sgd(hparams, lr):
    return keras.optimizers.SGD(learning_rate=lr)


def _rmsprop(hparams, lr):
    return keras.optimizers.RMSprop(
        learning_rate=lr,
        rho=float(get_hparam(hparams, "optimizer_rmsprop_decay", 0.9)),
        momentum=float(get_hparam(hparams, "optimizer_rmsprop_momentum", 0.0)),
        epsilon=float(get_hparam(hparams, "optimizer_rmsprop_epsilon", 1e-10)),
        centered=bool(get_hparam(hparams, "optimizer_rmsprop_centered", False)))


def _adafactor(hparams, lr):
    fixed = (  # (hparam, the only value Keras's Adafactor implements, why)
        ("optimizer_adafactor_beta1", 0.0, "Keras's Adafactor keeps no first moment"),
        ("optimizer_adafactor_decay_type", "pow", "Keras's Adafactor decays the second "
         "moment as 1 - (step+1)**-optimizer_adafactor_memory_exponent only"),
        ("optimizer_adafactor_factored", True, "Keras's Adafactor always factors the "
         "second moment of matrices"),
        ("optimizer_adafactor_multiply_by_parameter_scale", True, "Keras's Adafactor "
         "always scales the step by the parameter's RMS"),
    )
    for name, supported, why in fixed:
        value = get_hparam(hparams, name, supported)
        if value != supported:
            raise ConfigError(f"hparams.{name}={value!r} is not supported: {why}. Set "
                             f"{name}={supported!r} or choose another optimizer")
    exponent = float(get_hparam(hparams, "optimizer_adafactor_memory_exponent", 0.8))
    return keras.optimizers.Adafactor(
        learning_rate=lr,
        beta_2_decay=-exponent,
        clip_threshold=float(get_hparam(hparams, "optimizer_adafactor_clipping_threshold", 1.0)),
        relative_step=False)


_BUILDERS = {
    "adam": _adam,
    "adamw": _adamw,
    "momentum": _momentum,
    "sgd": _sgd,
    "rmsprop": _rmsprop,
    "adafactor": _adafactor,
}
assert tuple(_BUILDERS) == OPTIMIZER_NAMES


def make_optimizer(hparams, learning_rate=None, *,
                   train_steps: Optional[int] = None) -> keras.optimizers.Optimizer:
    """The Keras 3 optimizer named by ``hparams.optimizer``, wired to its hparams.

    Args:
      hparams: ``HParams`` with ``optimizer`` and that optimizer's hparams (see the
        module docstring).
      learning_rate: a float; a Keras ``LearningRateSchedule`` (e.g. ``T2XLearningRate``);
        a function of the step such as ``learning_rate_schedule(hparams)`` returns
        (adapted to a schedule, which Keras then calls with ``optimizer.iterations``); or
        None for ``T2XLearningRate(hparams, train_steps)``.
      train_steps: passed to the schedule built when ``learning_rate`` is None.

    Returns:
      An unbuilt ``keras.optimizers.Optimizer`` (it creates its slots on first use), with
      no gradient clipping and no weight decay except AdamW's own.

    Raises:
      ValueError: unknown optimizer name (naming the valid ones), a bad learning_rate,
        or Adafactor hparams that Keras's Adafactor does not implement.
    """
    key = canonical_optimizer_name(get_hparam(hparams, "optimizer"))
    return _BUILDERS[key](hparams, _keras_learning_rate(learning_rate, hparams, train_steps))


def clip_gradients(grads: Sequence[Optional[tf.Tensor]],
                   clip_norm: Optional[float]) -> Tuple[List[Optional[tf.Tensor]], tf.Tensor]:
    """Clips gradients by their global norm (T2T's ``clip_grad_norm``).

    Runs inside the compiled train step, between ``tape.gradient`` and
    ``optimizer.apply_gradients``.

    Args:
      grads: gradients, one per variable; ``None`` entries (variables the loss does not
        reach) and ``tf.IndexedSlices`` are allowed and kept as they are.
      clip_norm: the largest global norm allowed; 0 or None: no clipping.

    Returns:
      ``(clipped_grads, global_norm)``: when the global norm
      ``sqrt(sum of all squared entries)`` exceeds ``clip_norm`` every gradient is scaled
      by ``clip_norm / global_norm``; ``global_norm`` is the norm *before* clipping (the
      summary to log), also when nothing is clipped.
    """
    grads = list(grads)
    if clip_norm is not None and clip_norm < 0:
        raise ConfigError(f"clip_norm must be >= 0 (0 or None: no clipping), got {clip_norm!r}")
    if not clip_norm:
        return grads, tf.linalg.global_norm(grads)
    clipped, global_norm = tf.clip_by_global_norm(grads, clip_norm)
    return list(clipped), global_norm


def _is_bias(variable) -> bool:
    """T2T's bias test (rank 1, name ending in "bias"), plus Keras's normalization offset
    "beta", the counterpart of T2T's ``layer_norm_bias``."""
    if len(variable.shape) != 1:
        return False
    name = str(getattr(variable, "path", None) or getattr(variable, "name", "") or "")
    name = name.split(":")[0].rsplit("/", 1)[-1]
    return name.endswith("bias") or name == "beta"


def weight_decay_loss(variables: Iterable, rate: Optional[float],
                      skip_biases: bool = True) -> tf.Tensor:
    """T2T's weight decay: ``rate * sum(l2_loss(v))`` over ``variables``, a loss term.

    ``l2_loss(v) = sum(v ** 2) / 2`` (``tf.nn.l2_loss``), so the gradient of the term is
    ``rate * v``. As T2T's ``optimize.weight_decay(decay_rate, var_list,
    skip_biases=True)``, biases are skipped: variables of rank 1 whose name ends in
    ``bias`` (and Keras's ``beta`` offsets of normalization layers, T2T's
    ``layer_norm_bias``). Other variables, normalization scales included, are decayed,
    as in T2T.

    Called inside the train step on the trainable variables; add the result to the loss
    before taking gradients.

    Args:
      variables: tf or Keras variables (usually ``model.trainable_variables``).
      rate: ``hparams.weight_decay`` (see :func:`l2_weight_decay_rate`); 0/None -> 0.
      skip_biases: False decays biases too.

    Returns:
      A float32 scalar tensor (0.0 when ``rate`` is 0 or nothing is decayed).
    """
    if not rate:
        return tf.constant(0.0, tf.float32)
    terms = [tf.nn.l2_loss(tf.cast(v, tf.float32)) for v in variables
             if not (skip_biases and _is_bias(v))]
    if not terms:
        return tf.constant(0.0, tf.float32)
    return tf.add_n(terms) * float(rate)


def l2_weight_decay_rate(hparams) -> float:
    """The rate to give :func:`weight_decay_loss`: ``hparams.weight_decay``, or 0 for
    ``adamw``, whose optimizer already decays the weights with it (T2T added both for
    ``adam_w``, decaying twice)."""
    if canonical_optimizer_name(get_hparam(hparams, "optimizer")) == "adamw":
        return 0.0
    return float(get_hparam(hparams, "weight_decay", 0.0) or 0.0)
