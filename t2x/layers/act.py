"""Adaptive Computation Time (Graves 2016) as the universal transformer uses it (Dehghani et
al. 2019, T2T's ``universal_transformer_act``): each position decides when to stop revising
its state.

At every step ``t`` a halting unit reads the (step-prepared) state and gives each position a
halting probability ``p_t`` (``AdaptiveHalting``). A running position adds ``p_t`` to its
cumulative halting probability; the step at which the sum would pass ``1 - act_epsilon``
is its last: it gets the remainder ``R = 1 - sum so far`` as the weight of that step's
state, and stops. Positions still running after ``act_max_steps`` steps stop there (no
remainder). The output is the states weighted by these probabilities:

* ``act_type="basic"`` (T2T's default): ``out = w_t * state_t + (1 - w_t) * out``, a
  running blend (the UT paper's listing; T2T's code lost the parentheses of ``(1 - w_t)``);
* ``"accumulated"``: ``out = out + w_t * state_t`` (Graves' mean field);
* ``"global"``: one halting probability per example, the mean of its positions' (padding
  left out). It reads every position, so it is for encoders only (a causal decoder would
  see the future through it).

The state itself is revised at every step for every position (halted or not: other
positions may still attend to it); halting only freezes a position's *output*. So the
output of a position depends only on the steps up to its own halting, whatever the batch:
a position computed alone (cached decoding) gets what it gets in a batch.

The ponder cost is T2T's ``ponder_times + remainders`` per position (``N(t) + R(t)``,
the steps used plus the last remainder), averaged over the real positions; a model adds
``act_loss_weight`` times it to its loss.

``adaptive_computation`` runs the steps in a ``tf.while_loop`` that stops when every
position has halted (at most ``act_max_steps`` iterations); ``halting_update`` and
``blend`` are one step's arithmetic, for a caller that runs its own fixed loop (cached
decoding). Everything runs inside the compiled step.
"""

from typing import Callable, Optional

import keras
import tensorflow as tf

ACT_TYPES = ("basic", "accumulated", "global")


class AdaptiveHalting(keras.layers.Layer):
    """T2T's ``sigmoid_activation_for_pondering``: ``state [B, L, D]`` -> halting
    probabilities ``[B, L]`` float32, ``sigmoid(dense_1(state))`` with the dense bias
    initialised to ``bias_init`` (``act_halting_bias_init``; 1.0: ``p`` starts near 0.73)."""

    def __init__(self, bias_init: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.dense = keras.layers.Dense(1, bias_initializer=keras.initializers.Constant(bias_init),
                                        name="halting_dense")

    def call(self, state):
        return tf.sigmoid(tf.cast(self.dense(state), tf.float32))[..., 0]


def check_act_type(act_type: str, has_decoder: bool) -> None:
    """Raises ValueError for an ``act_type`` t2x does not implement, or ``"global"`` with a
    causal decoder."""
    if act_type not in ACT_TYPES:
        raise ValueError(f"act_type={act_type!r} is not supported; use one of {', '.join(ACT_TYPES)}")
    if act_type == "global" and has_decoder:
        raise ValueError("act_type='global' halts on the mean over all positions, which a causal "
                         "decoder cannot read (it would see the future): use 'basic' or 'accumulated', "
                         "or the encoder-only universal_transformer_encoder")


def global_probability(p, nonpadding=None):
    """``p [B, L]`` -> each example's mean over its real positions, broadcast to ``[B, L]``."""
    if nonpadding is None:
        mean = tf.reduce_mean(p, axis=1, keepdims=True)
    else:
        mean = tf.reduce_sum(p * nonpadding, axis=1, keepdims=True) / tf.maximum(
            tf.reduce_sum(nonpadding, axis=1, keepdims=True), 1.0)
    return tf.broadcast_to(mean, tf.shape(p))


def halting_update(p, halting_probability, remainders, n_updates, threshold: float):
    """One step of ACT's bookkeeping, all ``[B, L]`` float32: this step's halting
    probabilities ``p`` and the running sums -> ``(update_weights, halting_probability,
    remainders, n_updates)``. ``update_weights`` is ``p`` for a position that keeps running,
    its remainder for one that halts now, 0 for one already halted (its halting probability
    is then exactly 1)."""
    running = tf.cast(halting_probability < 1.0, tf.float32)
    total = halting_probability + p * running
    new_halted = tf.cast(total > threshold, tf.float32) * running
    still_running = tf.cast(total <= threshold, tf.float32) * running
    halting_probability = halting_probability + p * still_running
    remainders = remainders + new_halted * (1.0 - halting_probability)
    halting_probability = halting_probability * (1.0 - new_halted) + new_halted
    n_updates = n_updates + still_running + new_halted
    update_weights = p * still_running + new_halted * remainders
    return update_weights, halting_probability, remainders, n_updates


def blend(output, transformed, update_weights, act_type: str):
    """The output after one step: ``transformed`` (``[B, L, D]``) weighted by
    ``update_weights [B, L]`` into ``output`` (see the module docstring)."""
    w = tf.cast(update_weights, transformed.dtype)[..., None]
    if act_type == "accumulated":
        return output + transformed * w
    return transformed * w + output * (1.0 - w)


def adaptive_computation(state, prepare: Callable, transform: Callable, halting: AdaptiveHalting, *,
                         max_steps: int, epsilon: float, act_type: str = "basic", nonpadding=None):
    """ACT over ``state [B, L, D]``: at step ``t`` (0-based), ``prepared = prepare(state, t)``
    (timing signals), ``p = halting(prepared)``, ``state = transform(prepared)`` (the
    weight-tied layer); at most ``max_steps`` steps, fewer when every position has halted.

    ``nonpadding [B, L]`` (1.0 real, 0.0 padding; optional) marks padding positions halted
    from the start (they neither extend the loop nor count in the ponder cost) and keeps
    them out of ``"global"``'s mean. Returns ``(output [B, L, D], ponder_times [B, L],
    remainders [B, L])``; ``ponder_times`` is ``N(t)``, the steps a position used."""
    threshold = 1.0 - epsilon
    shape = tf.shape(state)[:2]
    if nonpadding is None:
        halting_probability = tf.zeros(shape, tf.float32)
    else:
        nonpadding = tf.cast(nonpadding, tf.float32)
        halting_probability = 1.0 - nonpadding  # padding: halted before the first step
    remainders = tf.zeros(shape, tf.float32)
    n_updates = tf.zeros(shape, tf.float32)
    output = tf.zeros_like(state)

    def should_continue(step, state, halting_probability, remainders, n_updates, output):
        del state, remainders, output
        return tf.logical_and(step < max_steps, tf.reduce_any(
            tf.logical_and(halting_probability < threshold, n_updates < max_steps)))

    def one_step(step, state, halting_probability, remainders, n_updates, output):
        prepared = prepare(state, step)
        p = halting(prepared)
        if act_type == "global":
            p = global_probability(p, nonpadding)
        weights, halting_probability, remainders, n_updates = halting_update(
            p, halting_probability, remainders, n_updates, threshold)
        transformed = transform(prepared)
        output = blend(output, transformed, weights, act_type)
        return step + 1, transformed, halting_probability, remainders, n_updates, output

    _, _, _, remainders, n_updates, output = tf.while_loop(
        should_continue, one_step,
        (tf.constant(0, tf.int32), state, halting_probability, remainders, n_updates, output),
        maximum_iterations=max_steps)
    return output, n_updates, remainders


def ponder_cost(ponder_times, remainders, nonpadding: Optional[tf.Tensor] = None):
    """T2T's ACT loss before its weight: the mean of ``ponder_times + remainders`` over the
    real positions (``nonpadding [B, L]``, all positions when None). Scalar float32."""
    cost = ponder_times + remainders
    if nonpadding is None:
        return tf.reduce_mean(cost)
    nonpadding = tf.cast(nonpadding, tf.float32)
    return tf.reduce_sum(cost * nonpadding) / tf.maximum(tf.reduce_sum(nonpadding), 1.0)
