"""t2x's BatchNormalization: fused in float32 and 16-bit (staying 16-bit), Keras's own path otherwise."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from t2x.layers.normalization import BatchNormalization


@pytest.fixture
def policy():
    """Sets a global policy for one test and restores float32 after it."""
    def set_policy(name):
        keras.mixed_precision.set_global_policy(name)
    yield set_policy
    keras.mixed_precision.set_global_policy("float32")


def pair(momentum=0.9, epsilon=1e-3, shape=(None, 5, 7, 6), **kwargs):
    """A t2x and a Keras layer with the same (non-trivial) weights, built for 6 channels."""
    ours = BatchNormalization(momentum=momentum, epsilon=epsilon, **kwargs)
    theirs = keras.layers.BatchNormalization(momentum=momentum, epsilon=epsilon, **kwargs)
    for layer in (ours, theirs):
        layer.build(shape)
    rng = np.random.RandomState(0)
    values = [rng.uniform(0.5, 1.5, 6), rng.normal(size=6), rng.normal(size=6), rng.uniform(0.5, 2.0, 6)]
    for layer in (ours, theirs):
        layer.set_weights([v.astype("float32") for v in values])
    return ours, theirs


def batch(seed=1):
    return tf.constant(np.random.RandomState(seed).normal(2.0, 3.0, size=(4, 5, 7, 6)), tf.float32)


def test_float32_matches_keras_to_rounding_in_one_fused_kernel():
    ours, theirs = pair()
    x = batch()
    for training in (True, False, True):
        np.testing.assert_allclose(ours(x, training=training).numpy(), theirs(x, training=training).numpy(),
                                   rtol=1e-5, atol=2e-6)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert [w.path.split("/")[-1] for w in ours.weights] == ["gamma", "beta", "moving_mean", "moving_variance"]

    def grads(layer):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(layer(x, training=True) * batch(2))
        return tape.gradient(loss, [x, layer.gamma, layer.beta])
    for a, b in zip(grads(ours), grads(theirs)):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-5 * np.abs(b.numpy()).max())
    ops = traced_ops(lambda t: ours(t, training=True), tf.TensorSpec([4, 5, 7, 6], tf.float32))
    fused = [op for op in ops if op.type == "FusedBatchNormV3"]
    assert len(fused) == 1 and fused[0].get_attr("T") == tf.float32
    assert not [op for op in ops if op.type in ("Mean", "SquaredDifference")]  # no separate moments


def test_float64_is_keras_bit_for_bit(policy):
    policy("float64")
    ours, theirs = pair()
    x = tf.cast(batch(), tf.float64)
    for training in (True, False):
        np.testing.assert_array_equal(ours(x, training=training).numpy(), theirs(x, training=training).numpy())
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_array_equal(a, b)


def traced_ops(fn, *args):
    return tf.function(fn).get_concrete_function(*args).graph.get_operations()


def test_bfloat16_stays_in_bfloat16_and_matches_keras(policy):
    policy("mixed_bfloat16")
    ours, theirs = pair()
    x = tf.cast(batch(), tf.bfloat16)
    # Training: the same output (to bfloat16 rounding) and the same moving averages (the
    # biased batch variance, as Keras: the fused kernel's unbiased one is rescaled).
    y_ours, y_theirs = ours(x, training=True), theirs(x, training=True)
    assert y_ours.dtype == tf.bfloat16 and y_theirs.dtype == tf.bfloat16
    np.testing.assert_allclose(tf.cast(y_ours, tf.float32), tf.cast(y_theirs, tf.float32), atol=0.04)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    # Inference with the moving statistics.
    np.testing.assert_allclose(tf.cast(ours(x, training=False), tf.float32),
                               tf.cast(theirs(x, training=False), tf.float32), atol=0.04)

    # Gradients through the fused kernel equal Keras's (to bfloat16 rounding).
    def grads(layer):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(tf.cast(layer(x, training=True), tf.float32) * tf.cast(batch(2), tf.float32))
        return tape.gradient(loss, [x, layer.gamma, layer.beta])
    for a, b in zip(grads(ours), grads(theirs)):
        a, b = tf.cast(a, tf.float32).numpy(), tf.cast(b, tf.float32).numpy()
        np.testing.assert_allclose(a, b, atol=0.02 * np.abs(b).max())

    # The traced step: one fused bfloat16 kernel and no float32 copy of the activation.
    ops = traced_ops(lambda t: ours(t, training=True), tf.TensorSpec([4, 5, 7, 6], tf.bfloat16))
    fused = [op for op in ops if op.type == "FusedBatchNormV3"]
    assert len(fused) == 1 and fused[0].get_attr("T") == tf.bfloat16
    upcasts = [op for op in ops if op.type == "Cast" and op.outputs[0].dtype == tf.float32
               and op.outputs[0].shape.rank == 4]
    assert upcasts == []
    keras_ops = traced_ops(lambda t: theirs(t, training=True), tf.TensorSpec([4, 5, 7, 6], tf.bfloat16))
    assert any(op.type == "Cast" and op.outputs[0].dtype == tf.float32 and op.outputs[0].shape.rank == 4
               for op in keras_ops)  # what this layer exists to avoid


def test_moving_variance_is_the_biased_batch_variance(policy):
    policy("mixed_bfloat16")
    layer = BatchNormalization(momentum=0.0)  # the moving statistics become the batch's
    x = tf.cast(batch(), tf.bfloat16)
    layer(x, training=True)
    values = tf.cast(x, tf.float64).numpy().reshape(-1, 6)
    np.testing.assert_allclose(layer.moving_mean.numpy(), values.mean(0), rtol=1e-5)
    np.testing.assert_allclose(layer.moving_variance.numpy(), values.var(0), rtol=1e-4)


def test_other_cases_use_keras_own_path(policy):
    policy("mixed_bfloat16")
    ours, theirs = pair(shape=(None, 35, 6))
    x = tf.cast(tf.reshape(batch(), [4, 35, 6]), tf.bfloat16)  # rank 3: Keras's path
    np.testing.assert_array_equal(tf.cast(ours(x, training=True), tf.float32),
                                  tf.cast(theirs(x, training=True), tf.float32))
    first_axis, _ = pair(axis=1, shape=(None, 6, 3, 3))
    assert not first_axis._fused_applies(tf.zeros([2, 6, 3, 3], tf.bfloat16), None)
