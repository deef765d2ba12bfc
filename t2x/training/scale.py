"""Scale pieces of the train step: float16 dynamic loss scaling and gradient accumulation.

Both are created by the trainer under its strategy's scope and used inside the compiled,
per-replica train step (``t2x.training.trainer``).

* ``DynamicLossScale`` (``activation_dtype=float16``): Keras's ``LossScaleOptimizer`` rule,
  kept in the trainer so that clipping and the non-finite check see unscaled gradients:
  start at 2^15; a step whose gradients overflow is skipped and halves the scale; 2000 good
  steps in a row double it. Its two variables go into the checkpoint (exact resume).
* ``GradientAccumulator`` (``optimizer_multistep_accumulate_steps=N``): replica-local sums
  (``ON_READ`` variables) of N micro-batches' *numerator* gradients, loss numerators and
  token weights; the trainer divides once by the total weight, so N micro-batches give the
  gradient of one batch N times larger, token for token.
"""

from typing import List, Sequence

import tensorflow as tf

GROWTH_STEPS = 2000  # good steps in a row before the loss scale doubles
INITIAL_SCALE = 2.0 ** 15


class DynamicLossScale:
    """The float16 loss scale and its count of good steps (see the module docstring)."""

    def __init__(self):
        self.scale = tf.Variable(INITIAL_SCALE, dtype=tf.float32, trainable=False, name="loss_scale")
        self.good_steps = tf.Variable(0, dtype=tf.int64, trainable=False, name="loss_scale_good_steps")

    def add_to(self, checkpoint: tf.train.Checkpoint) -> None:
        checkpoint.loss_scale = self.scale
        checkpoint.loss_scale_good_steps = self.good_steps

    def update(self, finite) -> None:
        """Compiled step: after a step whose gradients were ``finite`` (or overflowed)."""
        good = tf.where(finite, self.good_steps + 1, tf.zeros_like(self.good_steps))
        grow = good >= GROWTH_STEPS
        self.scale.assign(tf.where(finite, tf.where(grow, self.scale * 2.0, self.scale),
                                   tf.maximum(self.scale * 0.5, 1.0)))
        self.good_steps.assign(tf.where(grow, tf.zeros_like(good), good))


class GradientAccumulator:
    """Replica-local sums of micro-batch gradients, loss numerators and denominators."""

    def __init__(self, variables: Sequence[tf.Variable]):
        local = dict(trainable=False, synchronization=tf.VariableSynchronization.ON_READ,
                     aggregation=tf.VariableAggregation.SUM)
        self.grads = [tf.Variable(tf.zeros(v.shape, v.dtype), **local) for v in variables]
        self.num = tf.Variable(0.0, **local)
        self.den = tf.Variable(0.0, **local)

    def add(self, grads: Sequence[tf.Tensor], num, den) -> None:
        """Compiled step, per replica: adds one micro-batch."""
        for accumulator, g in zip(self.grads, grads):
            accumulator.assign_add(g)
        self.num.assign_add(num)
        self.den.assign_add(den)

    def take(self):
        """Compiled step, per replica: ``(gradient sums, numerator, denominator)``, then zeros."""
        out = ([a.read_value() for a in self.grads], self.num.read_value(), self.den.read_value())
        with tf.control_dependencies(out[0] + [out[1], out[2]]):
            for accumulator in self._all():
                accumulator.assign(tf.zeros_like(accumulator))
        return out

    def _all(self) -> List[tf.Variable]:
        return self.grads + [self.num, self.den]
