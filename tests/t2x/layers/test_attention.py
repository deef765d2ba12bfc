"""t2x.layers.attention: values of the biases, and the causal bias at the speed of no bias."""

import time

import numpy as np
import tensorflow as tf

from t2x.layers import MultiheadAttention, attention_bias_lower_triangle


def test_lower_triangle_bias_masks_the_future():
    bias = attention_bias_lower_triangle(4).numpy()
    assert bias.shape == (1, 1, 4, 4)
    assert (bias[0, 0][np.tril_indices(4)] == 0).all()
    assert (bias[0, 0][np.triu_indices(4, 1)] <= -1e9).all()


def test_causal_self_attention_ignores_later_positions():
    layer = MultiheadAttention(2, 8, 8, 8, 0.0, "glorot_uniform")
    x = tf.random.normal([2, 5, 8], seed=3)
    bias = attention_bias_lower_triangle(5)
    changed = tf.concat([x[:, :3], tf.random.normal([2, 2, 8], seed=4)], axis=1)
    a, b = layer(x, x, bias), layer(changed, changed, bias)
    np.testing.assert_allclose(a[:, :3], b[:, :3], atol=1e-6)
    assert np.abs(a[:, 3:] - b[:, 3:]).max() > 1e-3


def _per_call(fn, x, calls=3):
    fn(x).numpy()
    start = time.perf_counter()
    for _ in range(calls):
        fn(x).numpy()
    return (time.perf_counter() - start) / calls


def test_compiled_causal_attention_costs_about_what_no_bias_costs():
    # oneDNN's remapper fused scale -> BatchMatMul -> Add with the broadcasting [1, 1, L, L]
    # bias into a kernel ~50x slower at L=128 (benchmarks/attention_bias.py); the layer
    # broadcasts the bias first. Both variants are timed alternately, so noise falls on both.
    layer = MultiheadAttention(4, 128, 128, 128, 0.0, "glorot_uniform")
    x = tf.random.normal([48, 128, 128], seed=1)
    bias = attention_bias_lower_triangle(128)
    causal = tf.function(lambda x: layer(x, x, bias))
    plain = tf.function(lambda x: layer(x, x, None))
    ratios = [_per_call(causal, x) / _per_call(plain, x) for _ in range(3)]
    assert min(ratios) < 4.0, ratios
