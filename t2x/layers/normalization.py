"""Batch normalization as one fused kernel, staying in the compute dtype under a mixed policy.

Keras 3's ``BatchNormalization`` computes the batch moments with separate reductions
(``Mean``, ``SquaredDifference``, ...) and normalises with element-wise ops; under
``mixed_bfloat16`` (as under ``mixed_float16``) it also casts its input to float32 and the
result back: several full passes over each activation per batch norm, on the memory-bound
part of a convolutional step (shake-shake's step is mostly that). ``BatchNormalization`` here
is that layer with one change: on a 4-D channels-last input in float32, bfloat16 or float16 it
runs TensorFlow's fused kernel (``FusedBatchNormV3``: ``x`` and ``y`` in the compute dtype,
float32 scale, offset, statistics and accumulation; oneDNN's kernel on this CPU) and its fused
gradient. In float32 that is Keras's function to float rounding (about 1e-7 relative), not
bit for bit.

What stays as Keras has it, so checkpoints do not move:

* the weights (``gamma``, ``beta``, ``moving_mean``, ``moving_variance``: float32, the same
  names and order); a checkpoint written under one policy restores under the other, and
  checkpoints written before the fused path restore unchanged;
* the moving averages: ``moving = moving * momentum + batch * (1 - momentum)`` with the
  *biased* batch variance (the fused kernel returns the unbiased one; it is rescaled by
  ``(n - 1) / n`` before the update, as Keras 2's fused path did);
* float64 compute, masks, renorm, a synchronized layer, other ranks or axes: Keras's own
  ``call``, unchanged.

Where it runs: inside the compiled train/eval step (``call``), like any layer.
"""

import keras
import tensorflow as tf

_FUSED_DTYPES = ("bfloat16", "float16", "float32")


class BatchNormalization(keras.layers.BatchNormalization):
    """``keras.layers.BatchNormalization`` fused on 4-D channels-last inputs in float32 and
    16 bits (staying 16-bit; see the module docstring); the same constructor and weights."""

    def _fused_applies(self, inputs, mask) -> bool:
        axis = self.axis if isinstance(self.axis, int) else (
            self.axis[0] if len(self.axis) == 1 else None)
        rank = inputs.shape.rank
        return (self.compute_dtype in _FUSED_DTYPES and mask is None and rank == 4
                and axis in (-1, 3) and not self.renorm and not self.synchronized
                and keras.backend.backend() == "tensorflow")

    def call(self, inputs, training=None, mask=None):
        if not self._fused_applies(inputs, mask):
            return super().call(inputs, training=training, mask=mask)
        x = tf.cast(inputs, self.compute_dtype)
        channels = x.shape[-1]
        gamma = (tf.cast(self.gamma, tf.float32) if self.scale else tf.ones([channels], tf.float32))
        beta = (tf.cast(self.beta, tf.float32) if self.center else tf.zeros([channels], tf.float32))
        moving_mean = tf.cast(self.moving_mean, tf.float32)
        moving_variance = tf.cast(self.moving_variance, tf.float32)
        if training and self.trainable:
            empty = tf.constant([], tf.float32)
            y, mean, unbiased_variance = tf.raw_ops.FusedBatchNormV3(
                x=x, scale=gamma, offset=beta, mean=empty, variance=empty, epsilon=self.epsilon,
                is_training=True, data_format="NHWC")[:3]
            shape = tf.shape(x)
            count = tf.cast(shape[0] * shape[1] * shape[2], tf.float32)
            variance = unbiased_variance * ((count - 1.0) / tf.maximum(count, 1.0))
            self.moving_mean.assign(moving_mean * self.momentum + mean * (1.0 - self.momentum))
            self.moving_variance.assign(moving_variance * self.momentum + variance * (1.0 - self.momentum))
            return y
        return tf.raw_ops.FusedBatchNormV3(
            x=x, scale=gamma, offset=beta, mean=moving_mean, variance=moving_variance,
            epsilon=self.epsilon, is_training=False, data_format="NHWC")[0]
