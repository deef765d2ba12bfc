"""Position information: T2T's sinusoid timing signals and the teacher-forcing shift."""

import math

import tensorflow as tf


def shift_right_3d(x):
    """T2T's ``shift_right_3d``: ``[B, L, D]`` -> a zero row prepended, the last dropped."""
    return tf.pad(x, [[0, 0], [1, 0], [0, 0]])[:, :-1, :]


def get_timing_signal_1d(length, channels, min_timescale=1.0, max_timescale=1.0e4):
    """T2T's ``get_timing_signal_1d``: ``[1, length, channels]`` float32, sines of
    geometrically spaced timescales in the first half of the channels, cosines in the
    second (a zero channel appended when ``channels`` is odd)."""
    position = tf.cast(tf.range(length), tf.float32)
    num_timescales = channels // 2
    log_increment = math.log(float(max_timescale) / float(min_timescale)) / max(num_timescales - 1, 1)
    inv_timescales = min_timescale * tf.exp(
        tf.cast(tf.range(num_timescales), tf.float32) * -log_increment)
    scaled_time = position[:, None] * inv_timescales[None, :]
    signal = tf.concat([tf.sin(scaled_time), tf.cos(scaled_time)], axis=1)
    signal = tf.pad(signal, [[0, 0], [0, channels % 2]])
    return signal[None, :, :]


def add_timing_signal_1d(x, min_timescale=1.0, max_timescale=1.0e4, position=None):
    """T2T's ``add_timing_signal_1d`` for ``[B, L, D]``; with ``position`` ``[B, L]`` int
    (packed rows: positions restart with each segment) the signal of each token's own
    position (T2T's ``add_timing_signal_1d_given_position``)."""
    if position is None:
        signal = get_timing_signal_1d(tf.shape(x)[1], x.shape[-1], min_timescale, max_timescale)
        return x + tf.cast(signal, x.dtype)
    table = get_timing_signal_1d(tf.shape(x)[1], x.shape[-1], min_timescale, max_timescale)[0]
    return x + tf.cast(tf.gather(table, tf.cast(position, tf.int32)), x.dtype)
